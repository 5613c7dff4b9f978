// The SDK `Client` over each mcpwire client transport, against mcpwire's server and against a
// server built of the SDK's own server transports.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { AutoTransport, SseClientTransport, StreamableHttpClientTransport, type McpWireServer } from '../../src/index.js';
import { startServer, waitFor } from '../helpers.js';
import { startSdkServer, type SdkServer } from './sdk-server.js';

type Kind = 'streamable' | 'sse' | 'auto';

function transportFor(kind: Kind, base: string, options: ConstructorParameters<typeof StreamableHttpClientTransport>[1] = {}): Transport {
  if (kind === 'sse') return new SseClientTransport(`${base}/sse`, options);
  if (kind === 'streamable') return new StreamableHttpClientTransport(`${base}/mcp`, options);
  return new AutoTransport(`${base}/mcp`, options);
}

async function connected(transport: Transport): Promise<Client> {
  const client = new Client({ name: 'mcpwire-client-test', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    role: 'assistant',
    model: 'test-model',
    content: { type: 'text', text: `echo of ${(req.params.messages[0]!.content as { text: string }).text}` },
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { username: 'ada' } }));
  await client.connect(transport);
  return client;
}

/** What any MCP client must be able to do over the transport. */
function exercise(name: string, open: () => Promise<{ client: Client; transport: Transport }>): void {
  describe(name, () => {
    let client: Client;
    let transport: Transport;
    before(async () => {
      ({ client, transport } = await open());
    });
    after(async () => {
      await client.close();
    });

    test('initialize, tools/list and tools/call', async () => {
      assert.equal(client.getServerVersion()?.name, 'mcpwire-everything');
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'echo'));
      const r = await client.callTool({ name: 'echo', arguments: { text: 'over the wire' } });
      assert.deepEqual(r.content, [{ type: 'text', text: 'over the wire' }]);
    });

    test('progress and log notifications reach the client during the call', async () => {
      const seen: number[] = [];
      await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => seen.push(p.progress) });
      assert.deepEqual(seen, [0, 50, 100]);
      const logs: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.data));
      await client.setLoggingLevel('debug');
      await client.callTool({ name: 'test_tool_with_logging', arguments: {} });
      await waitFor(() => logs.length === 3, 5_000, 'three log messages');
      assert.deepEqual(logs, ['logging tool started', 'logging tool working', 'logging tool done']);
    });

    test('server→client requests (sampling, elicitation) are answered', async () => {
      const s = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'ping' } });
      assert.deepEqual(s.content, [{ type: 'text', text: 'sampled: echo of ping' }]);
      const e = await client.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } });
      assert.deepEqual(e.content, [{ type: 'text', text: 'elicitation accept: {"username":"ada"}' }]);
    });

    test('resources and prompts', async () => {
      const text = await client.readResource({ uri: 'test://static-text' });
      assert.equal((text.contents[0] as { text: string }).text, 'static text content');
      const p = await client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'one', arg2: 'two' } });
      assert.match(JSON.stringify(p.messages), /one and two/);
    });

    test('unrelated server notifications arrive (GET stream / legacy stream)', async () => {
      const ticks: number[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        const d = n.params.data as { tick?: number };
        if (d?.tick !== undefined) ticks.push(d.tick);
      });
      // The GET stream opens right after initialize, in the background: wait until it is there.
      await waitFor(() => !(transport instanceof StreamableHttpClientTransport) || listening(transport), 5_000, 'the GET stream');
      await client.callTool({ name: 'tick', arguments: { n: 5 } });
      await waitFor(() => ticks.length === 5, 5_000, 'five ticks');
      assert.deepEqual(ticks, [1, 2, 3, 4, 5]);
    });
  });
}

function listening(t: StreamableHttpClientTransport): boolean {
  return (t as unknown as { listening: boolean }).listening;
}

