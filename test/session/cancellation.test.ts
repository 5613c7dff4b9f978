// A request the client cancels gets no response (its server should not send one), so mcpwire stops
// waiting for it: the request no longer counts as in flight, and a POST's stream that waited for
// nothing else ends. The same holds the other way: a request the server gave up on awaits no answer. Without that, every cancelled request stayed in flight for the session's life:
// its POST stream hung open, the session never hibernated, and after maxPendingRequestsPerSession
// cancellations the session refused every request.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
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
    const init = await fetch(`${s.url}/mcp`, { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify({ ...INIT, params: { ...INIT.params, protocolVersion: '2025-03-26' } }) });
    await init.text();
    const sid = init.headers.get('mcp-session-id')!;
    const session = s.handler.sessions.sessions.get(sid)!;
    const batch = await post(s, sid, [toolCall(2, 'wait_for_cancel'), toolCall(3, 'slow', { ms: 300 })], '2025-03-26');
    assert.equal(batch.status, 200);
    await waitFor(() => session.pendingRequests === 2, 5_000, 'both calls to be in flight');
    await post(s, sid, cancel(2), '2025-03-26');
    const answers = (await readToEnd(batch)).filter((e) => e.data !== '').map((e) => JSON.parse(e.data) as { id?: number });
    assert.deepEqual(answers.map((m) => m.id), [3], 'only the call that was not cancelled is answered, and the stream ends after it');
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
