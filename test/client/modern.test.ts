// The 2026-07-28 client transport against mcpwire's server: how long a request may take is the
// caller's business, not the stream watchdog's.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ModernHttpClientTransport, type McpWireServer } from '../../src/index.js';
import { startServer } from '../helpers.js';

let server: McpWireServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});

test('a tool that answers after idleTimeoutMs (a JSON reply: no byte before it is done) succeeds', async () => {
  const client = new Client({ name: 'modern-slow', version: '1' });
  await client.connect(new ModernHttpClientTransport(`${server.url}/mcp`, { idleTimeoutMs: 300 }));
  try {
    const r = await client.callTool({ name: 'slow', arguments: { ms: 1_200 } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'slept 1200' }]);
  } finally {
    await client.close();
  }
});
