// What a session may subscribe to is bounded (its URIs are kept as long as it lives, in Redis too):
// 1,000 URIs, 256 Ki characters in all. Past it, resources/subscribe gets an error and the server
// never sees it; a URI already subscribed, or one freed by unsubscribing, is fine.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
import { connectClient, startServer } from '../helpers.js';

let server: McpWireServer;
before(async () => {
  server = await startServer();
});
after(() => server.close());

const refusal = /Too many subscriptions: at most 1000 URIs of 262144 characters in all/;

for (const wire of ['mcp', 'sse'] as const) {
  test(`${wire}: the 1,001st URI is refused; one already subscribed, or a place freed, is not`, async () => {
    const client = await connectClient(server.url, wire);
    try {
      for (let i = 0; i < 1_000; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, k) => client.subscribeResource({ uri: `test://s/${i + k}` })));
      }
      await assert.rejects(client.subscribeResource({ uri: 'test://s/one-more' }), refusal);
      await client.subscribeResource({ uri: 'test://s/7' });
      await client.unsubscribeResource({ uri: 'test://s/7' });
      await client.subscribeResource({ uri: 'test://s/one-more' });
      const session = [...server.handler.sessions.sessions.values()].find((s) => s.subscriptions.has('test://s/one-more'))!;
      assert.equal(session.subscriptions.size, 1_000);
    } finally {
      await client.close();
    }
  });
}

test('URIs too long in all are refused, whatever their number', async () => {
  const client = await connectClient(server.url, 'mcp');
  try {
    const long = (i: number) => `test://long/${i}/${'x'.repeat(100_000)}`;
    await client.subscribeResource({ uri: long(1) });
    await client.subscribeResource({ uri: long(2) });
    await assert.rejects(client.subscribeResource({ uri: long(3) }), refusal);
    await client.subscribeResource({ uri: 'test://short' });
  } finally {
    await client.close();
  }
});
