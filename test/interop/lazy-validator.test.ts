// lazyJsonSchemaValidator: an SDK server given it still checks elicitation answers against the
// requested schema, on the Ajv it builds at the first one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { lazyJsonSchemaValidator, serve, type McpWireServer } from '../../src/index.js';
import { connectClient } from '../helpers.js';

function askingServer(): McpServer {
  const mcp = new McpServer({ name: 'asking', version: '1.0.0' }, { jsonSchemaValidator: lazyJsonSchemaValidator() });
  mcp.registerTool('ask', { description: 'Asks for an age' }, async () => {
    try {
      const r = await mcp.server.elicitInput({
        message: 'How old?',
        requestedSchema: { type: 'object', properties: { age: { type: 'integer', minimum: 0 } }, required: ['age'] },
      });
      return { content: [{ type: 'text', text: `${r.action} ${JSON.stringify(r.content)}` }] };
    } catch (err) {
      return { content: [{ type: 'text', text: `refused: ${(err as Error).message}` }], isError: true };
    }
  });
  return mcp;
}

let server: McpWireServer;
before(async () => {
  server = await serve({ port: 0, createServer: askingServer });
});
after(async () => {
  await server.close();
});

for (const [answer, expected] of [
  [{ age: 36 }, /^accept \{"age":36\}$/],
  [{ age: 'old' }, /^refused: .*does not match/],
  [{ age: -1 }, /^refused: .*does not match/],
] as const) {
  test(`an elicitation answer ${JSON.stringify(answer)} is checked against the requested schema`, async () => {
    const client = await connectClient(server.url, 'mcp', { elicitation: {} });
    try {
      client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: answer as never }));
      const r = await client.callTool({ name: 'ask', arguments: {} });
      assert.match((r.content as Array<{ text: string }>)[0]!.text, expected);
    } finally {
      await client.close();
    }
  });
}
