// --shared: one child for every session. Ids are rewritten per session and mapped back, the
// handshake is done once, resource updates go only to subscribers, and nothing crosses between
// sessions; the child is restarted by policy and /health says when it is down.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { STREAMABLE_HEADERS, sleep, waitFor } from '../helpers.js';
import {
  alive,
  gatewayPerTest,
  TINY,
  call,
  deleteSession,
  eventually,
  initialize,
  listen,
  openSession,
  post,
  startGateway,
  textOf,
  type RunningGateway,
} from './fixtures/gateway.js';

const startShared = gatewayPerTest();
const shared = (options: Partial<Parameters<typeof startGateway>[0]> = {}): Promise<RunningGateway> => startShared({ ...TINY, shared: true, ...options });

async function whoami(url: string, sid: string) {
  return JSON.parse(textOf((await post(url, call('who', 'whoami'), sid)).body)) as { pid: number; initializes: number; subscriptions: string[] };
}

async function health(url: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(new URL('/health', url));
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('one child, many sessions', () => {
  test('two sessions calling concurrently with the same JSON-RPC ids get their own answers', async () => {
    const gw = await shared();
    const a = await openSession(gw.url);
    const b = await openSession(gw.url);
    for (let round = 0; round < 5; round++) {
      const [ra, rb, ea, eb] = await Promise.all([
        post(gw.url, call(7, 'slow', { ms: 120 }), a),
        post(gw.url, call(7, 'slow', { ms: 40 }), b),
        post(gw.url, call('same', 'echo', { text: `a${round}` }), a),
        post(gw.url, call('same', 'echo', { text: `b${round}` }), b),
      ]);
      assert.equal(ra.body.id, 7);
      assert.equal(textOf(ra.body), 'slept 120');
      assert.equal(rb.body.id, 7);
      assert.equal(textOf(rb.body), 'slept 40');
      assert.equal(ea.body.id, 'same');
      assert.equal(textOf(ea.body), `a${round}`);
      assert.equal(textOf(eb.body), `b${round}`);
    }
    assert.equal((await whoami(gw.url, a)).pid, (await whoami(gw.url, b)).pid, 'one child serves both');
  });

  test('the same progress token in two sessions: each gets only its own progress, with its own token', async () => {
    const gw = await shared();
    const a = await openSession(gw.url);
    const b = await openSession(gw.url);
    const [ra, rb] = await Promise.all([
      post(gw.url, call(1, 'progress', { tag: 'a', delayMs: 30 }, { progressToken: 'tok' }), a),
      post(gw.url, call(1, 'progress', { tag: 'b', delayMs: 30 }, { progressToken: 'tok' }), b),
    ]);
    for (const [r, tag] of [[ra, 'a'], [rb, 'b']] as const) {
      const progress = r.messages.filter((m) => m.method === 'notifications/progress');
      assert.deepEqual(progress.map((m) => [m.params.progressToken, m.params.progress]), [['tok', 1], ['tok', 2], ['tok', 3]]);
      assert.equal(textOf(r.body), `progress done for ${tag}`);
    }
  });

  test('initialize reaches the child once; every later session is answered from the cache under its own id', async () => {
    const gw = await shared();
    const first = await post(gw.url, initialize(0));
    const second = await post(gw.url, initialize('x'));
    const third = await post(gw.url, initialize(5));
    assert.deepEqual([first.body.id, second.body.id, third.body.id], [0, 'x', 5]);
    assert.deepEqual(second.body.result, first.body.result);
    assert.equal(first.body.result.serverInfo.name, 'tiny');
    const w = await whoami(gw.url, third.sessionId!);
    assert.equal(w.initializes, 1);
  });

  test('a session that cancels its initialize while the child runs it: the handshake goes on, and the next session gets it', async () => {
    const gw = await shared({ env: { TINY_INIT_DELAY_MS: '400' } });
    const first = await fetch(new URL('/mcp', gw.url), { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify(initialize(0)) });
    const sid = first.headers.get('mcp-session-id')!;
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 0, reason: 'changed my mind' } };
    const cancelled = await fetch(new URL('/mcp', gw.url), { method: 'POST', headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid }, body: JSON.stringify(cancel) });
    assert.equal(cancelled.status, 202);
    const second = await post(gw.url, initialize(1), undefined, 5_000);
    assert.equal(second.body?.result?.serverInfo?.name, 'tiny', 'the second session is answered once the child has initialized');
    await first.body?.cancel();
  });

  test('a child that never answers initialize is stopped after --init-timeout-ms: every session waiting on it gets the error, the restarted child serves', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'mcpwire-hang-')), 'hung');
    const gw = await shared({ initTimeoutMs: 600, env: { TINY_INIT_HANG_ONCE: marker } });
    const [first, second] = await Promise.all([post(gw.url, initialize(0), undefined, 10_000), post(gw.url, initialize(1), undefined, 10_000)]);
    for (const r of [first, second]) {
      assert.equal(r.body?.error?.code, -32603, JSON.stringify(r.body));
      assert.match(r.body.error.message, /did not answer initialize within 600 ms/);
    }
    assert.equal(gw.gateway.stats.failed, 1, 'counted as a failure');
    const hung = Number(readFileSync(marker, 'utf8'));
    await waitFor(() => !alive(hung), 10_000, 'the hung child to be stopped');
    await eventually(async () => (await post(gw.url, initialize(2))).body?.result?.serverInfo?.name === 'tiny', 10_000, 'the restarted child to answer initialize');
  });

  test('an answer to initialize over --max-line-bytes is an error for every session waiting on it, not a wait for ever', async () => {
    const gw = await shared({ maxLineBytes: 4_096, env: { TINY_INIT_DELAY_MS: '300', TINY_INIT_PAD_BYTES: '8000' } });
    const [first, second] = await Promise.all([post(gw.url, initialize(0), undefined, 5_000), post(gw.url, initialize(1), undefined, 5_000)]);
    for (const r of [first, second]) {
      assert.equal(r.body?.error?.code, -32603, JSON.stringify(r.body));
      assert.match(r.body.error.message, /over the gateway's limit of 4096 bytes/);
    }
  });

  test('resources/updated goes only to the sessions subscribed; list_changed to all; unsubscribing upstream waits for the last subscriber', async () => {
    const gw = await shared();
    const a = await openSession(gw.url);
    const b = await openSession(gw.url);
    const c = await openSession(gw.url);
    const [la, lb, lc] = await Promise.all([listen(gw.url, a), listen(gw.url, b), listen(gw.url, c)]);
    try {
      const sub = (id: number, sid: string, method = 'resources/subscribe') => post(gw.url, { jsonrpc: '2.0', id, method, params: { uri: 'test://x' } }, sid);
      assert.deepEqual((await sub(1, a)).body.result, {});
      assert.deepEqual((await sub(1, b)).body.result, {});
      await post(gw.url, call(2, 'touch', { uri: 'test://x' }), c);
      const updated = (l: typeof la) => l.messages.filter((m) => m.method === 'notifications/resources/updated').length;
      await waitFor(() => updated(la) === 1 && updated(lb) === 1, 5_000, 'the update at a and b');
      await post(gw.url, call(3, 'change'), c);
      const changed = (l: typeof la) => l.messages.filter((m) => m.method === 'notifications/tools/list_changed').length;
      await waitFor(() => changed(la) === 1 && changed(lb) === 1 && changed(lc) === 1, 5_000, 'list_changed everywhere');
      assert.equal(updated(lc), 0, 'c never subscribed');

      // a leaves the subscription; b still has it, so the child keeps it.
      assert.deepEqual((await sub(4, a, 'resources/unsubscribe')).body.result, {});
      assert.deepEqual((await whoami(gw.url, c)).subscriptions, ['test://x']);
      await post(gw.url, call(5, 'touch', { uri: 'test://x' }), c);
      await waitFor(() => updated(lb) === 2, 5_000, 'the second update at b');
      await post(gw.url, call(6, 'change'), c);
      await waitFor(() => changed(la) === 2, 5_000, 'a still hears list changes');
      assert.equal(updated(la), 1, 'a unsubscribed');

      // b's session ends: it was the last subscriber, so the gateway unsubscribes upstream.
      await deleteSession(gw.url, b);
      await eventually(async () => (await whoami(gw.url, c)).subscriptions.length === 0, 5_000, 'the upstream unsubscribe');
    } finally {
      la.stop();
      lb.stop();
      lc.stop();
    }
  });

  test('a child’s request to a client goes to the one busy session, and is refused when that is ambiguous', async () => {
    const gw = await shared();
    const client = new Client({ name: 'sampler', version: '1' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
      role: 'assistant',
      model: 'm',
      content: { type: 'text', text: `answer to ${(req.params.messages[0]!.content as { text: string }).text}` },
    }));
    const transport = new StreamableHTTPClientTransport(new URL('/mcp', gw.url));
    await client.connect(transport);
    try {
      const r = await client.callTool({ name: 'sample', arguments: { prompt: 'hi' } });
      assert.deepEqual(r.content, [{ type: 'text', text: 'sampled: answer to hi' }]);
      // Another session is busy too: the child's question could be for either, so no one gets it.
      const other = await openSession(gw.url);
      const busy = post(gw.url, call(1, 'slow', { ms: 4_000 }), other);
      await waitFor(() => gw.server.handler.sessions.pendingRequests === 1, 5_000, 'the other session busy');
      const ambiguous = await client.callTool({ name: 'sample', arguments: { prompt: 'hi' } });
      assert.match(JSON.stringify(ambiguous.content), /cannot tell which client this request is for/);
      await busy;
      assert.ok(gw.gateway.stats.unroutable >= 1);
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });

  test('a session that ends with a request running: the child is told to cancel, its late answer goes nowhere', async () => {
    const gw = await shared();
    const a = await openSession(gw.url);
    const b = await openSession(gw.url);
    const pending = post(gw.url, call(1, 'slow', { ms: 500 }), a).catch(() => undefined);
    await waitFor(() => gw.server.handler.sessions.pendingRequests === 1, 5_000, 'a busy');
    await deleteSession(gw.url, a);
    await pending;
    await sleep(700);
    assert.equal(textOf((await post(gw.url, call(1, 'echo', { text: 'b is fine' }), b)).body), 'b is fine');
  });
});

