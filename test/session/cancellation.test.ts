// A request the client cancels gets no response (its server should not send one), so mcpwire stops
// waiting for it: the request no longer counts as in flight, and a POST's stream that waited for
// nothing else ends. The same holds the other way: a request the server gave up on awaits no answer. Without that, every cancelled request stayed in flight for the session's life:
// its POST stream hung open, the session never hibernated, and after maxPendingRequestsPerSession
// cancellations the session refused every request.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import type { EventStore, StreamLog } from '../../src/store/types.js';
import { cancelledCalls } from '../fixtures/everything.js';
import { INIT, STREAMABLE_HEADERS, connectClient, rawSession, readToEnd, startServer, waitFor } from '../helpers.js';

const servers: McpWireServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function start(options: Parameters<typeof startServer>[0] = {}): Promise<McpWireServer> {
  const s = await startServer({ maxPendingRequestsPerSession: 2, ...options });
  servers.push(s);
  return s;
}

const inFlight = (s: McpWireServer) => [...s.handler.sessions.sessions.values()].reduce((n, session) => n + session.pendingRequests, 0);

const post = (s: McpWireServer, sid: string, body: unknown, version = '2025-11-25') =>
  fetch(`${s.url}/mcp`, { method: 'POST', headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': version }, body: JSON.stringify(body) });
const toolCall = (id: number, name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
const cancel = (requestId: number) => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'the user moved on' } });

/** A session of the revision that has batches. */
async function batchSession(s: McpWireServer): Promise<string> {
  const init = await fetch(`${s.url}/mcp`, { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify({ ...INIT, params: { ...INIT.params, protocolVersion: '2025-03-26' } }) });
  await init.text();
  return init.headers.get('mcp-session-id')!;
}

/**
 * The in-memory store with its appends held back while `held` is set: the interleavings a remote
 * store (Redis) allows, where a message is sent long before its log entry comes back.
 */
class HeldStore implements EventStore {
  readonly appended: Array<{ tag: string; data: string; last: boolean }> = [];
  held: Array<() => void> | undefined;
  private readonly memory = new MemoryEventStore({ maxEvents: 1000, maxBytes: 1 << 20 });

  open(sessionId: string, tag: string): StreamLog {
    const log = this.memory.open(sessionId, tag);
    const append = (data: string, last: boolean, responseId?: string | number) => {
      this.appended.push({ tag, data, last });
      return log.append(data, last, responseId);
    };
    return {
      initialCursor: log.initialCursor,
      readAfter: (cursor) => log.readAfter(cursor),
      drop: () => log.drop(),
      append: (data, last, responseId) => (this.held ? new Promise<string>((resolve) => this.held!.push(() => resolve(append(data, last, responseId)))) : append(data, last, responseId)),
    };
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const go of held) go();
  }

  /** What was logged on POST streams since `from`, as [message or '(end)', last]. */
  postStreams(from: number): Array<[string, boolean]> {
    return this.appended.slice(from).filter((a) => a.tag.startsWith('r.')).map((a) => [a.data === '' ? '(end)' : (JSON.parse(a.data) as { id: number }).id.toString(), a.last]);
  }
}

