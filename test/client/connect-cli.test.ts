// `mcpwire connect` as a stdio host runs it: a child process fed JSON-RPC lines on stdin, whose
// stdout must carry JSON-RPC lines only, and which exits 0 (ending the session) when stdin closes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { messageKind } from '../../src/jsonrpc.js';
import type { McpWireServer } from '../../src/index.js';
import { startServer, waitFor } from '../helpers.js';
import { CuttingProxy } from './proxy.js';

type Msg = { id?: number | string | null; method?: string; result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown }; params?: unknown };

interface Bridge {
  send(m: object | string): void;
  /** Waits for the response with this id. */
  answer(id: number): Promise<Msg>;
  lines: string[];
  messages: Msg[];
  stderr(): string;
  /** Closes stdin; resolves with the exit code. */
  end(): Promise<number | null>;
  /** Resolves with the exit code, once the process exits. */
  exited: Promise<number | null>;
  kill(): void;
}

function runConnect(args: string[], env: Record<string, string> = {}): Bridge {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'connect', ...args], {
    env: { ...process.env, MCPWIRE_LOG_LEVEL: 'info', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const messages: Msg[] = [];
  let err = '';
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    partial += d.toString('utf8');
    let nl: number;
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      try {
        messages.push(JSON.parse(line) as Msg);
      } catch {
        // kept in `lines`; the test fails on it
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    lines,
    messages,
    send: (m) => child.stdin.write((typeof m === 'string' ? m : JSON.stringify(m)) + '\n'),
    async answer(id) {
      await waitFor(() => messages.some((m) => m.id === id && m.method === undefined), 20_000, `the answer to ${id} (stderr: ${err.slice(-500)})`);
      return messages.find((m) => m.id === id && m.method === undefined)!;
    },
    stderr: () => err,
    exited,
    async end() {
      child.stdin.end();
      return exited;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

const initialize = (id: number) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'stdio-host', version: '1.0.0' } },
});

/** Every stdout line is one JSON-RPC message. */
function onlyJsonRpc(b: Bridge): void {
  assert.ok(b.lines.length > 0);
  for (const line of b.lines) assert.ok(messageKind(JSON.parse(line)), `not JSON-RPC on stdout: ${line.slice(0, 200)}`);
}

