// Hibernation in one process: an idle session's SDK server is dropped and the session kept as data;
// the next message builds a new server with the session's initialize, log level and subscriptions.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CreateMessageRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { serve, type McpWireServer } from '../../src/index.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { connectClient, waitFor } from '../helpers.js';

let server: McpWireServer;
const servers: McpServer[] = [];
/** Each server dropped so far, and when. */
const closedAt = new Map<McpServer, number>();

before(async () => {
  server = await serve({
    port: 0,
    hibernateAfterMs: 300,
    createServer: () => {
      const mcp = createEverythingServer();
      servers.push(mcp);
      mcp.server.onclose = () => void closedAt.set(mcp, Date.now());
      return mcp;
    },
  });
});
after(() => server.close());

for (const wire of ['mcp', 'sse'] as const) {
  test(`${wire}: an idle session sleeps, and wakes with its client info, log level and subscriptions`, async () => {
    const before = servers.length;
    const client = await connectClient(server.url, wire, { sampling: {} });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'awake' } }));
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    await client.setLoggingLevel('warning');
    await client.subscribeResource({ uri: 'test://watched-resource' });
    assert.equal(servers.length, before + 1);
    const first = servers.at(-1)!;

    await waitFor(() => closedAt.has(first), 5_000, 'the idle server to be dropped');
    assert.equal(server.handler.sessions.sessions.size >= 1, true, 'the session itself lives on');

    // A change while asleep still reaches the subscribed session: subscriptions are session data.
    await server.handler.notifyResourceUpdated('test://watched-resource');
    await waitFor(() => updates.length === 1, 5_000, 'the update while asleep');

    const who = JSON.parse(((await client.callTool({ name: 'whoami', arguments: {} })).content as Array<{ text: string }>)[0]!.text);
    assert.equal(servers.length, before + 2, 'a new server was built on the next message');
    assert.equal(who.client.name, 'mcpwire-test');
    assert.deepEqual(who.capabilities, { sampling: {} });
    assert.deepEqual(who.subscriptions, ['test://watched-resource'], 'the subscription was replayed into the new server');
    const sampled = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'hi' } });
    assert.deepEqual(sampled.content, [{ type: 'text', text: 'sampled: awake' }], 'server→client requests work after waking');
    assert.ok(server.handler.stats.rehydrations >= 1);
    await client.close();
  });
}

test('a session with a request in flight does not hibernate, and its idle clock starts at the answer', async () => {
  const client = await connectClient(server.url, 'mcp');
  const count = servers.length;
  const r = await client.callTool({ name: 'slow', arguments: { ms: 1_200 } });
  const answered = Date.now();
  assert.deepEqual(r.content, [{ type: 'text', text: 'slept 1200' }]);
  assert.equal(servers.length, count, 'the same server answered');
  const mine = servers.at(-1)!;
  await new Promise((done) => setTimeout(done, 600));
  // It may sleep now, but not before it has been idle for hibernateAfterMs (300) after the answer.
  if (closedAt.has(mine)) assert.ok(closedAt.get(mine)! - answered >= 250, `slept ${closedAt.get(mine)! - answered} ms after its answer`);
  await client.close();
});
