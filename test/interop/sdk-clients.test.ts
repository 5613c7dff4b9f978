// The official SDK's own clients against mcpwire, on both wire formats.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { McpWireServer } from '../../src/index.js';
import { connectAnsweringClient, startServer, type WireName } from '../helpers.js';

let server: McpWireServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});

for (const wire of ['sse', 'mcp'] as WireName[]) {
  describe(`SDK client over ${wire === 'sse' ? 'legacy HTTP+SSE' : 'Streamable HTTP'}`, () => {
    let client: Client;
    before(async () => {
      client = await connectAnsweringClient(server.url, wire);
    });
    after(async () => {
      await client.close();
    });

    test('initialize negotiates and names the server', () => {
      assert.equal(client.getServerVersion()?.name, 'mcpwire-everything');
    });

    test('tools/list and tools/call', async () => {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'echo'));
      const r = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
      assert.deepEqual(r.content, [{ type: 'text', text: 'hello' }]);
    });

    test('progress notifications reach the caller during the call', async () => {
      const seen: number[] = [];
      const r = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, {
        onprogress: (p) => seen.push(p.progress),
      });
      assert.deepEqual(seen, [0, 50, 100]);
      assert.equal(r.isError, undefined);
    });

    test('logging notifications arrive', async () => {
      const logs: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.data));
      await client.setLoggingLevel('debug');
      await client.callTool({ name: 'test_tool_with_logging', arguments: {} });
      assert.deepEqual(logs, ['logging tool started', 'logging tool working', 'logging tool done']);
    });

    test('resources/read, templates, prompts/get', async () => {
      const text = await client.readResource({ uri: 'test://static-text' });
      assert.equal((text.contents[0] as { text: string }).text, 'static text content');
      const t = await client.readResource({ uri: 'test://template/123/data' });
      assert.match((t.contents[0] as { text: string }).text, /123/);
      const p = await client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'one', arg2: 'two' } });
      assert.match(JSON.stringify(p.messages), /one and two/);
    });

    test('a server→client sampling request is answered by the client', async () => {
      const r = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'ping' } });
      assert.deepEqual(r.content, [{ type: 'text', text: 'sampled: echo of ping' }]);
    });

    test('a server→client elicitation request is answered by the client', async () => {
      const r = await client.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } });
      assert.deepEqual(r.content, [{ type: 'text', text: 'elicitation accept: {"username":"ada"}' }]);
    });

    test('a failing tool is an isError result', async () => {
      const r = await client.callTool({ name: 'test_error_handling', arguments: {} });
      assert.equal(r.isError, true);
    });
  });
}