describe('mcpwire connect', () => {
  let server: McpWireServer;
  const seen: Array<{ method: string; custom: string | undefined }> = [];
  before(async () => {
    server = await startServer({
      legacyReconnectGraceMs: 200,
      auth: {
        verifyToken: (token, req) => {
          seen.push({ method: `${req.method} ${req.url!.split('?')[0]}`, custom: req.headers['x-custom'] as string | undefined });
          return token === 'clitoken' ? { token, clientId: 'cli', scopes: [] } : undefined;
        },
      },
    });
  });
  after(async () => {
    await server.close();
  });

  for (const transport of ['auto', 'sse'] as const) {
    test(`--transport ${transport}: lists and calls tools; stdout is JSON-RPC only; stdin closed → exit 0, session ended`, async () => {
      seen.length = 0;
      const base = `${server.url}/${transport === 'sse' ? 'sse' : 'mcp'}`;
      const b = runConnect([base, '--transport', transport, '--header', 'X-Custom: from-cli'], { MCPWIRE_TOKEN: 'clitoken' });
      try {
        b.send(initialize(1));
        const init = await b.answer(1);
        assert.equal((init.result?.serverInfo as { name: string }).name, 'mcpwire-everything');
        b.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
        b.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
        const list = await b.answer(2);
        assert.ok((list.result?.tools as Array<{ name: string }>).some((t) => t.name === 'echo'));
        b.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'via stdio' } } });
        assert.deepEqual((await b.answer(3)).result?.content, [{ type: 'text', text: 'via stdio' }]);
        b.send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'burst', arguments: { n: 50 } } });
        await b.answer(4);
        const seqs = b.messages.filter((m) => m.method === 'notifications/message').map((m) => (m.params as { data: { seq: number } }).data.seq);
        assert.deepEqual(seqs, Array.from({ length: 50 }, (_, i) => i + 1));
        b.send('this is not json');
        b.send({ hello: 'world' });
        await waitFor(() => b.messages.filter((m) => m.id === null).length === 2, 10_000, 'two refusals');
        const refusals = b.messages.filter((m) => m.id === null).map((m) => m.error?.code);
        assert.deepEqual(refusals, [-32700, -32600]);
        assert.equal(server.handler.sessions.sessions.size, 1);
        const code = await b.end();
        assert.equal(code, 0, b.stderr());
        onlyJsonRpc(b);
        assert.ok(seen.length > 4 && seen.every((s) => s.custom === 'from-cli'), 'the header on every request');
        if (transport === 'auto') {
          assert.ok(seen.some((s) => s.method === 'DELETE /mcp'), 'the session was DELETEd');
          assert.equal(server.handler.sessions.sessions.size, 0);
        } else {
          assert.ok(seen.some((s) => s.method === 'GET /sse'));
        }
        assert.match(b.stderr(), /bridging stdio/, 'logs go to stderr');
        assert.doesNotMatch(b.stderr(), /clitoken/, 'the token is never logged');
      } finally {
        b.kill();
      }
    });
  }

  test('--token on the command line works too; a wrong one answers initialize with the 401, and the bridge stays up', async () => {
    const bad = runConnect([`${server.url}/mcp`, '--token', 'nope']);
    try {
      bad.send(initialize(7));
      const a = await bad.answer(7);
      assert.equal(a.error?.code, -32000);
      assert.equal((a.error?.data as { status: number }).status, 401);
      assert.match(a.error!.message, /401/);
      const good = runConnect([`${server.url}/mcp`, '--token', 'clitoken']);
      try {
        good.send(initialize(1));
        assert.ok((await good.answer(1)).result);
        assert.equal(await good.end(), 0);
      } finally {
        good.kill();
      }
      assert.equal(await bad.end(), 0);
      onlyJsonRpc(bad);
    } finally {
      bad.kill();
    }
  });

  test('a bad URL or header is refused at once with a message on stderr, and nothing on stdout', async () => {
    for (const args of [['ftp://example/mcp'], [`${server.url}/mcp`, '--header', 'no colon here']]) {
      const b = runConnect(args);
      const code = await b.end();
      assert.notEqual(code, 0);
      assert.equal(b.lines.length, 0);
      assert.match(b.stderr(), /URL|header/);
    }
  });
});

describe('mcpwire connect when the server is down', () => {
  test('--transport sse, nothing listening at start: the initialize is answered with the error, as with the other transports', async () => {
    // A free port, closed again: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const b = runConnect([`http://127.0.0.1:${port}/sse`, '--transport', 'sse']);
    try {
      b.send(initialize(1));
      const a = await b.answer(1);
      assert.equal(a.error?.code, -32000);
      assert.match(a.error!.message, /ECONNREFUSED/);
      assert.equal(await b.end(), 0, b.stderr());
      onlyJsonRpc(b);
    } finally {
      b.kill();
    }
  });

  test('--transport sse --max-retries 1, the server gone mid-call: the call is answered, then the bridge exits 1 by itself', async () => {
    const server = await startServer({ legacyReconnectGraceMs: 200 });
    const proxy = await CuttingProxy.start(server.port);
    const b = runConnect([`${proxy.url}/sse`, '--transport', 'sse', '--max-retries', '1']);
    try {
      b.send(initialize(1));
      await b.answer(1);
      b.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      b.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: { ms: 5_000 } } });
      await waitFor(() => server.handler.sessions.pendingRequests >= 1, 10_000, 'the call to be under way');
      await proxy.close();
      const a = await b.answer(2);
      assert.equal(a.error?.code, -32000);
      const exited = await Promise.race([b.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 10_000))]);
      assert.equal(exited, 1, b.stderr());
      onlyJsonRpc(b);
    } finally {
      b.kill();
      await server.close();
    }
  });
});
