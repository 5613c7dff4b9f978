// A consumer whose onmessage throws (a wrapper around the SDK client's, say): the exception goes to
// onerror, and the transport goes on as if nothing happened: a loop answering every waiting request
// answers the rest, a stream being read is not taken for broken, nothing is left as an unhandled
// rejection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { LoggingMessageNotificationSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SseClientTransport, StreamableHttpClientTransport } from '../../src/index.js';
import { startServer, waitFor } from '../helpers.js';
import { startBreakingServer } from './breaking-server.js';

/** Wraps the client's onmessage: each message still reaches the client, then the wrapper throws once, after the first that `when` picks. */
function throwOnce(t: Transport, when: (m: JSONRPCMessage) => boolean): void {
  const inner = t.onmessage!;
  let thrown = false;
  t.onmessage = (m) => {
    inner(m);
    if (!thrown && when(m)) {
      thrown = true;
      throw new Error('the handler failed');
    }
  };
}

const isError = (m: JSONRPCMessage) => 'error' in m;

test('legacy SSE closing with requests waiting: every one is answered, though the handler throws on the first', async () => {
  const server = await startServer();
  const client = new Client({ name: 'handler-errors', version: '1' });
  const errors: Error[] = [];
  try {
    const tr = new SseClientTransport(`${server.url}/sse`);
    await client.connect(tr);
    client.onerror = (e) => void errors.push(e);
    throwOnce(tr, isError);
    const before = server.handler.stats.messagesIn;
    const calls = [1, 2, 3].map(() => client.callTool({ name: 'slow', arguments: { ms: 5_000 } }, undefined, { timeout: 10_000 }));
    const settled = Promise.allSettled(calls);
    await waitFor(() => server.handler.stats.messagesIn >= before + 3, 5_000, 'the three calls at the server');
    await client.close();
    let done = false;
    void settled.then(() => (done = true));
    await waitFor(() => done, 5_000, 'every call to be answered');
    for (const r of await settled) assert.match(r.status === 'rejected' ? String(r.reason) : 'fulfilled', /the transport closed before the response arrived/);
    assert.deepEqual(errors.map((e) => e.message), ['the handler failed']);
  } finally {
    await client.close();
    await server.close();
  }
});

test('Streamable HTTP: a handler that throws on a notification is reported; the stream is not taken for lost', async () => {
  const server = await startServer();
  const client = new Client({ name: 'handler-errors', version: '1' });
  const errors: Error[] = [];
  const ticks: number[] = [];
  try {
    const tr = new StreamableHttpClientTransport(`${server.url}/mcp`);
    await client.connect(tr);
    client.onerror = (e) => void errors.push(e);
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void ticks.push((n.params.data as { tick: number }).tick));
    throwOnce(tr, (m) => 'method' in m && m.method === 'notifications/message');
    await waitFor(() => (server.handler.sessions.sessions.get(tr.sessionId!)?.attachedStreams ?? 0) >= 1, 5_000, 'the GET stream');
    await client.callTool({ name: 'tick', arguments: { n: 3 } });
    await waitFor(() => ticks.length === 3, 5_000, 'three ticks');
    assert.deepEqual(ticks, [1, 2, 3]);
    assert.deepEqual(errors.map((e) => e.message), ['the handler failed']);
    assert.equal(tr.stats.streamsLost, 0);
  } finally {
    await client.close();
    await server.close();
  }
});

test('Streamable HTTP: a handler that throws on the error a given-up request gets is reported, and the transport goes on', async () => {
  const server = await startBreakingServer();
  const client = new Client({ name: 'handler-errors', version: '1' });
  const errors: Error[] = [];
  try {
    const tr = new StreamableHttpClientTransport(server.url);
    await client.connect(tr);
    client.onerror = (e) => void errors.push(e);
    throwOnce(tr, isError);
    await assert.rejects(client.callTool({ name: 'echo', arguments: {} }), /no event id to resume it from/);
    await waitFor(() => errors.length > 0, 5_000, 'the exception to be reported');
    assert.deepEqual(errors.map((e) => e.message), ['the handler failed']);
    await assert.rejects(client.callTool({ name: 'echo', arguments: {} }), /no event id to resume it from/);
  } finally {
    await client.close();
    await server.close();
  }
});
