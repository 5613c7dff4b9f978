// `mcpwire serve` and examples/notifying-server.ts as real child processes: they start, serve MCP, the
// dashboard and /metrics, push notifications, honour their flags, and exit 0 on a signal.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, waitFor } from '../helpers.js';
import { makeRoot, notifiedClient, removeRoot } from './helpers.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface Child {
  proc: ChildProcess;
  url: string;
  output: () => string;
}

/** Spawns `node --import tsx <args>` and waits for `pattern` (with the URL in group 1) on stdout or stderr. */
async function start(args: string[], pattern: RegExp, env: Record<string, string> = {}): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  let exited = false;
  proc.once('exit', () => (exited = true));
  await waitFor(() => pattern.test(out) || exited, 30_000, `the child to start: ${args.join(' ')}`);
  const m = pattern.exec(out);
  if (!m) throw new Error(`the child exited: ${out.slice(0, 2_000)}`);
  return { proc, url: m[1]!, output: () => out };
}

async function stop(child: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.proc.exitCode !== null) return child.proc.exitCode;
  const exited = new Promise<number | null>((resolve) => child.proc.once('exit', (code) => resolve(code)));
  child.proc.kill(signal);
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 20_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

const SERVE_URL = /MCP at (http:\/\/127\.0\.0\.1:\d+)\/mcp/;

describe('mcpwire serve (the CLI)', () => {
  let root: string;
  before(async () => {
    root = await makeRoot();
  });
  after(async () => {
    await removeRoot(root);
  });

  test('serves the folder, the dashboard and /metrics; notifies; exits 0 on SIGTERM', async () => {
    const child = await start(['src/cli/main.ts', 'serve', '--root', root, '--port', '0', '--tick', '200'], SERVE_URL);
    try {
      const health = (await (await fetch(`${child.url}/health`)).json()) as { status: string };
      assert.equal(health.status, 'ok');
      const page = await fetch(`${child.url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>mcpwire · live<\/title>/);
      const metrics = await fetch(`${child.url}/metrics`);
      assert.match(await metrics.text(), /^mcpwire_sessions\{wire="legacy"\} 0$/m);

      const { client, got } = await notifiedClient(child.url, 'sse');
      try {
        const { tools } = await client.listTools();
        assert.deepEqual(tools.map((t) => t.name).sort(), ['search', 'stats']);
        await client.subscribeResource({ uri: 'file:///hello.txt' });
        await client.subscribeResource({ uri: 'system://stats' });
        await writeFile(join(root, 'hello.txt'), 'from the CLI test\n');
        await waitFor(() => got.updated.some((u) => u.uri === 'file:///hello.txt'), 5_000, 'the file update');
        await waitFor(() => got.updated.filter((u) => u.uri === 'system://stats').length >= 2, 5_000, 'two stats ticks');
      } finally {
        await client.close();
      }
    } finally {
      assert.equal(await stop(child), 0, child.output());
    }
  });

  test('--writable offers write_file; --no-dashboard and --no-metrics turn those off', async () => {
    const child = await start(['src/cli/main.ts', 'serve', '--root', root, '--port', '0', '--writable', '--no-dashboard', '--no-metrics'], SERVE_URL);
    try {
      assert.equal((await fetch(`${child.url}/`)).status, 404);
      assert.equal((await fetch(`${child.url}/metrics`)).status, 404);
      const client = await connectClient(child.url, 'mcp');
      try {
        const r = (await client.callTool({ name: 'write_file', arguments: { path: 'cli.txt', content: 'ok' } })) as CallToolResult;
        assert.equal(r.isError, undefined);
      } finally {
        await client.close();
      }
    } finally {
      assert.equal(await stop(child, 'SIGINT'), 0, child.output());
    }
  });

  test('bad flags: a clear message and exit code 2; a missing folder: exit code 1', async () => {
    for (const [args, code] of [[['--tick', '-5'], 2], [['--max-file-bytes', 'lots'], 2], [['--root', join(root, 'does-not-exist')], 1]] as const) {
      const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      proc.stderr.on('data', (d) => (err += d));
      const exit = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
      assert.equal(exit, code, `${args.join(' ')}: ${err}`);
      assert.match(err, /tick|no such folder|max-file-bytes/i, args.join(' '));
    }
  });
});

describe('examples/notifying-server.ts', () => {
  test('pushes ticker://price to its subscribers only', async () => {
    const child = await start(['examples/notifying-server.ts'], /ticker on (http:\/\/127\.0\.0\.1:\d+)\/mcp/, { PORT: '0', TICK_MS: '100' });
    try {
      const subscriber = await notifiedClient(child.url, 'mcp');
      const bystander = await notifiedClient(child.url, 'sse');
      try {
        await subscriber.client.subscribeResource({ uri: 'ticker://price' });
        await waitFor(() => subscriber.got.updated.length >= 3, 10_000, 'three price updates');
        assert.ok(subscriber.got.updated.every((u) => u.uri === 'ticker://price'));
        assert.equal(bystander.got.updated.length, 0);
        const read = await bystander.client.readResource({ uri: 'ticker://price' });
        assert.equal(typeof JSON.parse((read.contents[0] as { text: string }).text).price, 'number');
        assert.equal((await fetch(`${child.url}/metrics`)).status, 200);
        assert.equal((await fetch(`${child.url}/`)).status, 200);
      } finally {
        await subscriber.client.close();
        await bystander.client.close();
      }
    } finally {
      assert.equal(await stop(child, 'SIGINT'), 0, child.output());
    }
  });
});
