// `mcpwire connect` given what hosts and users give it by mistake: refused at once with one line on
// stderr naming the flag (exit 2), never the token, a header's value or the URL (they may hold
// secrets), and nothing ever on stdout, the host's JSON-RPC channel. SIGHUP (the host's terminal
// gone) ends the session as SIGTERM does. README's usage line and --help list the same flags.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
import { startServer, waitFor } from '../helpers.js';
import { REPO, helpFlags, refused, runCli } from '../serve/cli-run.js';

const connect = (...args: string[]) => ['connect', 'http://127.0.0.1:9/mcp', '--log-level', 'debug', ...args];

describe('mcpwire connect: bad arguments', () => {
  test('a URL that is not http(s): exit 2, the URL not repeated', async () => {
    refused(await runCli(['connect', 'ftp://user:hunter2@example.com/mcp']), 2, /url/i, 'hunter2');
    refused(await runCli(['connect', 'not a url hunter2']), 2, /url/i, 'hunter2');
    refused(await runCli(['connect']), 2, /missing required argument 'url'/);
  });

  test('--header with a name or value HTTP forbids: exit 2, the value not repeated', async () => {
    for (const h of ['no colon hunter2', 'Bad Name: hunter2', 'X-Key: hunter2\r\nX-Evil: 1', ': hunter2']) {
      refused(await runCli(connect('--header', h)), 2, /option '-H, --header <header>'/, 'hunter2');
    }
  });

  test('--token empty or with a space (from the flag or MCPWIRE_TOKEN): exit 2, the token not repeated', async () => {
    refused(await runCli(connect('--token', '')), 2, /--token/);
    refused(await runCli(connect(), { env: { MCPWIRE_TOKEN: '' } }), 2, /MCPWIRE_TOKEN/);
    refused(await runCli(connect('--token', 'my hunter2')), 2, /--token/, 'hunter2');
    refused(await runCli(connect(), { env: { MCPWIRE_TOKEN: 'my hunter2' } }), 2, /--token.*MCPWIRE_TOKEN/, 'hunter2');
  });

  test('numbers it cannot take, unknown flags: exit 2', async () => {
    refused(await runCli(connect('--idle-timeout-ms', '99999999999')), 2, /--idle-timeout-ms/);
    refused(await runCli(connect('--idle-timeout-ms', '')), 2, /--idle-timeout-ms/);
    refused(await runCli(connect('--max-retries', '-1')), 2, /--max-retries/);
    refused(await runCli(connect('--transport', 'carrier-pigeon')), 2, /--transport/);
    refused(await runCli(connect('--bogus')), 2, /unknown option '--bogus'/);
  });
});

describe('mcpwire connect: signals', () => {
  let server: McpWireServer;
  const seen: string[] = [];
  before(async () => {
    server = await startServer();
    server.handler.observeRequests((o) => seen.push(`${o.method} ${o.route}`));
  });
  after(async () => {
    await server.close();
  });

  test('SIGHUP: the session is ended (DELETE) and it exits 0; stdout holds JSON-RPC only', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'connect', `${server.url}/mcp`, '--log-level', 'debug'], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'host', version: '1' } } }) + '\n');
      await waitFor(() => out.includes('"id":1'), 20_000, `the initialize answer (stderr: ${err.slice(-500)})`);
      assert.equal(server.handler.sessions.sessions.size, 1);
      child.kill('SIGHUP');
      const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000))]);
      assert.equal(code, 0, err);
      assert.ok(seen.some((s) => s.startsWith('DELETE ')), `the session was ended: ${seen.join(', ')}`);
      assert.equal(server.handler.sessions.sessions.size, 0);
      for (const line of out.trimEnd().split('\n')) assert.equal(JSON.parse(line).jsonrpc, '2.0', `stdout: ${line}`);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('mcpwire connect: README and --help', () => {
  test('list the same flags', async () => {
    const readme = readFileSync(new URL('README.md', `file://${REPO}`), 'utf8');
    const usage = /^mcpwire connect <url> .*$/m.exec(readme)?.[0] ?? '';
    const documented = new Set([...usage.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]));
    assert.deepEqual([...(await helpFlags('connect'))].sort(), [...documented].sort());
  });
});