describe('the shared child’s life', () => {
  test('--restart never: a crash ends every session with an error; /health and new sessions get 503', async () => {
    const gw = await shared({ restart: 'never' });
    const a = await openSession(gw.url);
    const b = await openSession(gw.url);
    assert.equal((await health(gw.url)).status, 200);
    const [crashed, waiting] = await Promise.all([post(gw.url, call(1, 'crash'), a), post(gw.url, call(2, 'slow', { ms: 2_000 }), b)]);
    assert.match(crashed.body.error.message, /exited with code 3 before answering/);
    assert.match(waiting.body.error.message, /exited with code 3 before answering/);
    await waitFor(() => gw.server.handler.sessions.sessions.size === 0, 5_000, 'every session to end');
    const h = await health(gw.url);
    assert.equal(h.status, 503);
    assert.equal(h.body.children.ok, false);
    assert.equal(h.body.children.state, 'down');
    assert.equal(h.body.children.lastExit.code, 3);
    const refused = await post(gw.url, initialize());
    assert.equal(refused.status, 503);
    assert.match(refused.body.error.message, /the shared server process is down \(it exited with code 3\) and --restart does not restart it/);
  });

  test('--restart on-failure: the child comes back, and new sessions are served by it', async () => {
    const gw = await shared({ restart: 'on-failure' });
    const a = await openSession(gw.url);
    const before = await whoami(gw.url, a);
    await post(gw.url, call(1, 'crash'), a);
    await waitFor(() => gw.gateway.stats.restarts === 1, 10_000, 'a restart');
    await eventually(async () => (await health(gw.url)).status === 200, 10_000, 'health back to 200');
    const b = await openSession(gw.url);
    const after = await whoami(gw.url, b);
    assert.notEqual(after.pid, before.pid);
    assert.equal(after.initializes, 1, 'the new child was initialized again, once');
  });
});
