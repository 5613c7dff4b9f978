// `mcpwire serve` given what users give it by mistake: every bad flag is refused at once with one
// line naming the flag (exit 2: usage; exit 1: the folder, the port or Redis at run time), never a
// stack trace, never the token; and the flags README lists are the flags --help lists.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers.js';
import { REPO, helpFlags, readmeTableFlags, refused, runCli } from './cli-run.js';
import { makeRoot, removeRoot } from './helpers.js';

const serve = (...args: string[]) => ['serve', '--root', 'sample', '--port', '0', ...args];

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('mcpwire serve: bad flags', () => {
  let root: string;
  before(async () => {
    root = await makeRoot();
  });
  after(async () => {
    await chmod(join(root, 'locked'), 0o755).catch(() => {});
    await removeRoot(root);
  });

  test('numbers that are not whole, out of range, empty, or too long for a timer: exit 2 naming the flag', async () => {
    for (const [flag, value] of [
      ['--port', 'abc'],
      ['--port', '70000'],
      ['--port', '-1'],
      ['--port', '1.5'],
      ['--port', ''],
      ['--port', '0x50'],
      ['--tick', ''],
      ['--tick', '-5'],
      ['--max-file-bytes', 'lots'],
      ['--keepalive-ms', '99999999999999'],
      ['--drain-ms', '1e3'],
      ['--max-sessions', '0'],
      ['--max-body-bytes', '0'],
      ['--max-sessions-per-principal', '0'],
      ['--lease-ms', '0'],
    ] as const) {
      const r = await runCli(serve(flag, value));
      refused(r, 2, new RegExp(`option '(-p, )?${flag} <`));
    }
    refused(await runCli(['serve', '--root', 'sample'], { env: { PORT: '70000' } }), 2, /--port <n>' value '70000' from env 'PORT'/);
  });

  test('unknown flags and values outside the choices: exit 2', async () => {
    refused(await runCli(serve('--bogus')), 2, /unknown option '--bogus'/);
    refused(await runCli(serve('--log-level', 'loud')), 2, /--log-level/);
    refused(await runCli(serve(), { env: { MCPWIRE_LOG_LEVEL: 'loud' } }), 2, /MCPWIRE_LOG_LEVEL/);
    refused(await runCli(serve('--response-mode', 'xml')), 2, /--response-mode/);
  });

  test('--root missing, a file, or unreadable: exit 1 naming --root; empty: exit 2', async () => {
    refused(await runCli(serve('--root', join(root, 'nope'))), 1, /^mcpwire: --root \S+nope: no such folder$/);
    refused(await runCli(serve('--root', join(root, 'hello.txt'))), 1, /^mcpwire: --root \S+hello\.txt: not a folder$/);
    refused(await runCli(serve('--root', '')), 2, /--root/);
    // Root reads anything: the unreadable case runs as nobody where it can.
    const wrapper = process.getuid?.() === 0 ? (existsSync('/usr/bin/setpriv') ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : undefined) : [];
    if (wrapper) {
      await mkdir(join(root, 'locked'));
      await writeFile(join(root, 'locked', 'secret.txt'), 'x');
      await chmod(join(root, 'locked'), 0o000);
      refused(await runCli(serve('--root', join(root, 'locked')), { wrapper }), 1, /^mcpwire: --root \S+locked: permission denied$/);
    }
  });

  test('--token empty, or with a space (from the flag or MCPWIRE_TOKEN): exit 2, the token never repeated', async () => {
    refused(await runCli(serve('--token', '')), 2, /--token/);
    refused(await runCli(serve(), { env: { MCPWIRE_TOKEN: '' } }), 2, /MCPWIRE_TOKEN/);
    refused(await runCli(serve('--token', 'my secret')), 2, /--token.*visible ASCII/, 'secret');
    refused(await runCli(serve(), { env: { MCPWIRE_TOKEN: 'good,my secret' } }), 2, /--token.*from MCPWIRE_TOKEN/, 'secret');
  });

  test('--cors, --allowed-origin and --allowed-host values that can never match: exit 2', async () => {
    for (const args of [['--cors', ''], ['--cors', 'example.com'], ['--cors', 'https://example.com/app'], ['--allowed-origin', 'null'], ['--allowed-host', 'http://example.com']]) {
      refused(await runCli(serve(...args)), 2, new RegExp(`option '${args[0]} <`));
    }
  });

  test('--host empty or not an address: exit 2; not loopback without a token: exit 2; not this machine: exit 1', async () => {
    // Even with --insecure or a token: an empty host would bind every interface.
    refused(await runCli(serve('--host', '', '--insecure')), 2, /option '--host <addr>' argument '' is invalid/);
    refused(await runCli(serve('--host', 'not a host', '--token', 'tok')), 2, /option '--host <addr>' argument 'not a host' is invalid/);
    refused(await runCli(serve('--host', '0.0.0.0')), 2, /--host.*--token.*--insecure/);
    refused(await runCli(serve('--host', '192.0.2.1', '--token', 'tok')), 1, /^mcpwire: --host 192\.0\.2\.1: /);
  });

  test('--redis malformed: exit 2; unreachable: exit 1 within seconds; the password never repeated', async () => {
    refused(await runCli(serve('--redis', 'http://:hunter2@example.com')), 2, /--redis/, 'hunter2');
    refused(await runCli(serve(), { env: { MCPWIRE_REDIS_URL: 'localhost:6379' } }), 2, /--redis.*MCPWIRE_REDIS_URL/);
    const port = await closedPort();
    refused(await runCli(serve('--redis', `redis://:hunter2@127.0.0.1:${port}`)), 1, new RegExp(`^mcpwire: --redis 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`), 'hunter2');
  });

  test('the port in use: exit 1 naming --port', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const { port } = taken.address() as AddressInfo;
    try {
      refused(await runCli(['serve', '--root', 'sample', '--port', String(port)]), 1, new RegExp(`^mcpwire: --port ${port}: .*in use`));
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });
});

describe('mcpwire serve: signals', () => {
  test('SIGHUP drains and exits 0, as SIGTERM does', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...serve()], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    try {
      await waitFor(() => /MCP at http/.test(err) || proc.exitCode !== null, 30_000, 'the server to start');
      proc.kill('SIGHUP');
      const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000))]);
      assert.equal(code, 0, err);
      assert.match(err, /SIGHUP: draining/);
    } finally {
      proc.kill('SIGKILL');
    }
  });
});

describe('mcpwire serve: README and --help', () => {
  test('list the same flags', async () => {
    const documented = new Set([...readmeTableFlags('mcpwire serve'), ...readmeTableFlags('CLI')]);
    assert.deepEqual([...(await helpFlags('serve'))].sort(), [...documented].sort());
  });
});
