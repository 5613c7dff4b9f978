// Streamable HTTP: a request the transport answered itself (with an error, having given up on its
// stream) is answered once. The server's real answer, should it still come, is dropped; and a
// request resumed with the SDK's resumptionToken gets the answer of the stream it resumes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHttpClientTransport } from '../../src/index.js';
import { startServer, waitFor } from '../helpers.js';
import { sseEvent, startBreakingServer } from './breaking-server.js';
import { CuttingProxy } from './proxy.js';

test('an answer that comes after the transport gave up on its request is dropped, not delivered a second time', async () => {
  // The server breaks the call's stream before its first event id (nothing to resume from), then
  // sends the answer on the GET stream anyway (a server may, when the stream meant for it is gone).
  const server = await startBreakingServer();
  const client = new Client({ name: 'late-answers', version: '1' });
  const errors: Error[] = [];
  const marks: unknown[] = [];
  try {
    await client.connect(new StreamableHttpClientTransport(server.url));
    client.onerror = (e) => void errors.push(e);
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void marks.push(n.params.data));
    await waitFor(() => server.getStream() !== undefined, 5_000, 'the GET stream');
    await assert.rejects(client.callTool({ name: 'echo', arguments: {} }), /no event id to resume it from/);
    server.getStream()!.write(sseEvent({ jsonrpc: '2.0', id: server.broken[0], result: { content: [{ type: 'text', text: 'late' }] } }));
    server.getStream()!.write(sseEvent({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'after the late answer' } }));
    await waitFor(() => marks.length === 1, 5_000, 'the notification after the late answer');
    assert.deepEqual(errors.map((e) => e.message), [], 'the SDK client saw no second answer');
  } finally {
    await client.close();
    await server.close();
  }
});

test('a request sent with a resumptionToken after the transport gave up on the first gets the answer of the resumed stream', async () => {
  const server = await startServer({ retryMs: 50 });
  const proxy = await CuttingProxy.start(server.port);
  const client = new Client({ name: 'late-answers', version: '1' });
  const errors: Error[] = [];
  try {
    const tr = new StreamableHttpClientTransport(`${proxy.url}/mcp`, { reconnect: { initialDelayMs: 20, maxDelayMs: 50, maxRequestRetries: 0 } });
    await client.connect(tr);
    client.onerror = (e) => void errors.push(e);
    let token: string | undefined;
    const first = client.callTool({ name: 'slow', arguments: { ms: 1_000 } }, undefined, { onresumptiontoken: (t) => void (token = t) });
    await waitFor(() => token !== undefined, 5_000, 'an event id of the response stream');
    // The stream breaks and cannot be resumed: the transport gives up on the request.
    proxy.refusing = true;
    proxy.cutAll();
    await assert.rejects(first, /gave up resuming the response stream/);
    proxy.refusing = false;
    // The tool still runs on the server; the application resumes its stream as the SDK lets it.
    const resumed = await client.callTool({ name: 'slow', arguments: { ms: 1_000 } }, undefined, { resumptionToken: token });
    assert.deepEqual(resumed.content, [{ type: 'text', text: 'slept 1000' }]);
    assert.deepEqual(errors.map((e) => e.message), []);
  } finally {
    await client.close();
    await proxy.close();
    await server.close();
  }
});
