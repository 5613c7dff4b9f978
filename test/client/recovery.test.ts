// Session recovery: when the server no longer knows the session (it ended it, or it restarted as a
// new process), the transport replays the client's initialize (and its log level and
// subscriptions) on a new session and retries; the SDK Client above sees no error.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { SseClientTransport, StreamableHttpClientTransport, type McpWireServer, type TransportStats } from '../../src/index.js';
import { SessionRecord } from '../../src/client/session-record.js';
import { startServer, waitFor } from '../helpers.js';
import { startSdkServer, type SdkServer } from './sdk-server.js';

type Wire = 'streamable' | 'sse';
const FAST_RECONNECT = { initialDelayMs: 20, maxDelayMs: 200 };

function transport(wire: Wire, base: string): (StreamableHttpClientTransport | SseClientTransport) & { stats: TransportStats } {
  const o = { reconnect: FAST_RECONNECT };
  return wire === 'sse' ? new SseClientTransport(`${base}/sse`, o) : new StreamableHttpClientTransport(`${base}/mcp`, o);
}

async function connectedClient(t: StreamableHttpClientTransport | SseClientTransport): Promise<{ client: Client; errors: Error[] }> {
  const client = new Client({ name: 'recovery-test', version: '1.0.0' }, { capabilities: { sampling: {} } });
  await client.connect(t);
  const errors: Error[] = [];
  client.onerror = (e) => void errors.push(e);
  return { client, errors };
}

const echo = async (client: Client, text: string) => {
  const r = await client.callTool({ name: 'echo', arguments: { text } });
  assert.deepEqual(r.content, [{ type: 'text', text }]);
};

/** The one session of mcpwire's server that is not `except`. */
function onlySession(server: McpWireServer, except?: string): string {
  const ids = [...server.handler.sessions.sessions.keys()].filter((id) => id !== except);
  assert.equal(ids.length, 1, `sessions: ${ids.join(', ')}`);
  return ids[0]!;
}

describe('mcpwire’s server ends the session', () => {
  let server: McpWireServer;
  before(async () => {
    // A closed legacy client's session lingers for the grace period: short here, so tests start clean.
    server = await startServer({ retryMs: 50, legacyReconnectGraceMs: 200 });
  });
  after(async () => {
    await server.close();
  });
  const noSessions = () => waitFor(() => server.handler.sessions.sessions.size === 0, 5_000, 'earlier sessions to end');

  for (const wire of ['streamable', 'sse'] as Wire[]) {
    test(`${wire}: the next call works on a new session with the same handshake, level and subscriptions`, async () => {
      await noSessions();
      const tr = transport(wire, server.url);
      const { client, errors } = await connectedClient(tr);
      await client.setLoggingLevel('warning');
      await client.subscribeResource({ uri: 'test://watched-resource' });
      const old = onlySession(server);
      server.handler.sessions.sessions.get(old)!.end('ended by the test');

      await echo(client, 'after the session ended');
      assert.equal(tr.stats.reinitializations, 1);
      const fresh = onlySession(server, old);
      assert.notEqual(fresh, old);
      const s = server.handler.sessions.sessions.get(fresh)!;
      assert.deepEqual((s.initializeParams as { clientInfo: unknown }).clientInfo, { name: 'recovery-test', version: '1.0.0' });
      assert.deepEqual((s.initializeParams as { capabilities: unknown }).capabilities, { sampling: {} });
      await waitFor(() => s.subscriptions.has('test://watched-resource') && s.logLevel === 'warning', 5_000, 'the replayed level and subscription');

      const updates: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
      await server.handler.notifyResourceUpdated('test://watched-resource');
      await waitFor(() => updates.length === 1, 5_000, 'the update on the new session');
      assert.deepEqual(errors, [], 'the Client saw no error');
      await client.close();
    });

    test(`${wire}: calls racing into the gone session cause one re-initialize, and all succeed`, async () => {
      await noSessions();
      const tr = transport(wire, server.url);
      const { client } = await connectedClient(tr);
      const old = onlySession(server);
      server.handler.sessions.sessions.get(old)!.end('ended by the test');
      await Promise.all(Array.from({ length: 8 }, (_, i) => echo(client, `racer ${i}`)));
      assert.equal(tr.stats.reinitializations, 1);
      await client.close();
    });
  }
});

test('closed while a lost session is being rebuilt: the new session is ended on the server (DELETE)', async () => {
  const server = await startServer();
  // The replayed `notifications/initialized` (the second one sent) is held until the transport gives
  // up on it: close() comes while the new session exists and the rebuild is not done.
  let initializedPosts = 0;
  let held = false;
  const holdReplay: FetchLike = async (url, init) => {
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { method?: string }) : {};
    if (body.method === 'notifications/initialized' && ++initializedPosts === 2) {
      held = true;
      await new Promise<void>((_, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason), { once: true }));
    }
    return fetch(url, init);
  };
  try {
    const tr = new StreamableHttpClientTransport(`${server.url}/mcp`, { reconnect: FAST_RECONNECT, fetch: holdReplay });
    const { client } = await connectedClient(tr);
    const old = onlySession(server);
    server.handler.sessions.sessions.get(old)!.end('ended by the test');
    const call = client.callTool({ name: 'echo', arguments: { text: 'never' } }).catch(() => undefined);
    await waitFor(() => held, 5_000, 'the rebuild to be under way');
    const fresh = onlySession(server, old);
    await client.close();
    await call;
    await waitFor(() => !server.handler.sessions.sessions.has(fresh), 5_000, 'the new session to be ended');
  } finally {
    await server.close();
  }
});