describe('against mcpwire’s server', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });
  for (const kind of ['streamable', 'sse', 'auto'] as Kind[]) {
    exercise(`${kind} transport`, async () => {
      const transport = transportFor(kind, server.url);
      return { client: await connected(transport), transport };
    });
  }

  test('auto settles on Streamable HTTP, and closing the client DELETEs its session', async () => {
    const transport = new AutoTransport(`${server.url}/mcp`);
    const client = await connected(transport);
    assert.equal(transport.kind, 'streamable');
    const id = transport.sessionId!;
    assert.ok(server.handler.sessions.sessions.get(id));
    await client.close();
    assert.equal(server.handler.sessions.sessions.get(id), undefined, 'the session ended with the DELETE');
  });

  test('the SDK Client sees no session id on the legacy transport (it would skip initialize)', async () => {
    const transport = new SseClientTransport(`${server.url}/sse`);
    const client = await connected(transport);
    assert.equal((transport as Transport).sessionId, undefined);
    assert.equal(client.getServerVersion()?.name, 'mcpwire-everything');
    await client.close();
  });
});

describe('bearer token and custom headers on every request', () => {
  let server: McpWireServer;
  const seen: Array<{ method: string; path: string; custom: string | undefined }> = [];
  before(async () => {
    server = await startServer({
      auth: {
        verifyToken: (token, req) => {
          seen.push({ method: req.method!, path: req.url!.split('?')[0]!, custom: req.headers['x-custom'] as string | undefined });
          return token === 'sekret' ? { token, clientId: 'tester', scopes: [] } : undefined;
        },
      },
    });
  });
  after(async () => {
    await server.close();
  });

  for (const kind of ['streamable', 'sse'] as Kind[]) {
    test(`${kind}: every request, the SSE GET included, carries both`, async () => {
      seen.length = 0;
      const transport = transportFor(kind, server.url, { token: 'sekret', headers: { 'X-Custom': 'c1' } });
      const client = await connected(transport);
      await client.listTools();
      await waitFor(() => seen.some((s) => s.method === 'GET'), 5_000, 'the SSE GET');
      await client.close();
      const methods = new Set(seen.map((s) => `${s.method} ${s.path}`));
      const expected = kind === 'sse' ? ['GET /sse', 'POST /messages'] : ['POST /mcp', 'GET /mcp', 'DELETE /mcp'];
      for (const e of expected) assert.ok(methods.has(e), `${e} was seen (${[...methods].join(', ')})`);
      assert.ok(seen.every((s) => s.custom === 'c1'), 'X-Custom on every request');
    });

    test(`${kind}: a wrong token is reported as the server's 401, not as something else`, async () => {
      const transport = transportFor(kind, server.url, { token: 'wrong' });
      const client = new Client({ name: 't', version: '1' });
      await assert.rejects(client.connect(transport), (err: Error & { status?: number }) => {
        assert.equal(err.status, 401);
        assert.match(err.message, /401/);
        assert.doesNotMatch(err.message, /wrong/, 'the token is not in the message');
        return true;
      });
    });
  }
});

describe('against a server built on the SDK’s own transports', () => {
  let sdk: SdkServer;
  before(async () => {
    sdk = await startSdkServer();
  });
  after(async () => {
    await sdk.close();
  });
  for (const kind of ['streamable', 'sse', 'auto'] as Kind[]) {
    exercise(`${kind} transport`, async () => {
      const transport = transportFor(kind, sdk.url, { headers: { 'X-Custom': 'sdk' }, token: 'tok' });
      return { client: await connected(transport), transport };
    });
  }

  test('headers went out on every request the SDK server saw', () => {
    assert.ok(sdk.requests.length > 20);
    assert.ok(sdk.requests.some((r) => r.line === 'GET /sse'));
    assert.ok(sdk.requests.some((r) => r.line === 'GET /mcp'));
    for (const r of sdk.requests) {
      assert.equal(r.custom, 'sdk', r.line);
      assert.equal(r.authorization, 'Bearer tok', r.line);
    }
  });
});
