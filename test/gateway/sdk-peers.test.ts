// The official SDK client through the gateway, on both wire formats: in front of the reference
// server from npm (@modelcontextprotocol/server-everything) and of the "everything" fixture over stdio.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connectAnsweringClient, connectClient, waitFor, type WireName } from '../helpers.js';
import { EVERYTHING_STDIO, SERVER_EVERYTHING, processesMarked, startGateway, type RunningGateway } from './fixtures/gateway.js';

/** DELETE for Streamable HTTP; the legacy session ends when its stream does. */
async function endSession(client: Client): Promise<void> {
  const t = client.transport;
  if (t instanceof StreamableHTTPClientTransport) await t.terminateSession();
  await client.close();
}

describe('in front of @modelcontextprotocol/server-everything (stdio, from npm)', () => {
  let gw: RunningGateway;
  before(async () => {
    // A legacy session ends soon after its stream does (the SDK client does not come back).
    gw = await startGateway(SERVER_EVERYTHING, { legacyReconnectGraceMs: 300 });
  });
  after(async () => {
    await gw.close();
    assert.deepEqual(processesMarked(gw.marker), []);
  });

  for (const wire of ['sse', 'mcp'] as WireName[]) {
    test(`SDK client over ${wire === 'sse' ? '/sse' : '/mcp'}: lists and calls tools`, async () => {
      const client = await connectClient(gw.url, wire);
      try {
        assert.equal(client.getServerVersion()?.name, 'mcp-servers/everything');
        const { tools } = await client.listTools();
        assert.ok(tools.some((t) => t.name === 'echo'), 'the reference server lists echo');
        const r = await client.callTool({ name: 'echo', arguments: { message: `hello over ${wire}` } });
        assert.match(JSON.stringify(r.content), new RegExp(`hello over ${wire}`));
        const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
        assert.match(JSON.stringify(sum.content), /5/);
      } finally {
        await endSession(client);
      }
    });
  }

  test('each session has its own server process, which ends with the session', async () => {
    await waitFor(() => gw.gateway.children === 0, 15_000, 'earlier sessions\' children gone');
    const a = await connectClient(gw.url, 'mcp');
    const b = await connectClient(gw.url, 'sse');
    assert.equal(gw.gateway.children, 2);
    assert.equal(processesMarked(gw.marker).length, 4, 'two servers, each with its watcher');
    await endSession(a);
    await endSession(b);
    await waitFor(() => gw.gateway.children === 0, 15_000, 'children gone');
    await waitFor(() => processesMarked(gw.marker).length === 0, 5_000, 'no marked process left');
  });
});

describe('in front of the "everything" fixture over stdio', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway(EVERYTHING_STDIO);
  });
  after(async () => {
    await gw.close();
    assert.deepEqual(processesMarked(gw.marker), []);
  });

  for (const wire of ['sse', 'mcp'] as WireName[]) {
    describe(`SDK client over ${wire === 'sse' ? '/sse' : '/mcp'}`, () => {
      let client: Client;
      before(async () => {
        client = await connectAnsweringClient(gw.url, wire);
      });
      after(async () => {
        await client.close();
      });

      test('tools/list and tools/call', async () => {
        const { tools } = await client.listTools();
        assert.ok(tools.some((t) => t.name === 'echo'));
        const r = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
        assert.deepEqual(r.content, [{ type: 'text', text: 'hello' }]);
      });

      test('progress notifications reach the caller during the call', async () => {
        const seen: number[] = [];
        await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => seen.push(p.progress) });
        assert.deepEqual(seen, [0, 50, 100]);
      });

      test('logging notifications arrive', async () => {
        const logs: unknown[] = [];
        client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.data));
        await client.setLoggingLevel('debug');
        await client.callTool({ name: 'test_tool_with_logging', arguments: {} });
        assert.deepEqual(logs, ['logging tool started', 'logging tool working', 'logging tool done']);
      });

      test('server→client sampling and elicitation requests are answered by this client', async () => {
        const s = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'ping' } });
        assert.deepEqual(s.content, [{ type: 'text', text: 'sampled: echo of ping' }]);
        const e = await client.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } });
        assert.match(JSON.stringify(e.content), /elicitation accept: .*ada/);
      });

      test('resources and prompts', async () => {
        const text = await client.readResource({ uri: 'test://static-text' });
        assert.equal((text.contents[0] as { text: string }).text, 'static text content');
        const p = await client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'one', arg2: 'two' } });
        assert.match(JSON.stringify(p.messages), /one and two/);
      });
    });
  }
});
