// The client transports' bounds and refusals: oversized messages, bad options, the deadline of the
// transport's own requests, a cancelled request's stream, JSON-response servers.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { PrivateRequests } from '../../src/client/messages.js';
import { createHandler, NotAnSseEndpoint, SseClientTransport, StreamableHttpClientTransport, type McpWireServer } from '../../src/index.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { startServer, waitFor } from '../helpers.js';

type Wire = 'streamable' | 'sse';
const FAST = { reconnect: { initialDelayMs: 20, maxDelayMs: 200 } };

async function clientOver(t: StreamableHttpClientTransport | SseClientTransport): Promise<{ client: Client; errors: Error[]; ticks: number[] }> {
  const client = new Client({ name: 'limits-test', version: '1.0.0' });
  await client.connect(t);
  const errors: Error[] = [];
  const ticks: number[] = [];
  client.onerror = (e) => void errors.push(e);
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    const d = n.params.data as { tick?: number };
    if (d.tick !== undefined) ticks.push(d.tick);
  });
  return { client, errors, ticks };
}

describe('messages larger than maxMessageBytes', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer({ retryMs: 50 });
  });
  after(async () => {
    await server.close();
  });
  const big = 'x'.repeat(4_000);

  test('streamable: an oversized response fails its request clearly; the next request works', async () => {
    const { client } = await clientOver(new StreamableHttpClientTransport(`${server.url}/mcp`, { ...FAST, maxMessageBytes: 2_048 }));
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: big } }), /larger than 2048 bytes/);
    const ok = await client.callTool({ name: 'echo', arguments: { text: 'small' } });
    assert.deepEqual(ok.content, [{ type: 'text', text: 'small' }]);
    await client.close();
  });

  for (const wire of ['streamable', 'sse'] as Wire[]) {
    test(`${wire}: an oversized server notification is reported and skipped; the stream goes on`, async () => {
      const tr =
        wire === 'sse'
          ? new SseClientTransport(`${server.url}/sse`, { ...FAST, maxMessageBytes: 2_048 })
          : new StreamableHttpClientTransport(`${server.url}/mcp`, { ...FAST, maxMessageBytes: 2_048 });
      const { client, errors, ticks } = await clientOver(tr);
      const uri = `test://${big}`;
      await client.subscribeResource({ uri });
      if (tr instanceof StreamableHttpClientTransport) {
        await waitFor(() => (server.handler.sessions.sessions.get(tr.sessionId!)?.attachedStreams ?? 0) >= 1, 5_000, 'the GET stream');
      }
      await server.handler.notifyResourceUpdated(uri);
      await waitFor(() => errors.some((e) => /larger than 2048 bytes/.test(e.message)), 5_000, 'the oversized message to be reported');
      await client.callTool({ name: 'tick', arguments: { n: 3 } });
      await waitFor(() => ticks.length === 3, 5_000, 'ticks after it');
      assert.deepEqual(ticks, [1, 2, 3]);
      await client.close();
    });
  }
});

describe('a JSON-response server (responseMode: json)', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer({ responseMode: 'json' });
  });
  after(async () => {
    await server.close();
  });

  test('calls are answered in JSON; related notifications come on the GET stream', async () => {
    const tr = new StreamableHttpClientTransport(`${server.url}/mcp`);
    const { client } = await clientOver(tr);
    const r = await client.callTool({ name: 'echo', arguments: { text: 'json' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'json' }]);
    const progress: number[] = [];
    await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => progress.push(p.progress) });
    await waitFor(() => progress.length === 3, 5_000, 'progress via the GET stream');
    await client.close();
  });
});

describe('a cancelled request', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  test('its response stream is let go at once (the client timed out and sent notifications/cancelled)', async () => {
    const tr = new StreamableHttpClientTransport(`${server.url}/mcp`);
    const { client } = await clientOver(tr);
    const session = server.handler.sessions.sessions.get(tr.sessionId!)!;
    await waitFor(() => session.attachedStreams === 1, 5_000, 'the GET stream');
    await assert.rejects(client.callTool({ name: 'slow', arguments: { ms: 5_000 } }, undefined, { timeout: 200 }), /timed out/i);
    await waitFor(() => session.attachedStreams === 1, 2_000, 'the POST stream to be let go');
    await client.close();
  });
});