describe('a server on the SDK’s own transports loses the session', () => {
  let sdk: SdkServer;
  before(async () => {
    sdk = await startSdkServer();
  });
  after(async () => {
    await sdk.close();
  });

  test('streamable: 404 on the next call → re-initialized, the call succeeds', async () => {
    const tr = transport('streamable', sdk.url) as StreamableHttpClientTransport;
    const { client, errors } = await connectedClient(tr);
    const old = tr.sessionId!;
    await sdk.streamable.get(old)!.close();
    await echo(client, 'after');
    assert.notEqual(tr.sessionId, old);
    assert.equal(tr.stats.reinitializations, 1);
    assert.deepEqual(errors, []);
    await client.close();
  });

  test('sse: the stream ends, the server cannot resume it → a new session, re-initialized', async () => {
    const tr = transport('sse', sdk.url);
    const { client, errors } = await connectedClient(tr);
    assert.equal(sdk.legacy.size, 1);
    const [old] = [...sdk.legacy.values()];
    await old!.close();
    await waitFor(() => tr.stats.reinitializations === 1, 5_000, 're-initialize');
    await echo(client, 'after');
    assert.equal(sdk.legacy.size, 1);
    assert.deepEqual(errors, []);
    await client.close();
  });
});

describe('the server restarts (a new process on the same port)', () => {
  let port: number;
  let child: ChildProcess | undefined;
  const spawnServer = async (): Promise<void> => {
    const c = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/serve-everything.ts'], {
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = c;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve();
      });
      c.once('exit', (code) => reject(new Error(`the server exited (${code}) before it listened`)));
    });
  };
  const killServer = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };

  before(async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await spawnServer();
  });
  after(async () => {
    await killServer();
  });

  test('both wire formats: the next call succeeds after a transparent re-initialize; a call cut by the crash fails clearly', async (t) => {
    const base = `http://127.0.0.1:${port}`;
    const clients = await Promise.all(
      (['streamable', 'sse'] as Wire[]).map(async (wire) => {
        const tr = transport(wire, base);
        return { wire, tr, ...(await connectedClient(tr)) };
      }),
    );
    for (const c of clients) await echo(c.client, `${c.wire} before`);
    // A long call under way on each (its first notification has arrived) when the server dies.
    let started = 0;
    for (const c of clients) c.client.setNotificationHandler(LoggingMessageNotificationSchema, () => void started++);
    const cutShort = clients.map((c) =>
      c.client.callTool({ name: 'burst', arguments: { n: 1_000, delayMs: 20 } }).then(
        () => 'answered',
        (e: Error) => e.message,
      ),
    );
    await waitFor(() => started >= 2, 10_000, 'both long calls to be under way');

    const down = performance.now();
    await killServer();
    await spawnServer();
    const up = performance.now();
    const recovered = await Promise.all(
      clients.map(async (c) => {
        await echo(c.client, `${c.wire} after the restart`);
        return performance.now() - up;
      }),
    );
    const outcomes = await Promise.all(cutShort);
    for (const [i, c] of clients.entries()) {
      assert.equal(c.tr.stats.reinitializations, 1, `${c.wire} re-initialized once`);
      assert.deepEqual(c.errors, [], `${c.wire}: the Client saw no error`);
      assert.match(outcomes[i]!, /^MCP error -32000: mcpwire: /, `${c.wire}: the cut call fails with a clear error`);
      t.diagnostic(
        `${c.wire}: restart took ${(up - down).toFixed(0)} ms; first call succeeded ${recovered[i]!.toFixed(0)} ms after the new server listened; ` +
          `the cut call: "${outcomes[i]}"`,
      );
    }
    await Promise.all(clients.map((c) => c.client.close()));
  });
});

test('the session record keeps at most its bound of subscriptions, and replays in order', () => {
  const r = new SessionRecord(3);
  r.observe({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'a', version: '1' } } });
  r.observe({ jsonrpc: '2.0', method: 'notifications/initialized' });
  r.observe({ jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'error' } });
  for (let i = 0; i < 5; i++) r.observe({ jsonrpc: '2.0', id: 10 + i, method: 'resources/subscribe', params: { uri: `u${i}` } });
  r.observe({ jsonrpc: '2.0', id: 20, method: 'resources/unsubscribe', params: { uri: 'u1' } });
  assert.deepEqual([...r.subscriptions], ['u0', 'u2']);
  assert.equal(r.forgotten, 2);
  const replay = r.replay()!;
  assert.equal(replay.initialize.method, 'initialize');
  assert.notEqual(replay.initialize.id, 1, 'the replay has an id of its own');
  assert.deepEqual(
    replay.rest.map((m) => [m.method, m.params]),
    [
      ['logging/setLevel', { level: 'error' }],
      ['resources/subscribe', { uri: 'u0' }],
      ['resources/subscribe', { uri: 'u2' }],
    ],
  );
});