describe('cancelled requests', () => {
  for (const wire of ['mcp', 'sse'] as const) {
    test(`an SDK client that aborts more calls than a session may have in flight goes on working (${wire})`, async () => {
      const s = await start();
      const client = await connectClient(s.url, wire);
      try {
        for (let i = 0; i < 5; i++) {
          const abort = new AbortController();
          cancelledCalls.clear();
          await assert.rejects(client.callTool({ name: 'wait_for_cancel', arguments: {} }, undefined, { signal: abort.signal, onprogress: () => abort.abort() }));
          await waitFor(() => cancelledCalls.size === 1, 5_000, 'the server to see the cancellation');
          await waitFor(() => inFlight(s) === 0, 5_000, 'the cancelled request to leave the in-flight count');
        }
        const r = await client.callTool({ name: 'echo', arguments: { text: 'still here' } });
        assert.deepEqual(r.content, [{ type: 'text', text: 'still here' }]);
      } finally {
        await client.close();
      }
    });
  }

  test('the POST stream of a cancelled request ends with no response; the idle session can hibernate', async () => {
    const s = await start({ hibernateAfterMs: 200 });
    const sid = await rawSession(s.url);
    const session = s.handler.sessions.sessions.get(sid)!;

    const alone = await post(s, sid, toolCall(1, 'wait_for_cancel'));
    assert.equal(alone.status, 200);
    await waitFor(() => session.pendingRequests === 1, 5_000, 'the call to be in flight');
    assert.equal((await post(s, sid, cancel(1))).status, 202);
    // The stream ends by itself: nothing but its priming event (no data) came.
    const events = await readToEnd(alone);
    assert.deepEqual(events.map((e) => e.data), ['']);
    assert.equal(session.pendingRequests, 0);
    await waitFor(() => !session.awake, 5_000, 'the idle session to hibernate');

  });

  test('a batch (2025-03-26) with one request cancelled: the other is answered, then its stream ends', async () => {
    const s = await start();
    const sid = await batchSession(s);
    const session = s.handler.sessions.sessions.get(sid)!;
    const batch = await post(s, sid, [toolCall(2, 'wait_for_cancel'), toolCall(3, 'slow', { ms: 300 })], '2025-03-26');
    assert.equal(batch.status, 200);
    await waitFor(() => session.pendingRequests === 2, 5_000, 'both calls to be in flight');
    await post(s, sid, cancel(2), '2025-03-26');
    const answers = (await readToEnd(batch)).filter((e) => e.data !== '').map((e) => JSON.parse(e.data) as { id?: number });
    assert.deepEqual(answers.map((m) => m.id), [3], 'only the call that was not cancelled is answered, and the stream ends after it');
    assert.equal(session.pendingRequests, 0);
  });

  // With Redis the instance holding a POST stream may not be the one running its requests: it ends
  // the stream when it reads the entry marked last, so exactly the final entry must carry the mark.
  test('a store that logs later than messages are sent: a batch\'s final answer is logged as its stream\'s end', async () => {
    const store = new HeldStore();
    const s = await start({ eventStore: store });
    const sid = await batchSession(s);
    const from = store.appended.length;
    store.held = [];
    const batch = await post(s, sid, [toolCall(1, 'echo', { text: 'one' }), toolCall(2, 'echo', { text: 'two' })], '2025-03-26');
    assert.equal(batch.status, 200);
    await waitFor(() => store.held!.length === 2, 5_000, 'both answers to be sent before either is logged');
    store.release();
    const answers = (await readToEnd(batch)).filter((e) => e.data !== '').map((e) => (JSON.parse(e.data) as { id: number }).id);
    assert.deepEqual(answers, [1, 2]);
    assert.deepEqual(store.postStreams(from), [['1', false], ['2', true]]);
  });

  test('a store that logs later: a request cancelled while the other\'s answer is on its way logs the stream\'s end', async () => {
    const store = new HeldStore();
    const s = await start({ eventStore: store });
    const sid = await batchSession(s);
    const session = s.handler.sessions.sessions.get(sid)!;
    const from = store.appended.length;
    store.held = [];
    const batch = await post(s, sid, [toolCall(2, 'wait_for_cancel'), toolCall(3, 'echo', { text: 'three' })], '2025-03-26');
    assert.equal(batch.status, 200);
    await waitFor(() => store.held!.length === 1 && session.pendingRequests === 2, 5_000, 'the answer to 3 to be sent, not logged');
    assert.equal((await post(s, sid, cancel(2), '2025-03-26')).status, 202);
    await waitFor(() => store.held!.length === 2, 5_000, 'the end of the stream to be logged');
    store.release();
    const answers = (await readToEnd(batch)).filter((e) => e.data !== '').map((e) => (JSON.parse(e.data) as { id: number }).id);
    assert.deepEqual(answers, [3]);
    assert.deepEqual(store.postStreams(from), [['3', false], ['(end)', true]]);
    // A cancellation that comes after the answer was sent changes nothing.
    store.held = [];
    const late = await post(s, sid, [toolCall(4, 'echo', { text: 'four' })], '2025-03-26');
    await waitFor(() => store.held!.length === 1, 5_000, 'the answer to 4 to be sent, not logged');
    assert.equal((await post(s, sid, cancel(4), '2025-03-26')).status, 202);
    store.release();
    assert.deepEqual((await readToEnd(late)).filter((e) => e.data !== '').map((e) => (JSON.parse(e.data) as { id: number }).id), [4]);
    assert.deepEqual(store.postStreams(from).slice(2), [['4', true]]);
    assert.equal(session.pendingRequests, 0);
  });

  test('a request of the server that it gave up on (a timeout) no longer keeps the session awake', async () => {
    const s = await start({ hibernateAfterMs: 200 });
    const init = await fetch(`${s.url}/mcp`, { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify({ ...INIT, params: { ...INIT.params, capabilities: { sampling: {} } } }) });
    await init.text();
    const sid = init.headers.get('mcp-session-id')!;
    assert.equal((await post(s, sid, { jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
    const session = s.handler.sessions.sessions.get(sid)!;
    // This client never answers the server's sampling request; the server stops waiting after 100 ms.
    const messages = (await readToEnd(await post(s, sid, toolCall(1, 'ask_briefly', { ms: 100 }))))
      .filter((e) => e.data !== '')
      .map((e) => JSON.parse(e.data) as { id?: number; method?: string; params?: { requestId?: number }; result?: { content: Array<{ text: string }> } });
    assert.equal(messages[0]?.method, 'sampling/createMessage');
    assert.equal(messages[1]?.method, 'notifications/cancelled');
    assert.equal(messages[1]?.params?.requestId, messages[0]!.id);
    assert.equal(messages[2]?.result?.content[0]?.text, 'gave up');
    await waitFor(() => !session.awake, 5_000, 'the idle session to hibernate');
  });

  test('JSON responses: a POST whose only request was cancelled is answered 202 with no body', async () => {
    const s = await start({ responseMode: 'json' });
    const sid = await rawSession(s.url);
    const pending = post(s, sid, toolCall(1, 'wait_for_cancel'));
    await waitFor(() => inFlight(s) === 1, 5_000, 'the call to be in flight');
    await post(s, sid, cancel(1));
    const res = await pending;
    assert.equal(res.status, 202);
    assert.equal(await res.text(), '');
    const answered = await post(s, sid, toolCall(2, 'echo', { text: 'json' }));
    assert.equal(answered.status, 200);
    assert.deepEqual(await answered.json(), { jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'json' }] } });
  });
});