test('bad options are refused with a clear message, before anything is sent', () => {
  const url = 'http://127.0.0.1:9/mcp';
  assert.throws(() => new StreamableHttpClientTransport(url, { headers: { 'Bad Name': 'x' } }), /not a valid header name/);
  assert.throws(() => new SseClientTransport(url, { headers: { 'X-Ok': 'a\r\nInjected: yes' } }), /line break/);
  assert.throws(() => new StreamableHttpClientTransport(url, { token: 'two words' }), /token/);
  assert.throws(() => new StreamableHttpClientTransport(url, { idleTimeoutMs: -1 }), /idleTimeoutMs/);
  assert.throws(() => new StreamableHttpClientTransport(url, { reconnect: { jitter: 3 } }), /jitter/);
  assert.throws(() => new StreamableHttpClientTransport('not a url'), /Invalid URL/);
});

test('the transport’s own requests have a deadline: the map of them empties by itself', async () => {
  const own = new PrivateRequests(50);
  const waits = [own.wait('a', 'the first'), own.wait('b', 'the second')];
  assert.equal(own.size, 2);
  for (const w of waits) await assert.rejects(w, /got no answer within 50 ms/);
  assert.equal(own.size, 0);
  const answered = own.wait('c', 'the third');
  assert.equal(own.take({ jsonrpc: '2.0', id: 'c', result: {} }), true);
  assert.deepEqual(await answered, { jsonrpc: '2.0', id: 'c', result: {} });
  assert.equal(own.take({ jsonrpc: '2.0', id: 'c', result: {} }), false, 'an answer is taken once');
});

test('a legacy GET that is no SSE endpoint (an HTML page; a stream that never names its endpoint) is refused, not waited on', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/page') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<html></html>');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(': hello\n\n');
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), 50);
    res.on('close', () => clearInterval(keepalive));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await assert.rejects(new SseClientTransport(`${base}/page`).start(), (e: unknown) => e instanceof NotAnSseEndpoint && /text\/html/.test(e.message));
    await assert.rejects(
      new SseClientTransport(`${base}/quiet`, { requestTimeoutMs: 300 }).start(),
      (e: unknown) => e instanceof NotAnSseEndpoint && /no endpoint event within 300 ms/.test(e.message),
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('a server whose GET is a 404 (no listening stream there) is not taken for a lost session', async () => {
  const mcp = createHandler({ createServer: () => createEverythingServer() });
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    mcp(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const tr = new StreamableHttpClientTransport(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, FAST);
    const { client } = await clientOver(tr);
    for (let i = 0; i < 3; i++) await client.callTool({ name: 'echo', arguments: { text: String(i) } });
    await new Promise((r) => setTimeout(r, 500)); // time for a re-initialize loop to show, were there one
    assert.equal(tr.stats.reinitializations, 0);
    assert.equal(mcp.stats.sessionsCreated, 1);
    await client.close();
  } finally {
    await mcp.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('maxRetries: the listening stream gives up after so many failures in a row; on legacy SSE that closes the transport', async () => {
  const reconnect = { initialDelayMs: 10, maxDelayMs: 50, maxRetries: 2 };
  for (const wire of ['streamable', 'sse'] as Wire[]) {
    const server = await startServer();
    const tr = wire === 'sse' ? new SseClientTransport(`${server.url}/sse`, { reconnect }) : new StreamableHttpClientTransport(`${server.url}/mcp`, { reconnect });
    const { client, errors } = await clientOver(tr);
    let closed = false;
    client.onclose = () => void (closed = true);
    if (tr instanceof StreamableHttpClientTransport) {
      await waitFor(() => (server.handler.sessions.sessions.get(tr.sessionId!)?.attachedStreams ?? 0) >= 1, 5_000, 'the GET stream');
    }
    await server.close();
    await waitFor(() => errors.some((e) => /gave up reopening the (listening|SSE) stream after 3 failed attempts/.test(e.message)), 10_000, `${wire}: giving up`);
    if (wire === 'sse') {
      await waitFor(() => closed, 5_000, 'the transport to close');
    } else {
      assert.equal(closed, false, 'Streamable HTTP still answers requests on their own streams');
      await client.close();
    }
  }
});
