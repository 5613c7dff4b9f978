// `handler.broadcast()`: one notification to every initialized session, serialized once, as each
// session's log level allows, without waking hibernated sessions; anything else is refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { serve, type McpWireServer } from '../../src/index.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { connectClient, sleep, waitFor } from '../helpers.js';

let server: McpWireServer;
const built: McpServer[] = [];
const closed = new Set<McpServer>();

before(async () => {
  server = await serve({
    port: 0,
    hibernateAfterMs: 400,
    createServer: () => {
      const mcp = createEverythingServer();
      built.push(mcp);
      mcp.server.onclose = () => void closed.add(mcp);
      return mcp;
    },
  });
});
after(() => server.close());

/** Every notification the client gets, by method, with its params. */
function received(client: Client): Array<{ method: string; params?: Record<string, unknown> }> {
  const got: Array<{ method: string; params?: Record<string, unknown> }> = [];
  client.fallbackNotificationHandler = async ({ method, params }) => void got.push(params === undefined ? { method } : { method, params });
  return got;
}

test('a broadcast reaches every session on both wire formats, each log message as the session asked', async () => {
  const quiet = await connectClient(server.url, 'sse');
  const chatty = await connectClient(server.url, 'mcp');
  const legacyChatty = await connectClient(server.url, 'sse');
  const got = { quiet: received(quiet), chatty: received(chatty), legacyChatty: received(legacyChatty) };
  // The SDK client routes notifications/message to its own handler when one is set; none is, so the fallback sees them.
  await quiet.setLoggingLevel('error');

  await server.handler.broadcast({ method: 'notifications/example/tick', params: { n: 1 } });
  await server.handler.broadcast({ method: 'notifications/message', params: { level: 'info', data: 'routine' } });
  await server.handler.broadcast({ method: 'notifications/message', params: { level: 'critical', data: 'alarm' } });
  await server.handler.broadcast({ method: 'notifications/example/bare' });

  const expectedChatty = [
    { method: 'notifications/example/tick', params: { n: 1 } },
    { method: 'notifications/message', params: { level: 'info', data: 'routine' } },
    { method: 'notifications/message', params: { level: 'critical', data: 'alarm' } },
    { method: 'notifications/example/bare' },
  ];
  await waitFor(() => got.chatty.length === 4 && got.legacyChatty.length === 4 && got.quiet.length === 3, 5_000, 'the broadcasts');
  assert.deepEqual(got.chatty, expectedChatty);
  assert.deepEqual(got.legacyChatty, expectedChatty);
  assert.deepEqual(
    got.quiet,
    expectedChatty.filter((n) => n.params?.level !== 'info'),
    'a session at level error is not sent info',
  );
  await sleep(100);
  assert.equal(got.chatty.length, 4, 'each broadcast arrives once');
  await Promise.all([quiet.close(), chatty.close(), legacyChatty.close()]);
});

test('a broadcast reaches sleeping sessions without waking their servers', async () => {
  const client = await connectClient(server.url, 'mcp');
  const got = received(client);
  const mine = built.at(-1)!;
  await waitFor(() => closed.has(mine), 5_000, 'the idle server to be dropped');
  const builtBefore = built.length;
  await server.handler.broadcast({ method: 'notifications/example/while-asleep' });
  await waitFor(() => got.length === 1, 5_000, 'the broadcast while asleep');
  assert.equal(built.length, builtBefore, 'no server was built to deliver it');
  await client.close();
});

test('what is not a notification is refused with a TypeError, and sessions go on', async () => {
  const client = await connectClient(server.url, 'mcp');
  const got = received(client);
  const bad: Array<[unknown, RegExp]> = [
    [{}, /needs a method/],
    [{ method: '' }, /needs a method/],
    [{ method: 42 }, /needs a method/],
    [{ method: 'tools/call', id: 1 }, /no id/],
    [{ method: 'notifications/x', params: [1, 2] }, /params must be an object/],
    [{ method: 'notifications/x', params: 'text' }, /params must be an object/],
    [{ method: 'notifications/message', params: { data: 'no level' } }, /params\.level/],
    [{ method: 'notifications/message', params: { level: 'loud', data: 'x' } }, /params\.level/],
  ];
  for (const [input, message] of bad) {
    assert.throws(() => server.handler.broadcast(input as { method: string }), (err: Error) => err instanceof TypeError && message.test(err.message), JSON.stringify(input));
  }
  await server.handler.broadcast({ method: 'notifications/example/after' });
  await waitFor(() => got.length === 1, 5_000, 'the valid broadcast');
  assert.deepEqual(got, [{ method: 'notifications/example/after' }], 'nothing of the refused ones was sent');
  await client.close();
});
