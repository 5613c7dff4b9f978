// mcpwire's client at 2026-07-28: the SDK v1 Client through autoTransport({ modern: true }) speaks
// 2026 to a server that offers it (its 2025 conversation translated: initialize from discover,
// input_required answered by its own handlers, subscriptions and list changes through a listen
// stream, log level and cancellation) and falls back to 2025 Streamable HTTP and legacy SSE; and
// `mcpwire connect` bridging stdio hosts of either era.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { after, before, describe, test } from 'node:test';
import { autoTransport, HttpError, type McpWireServer } from '../../src/index.js';
import { ModernHttpClientTransport } from '../../src/client/modern.js';
import { cancelledCalls } from '../fixtures/everything.js';
import { startSdkServer, type SdkServer } from '../client/sdk-server.js';
import { sleep, startServer, waitFor } from '../helpers.js';
import { META } from './helpers.js';

function newClient(capabilities: Record<string, unknown> = {}): Client {
  return new Client({ name: 'v1-through-mcpwire', version: '1' }, { capabilities });
}

describe('autoTransport({ modern: true }) against mcpwire', () => {
  let server: McpWireServer;
  const opened: string[] = [];
  before(async () => {
    server = await startServer();
    server.handler.sessions.watch((e) => {
      if (e.type === 'session-opened') opened.push(e.sessionId);
    });
  });
  after(async () => {
    await server.close();
  });

  test('speaks 2026-07-28: no session, the server as discover describes it, tools called', async () => {
    const client = newClient();
    const transport = autoTransport(`${server.url}/mcp`, { modern: true });
    await client.connect(transport);
    assert.equal(transport.kind, 'modern');
    assert.equal(transport.sessionId, undefined);
    assert.equal(client.getServerVersion()?.name, 'mcpwire-everything');
    assert.ok(client.getServerCapabilities()?.tools);
    assert.ok((await client.listTools()).tools.some((t) => t.name === 'echo'));
    assert.deepEqual((await client.callTool({ name: 'echo', arguments: { text: 'modern' } })).content, [{ type: 'text', text: 'modern' }]);
    await assert.rejects(client.readResource({ uri: 'test://missing' }), (e: Error & { code?: number }) => e.code === -32602);
    assert.deepEqual(await client.ping(), {});
    assert.equal(opened.length, 0, 'no session was opened');
    await client.close();
  });

  test("input_required is answered by the client's own handlers, over several rounds", async () => {
    const client = newClient({ elicitation: {}, roots: {} });
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(req.params.message);
      return { action: 'accept', content: req.params.message.includes('color') ? { color: 'red' } : { name: 'Lin' } };
    });
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
    await client.connect(autoTransport(`${server.url}/mcp`, { modern: true }));
    const r = await client.callTool({ name: 'test_input_required_result_multi_round', arguments: {} });
    assert.deepEqual(r.content, [{ type: 'text', text: 'Lin likes red' }]);
    assert.deepEqual(asked, ['Step 1: What is your name?', 'Step 2: What is your favorite color?']);
    const roots = await client.callTool({ name: 'test_input_required_result_list_roots', arguments: {} });
    assert.deepEqual(roots.content, [{ type: 'text', text: 'roots: file:///work' }]);
    // A client without the capability: the server says so (-32021), nothing is asked.
    const bare = newClient();
    await bare.connect(autoTransport(`${server.url}/mcp`, { modern: true }));
    await assert.rejects(bare.callTool({ name: 'test_missing_capability', arguments: {} }), (e: Error & { code?: number }) => e.code === -32021);
    await client.close();
    await bare.close();
  });

  test('subscriptions and list changes arrive through a listen stream; the log level rides on requests', async () => {
    const client = newClient();
    const updates: string[] = [];
    let toolChanges = 0;
    const levels: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void updates.push(n.params.uri));
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => void toolChanges++);
    client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => void levels.push(n.params.level));
    await client.connect(autoTransport(`${server.url}/mcp`, { modern: true }));
    await client.subscribeResource({ uri: 'file:///watched.txt' });
    await sleep(300);
    await server.handler.notifyResourceUpdated('file:///watched.txt');
    await server.handler.notifyResourceUpdated('file:///other.txt');
    await waitFor(() => updates.length > 0, 5_000, 'the resource update');
    await client.callTool({ name: 'test_trigger_tool_change', arguments: {} });
    await waitFor(() => toolChanges > 0, 5_000, 'the tool list change');
    await client.unsubscribeResource({ uri: 'file:///watched.txt' });
    await sleep(300);
    await server.handler.notifyResourceUpdated('file:///watched.txt');
    await client.setLoggingLevel('warning');
    await client.callTool({ name: 'test_logging_tool', arguments: {} });
    await sleep(300);
    assert.deepEqual(updates, ['file:///watched.txt']);
    assert.deepEqual(levels, ['warning']);
    await client.close();
  });

  test('a cancelled request closes its stream; the server sees the cancellation', async () => {
    const client = newClient();
    await client.connect(autoTransport(`${server.url}/mcp`, { modern: true }));
    const ac = new AbortController();
    const call = client.callTool({ name: 'wait_for_cancel', arguments: {} }, undefined, { signal: ac.signal, onprogress: () => ac.abort() });
    await assert.rejects(call);
    await waitFor(() => cancelledCalls.size > 0 && [...cancelledCalls].some((id) => typeof id === 'number'), 10_000, 'the server-side cancellation');
    await client.close();
  });

  test('Mcp-Param headers are sent for tools that ask for them (base64 when not plain ASCII)', async () => {
    const client = newClient();
    await client.connect(autoTransport(`${server.url}/mcp`, { modern: true }));
    await client.listTools();
    const r = await client.callTool({ name: 'region_query', arguments: { region: 'Zürich', priority: 7 } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'region Zürich, priority 7' }]);
    await client.close();
  });

  test('after the server restarts, the listen stream is opened again and the client told to list again', async () => {
    const s = await startServer();
    const port = s.port;
    const client = newClient();
    let changes = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => void changes++);
    const transport = autoTransport(`${s.url}/mcp`, { modern: true, reconnect: { initialDelayMs: 100, maxDelayMs: 300 } });
    await client.connect(transport);
    await sleep(300);
    await s.close();
    const again = await startServer({ port });
    try {
      await waitFor(() => changes > 0, 15_000, 'the list change announced after the gap');
      assert.ok(transport.stats.resumes >= 1);
      await again.handler.notifyListChanged('tools');
      await waitFor(() => changes > 1, 5_000, 'a change on the new stream');
    } finally {
      await client.close();
      await again.close();
    }
  });
});

describe('autoTransport({ modern: true }) falls back', () => {
  let sdk: SdkServer;
  before(async () => {
    sdk = await startSdkServer();
  });
  after(async () => {
    await sdk.close();
  });

  test('to 2025 Streamable HTTP at a server that only speaks 2025', async () => {
    sdk.requests.length = 0;
    const client = newClient();
    const transport = autoTransport(`${sdk.url}/mcp`, { modern: true });
    await client.connect(transport);
    assert.equal(transport.kind, 'streamable');
    assert.deepEqual(sdk.requests.slice(0, 2).map((r) => r.line), ['POST /mcp', 'POST /mcp']);
    assert.deepEqual((await client.callTool({ name: 'echo', arguments: { text: '2025' } })).content, [{ type: 'text', text: '2025' }]);
    await client.close();
  });

  test('to legacy HTTP+SSE at a server without Streamable HTTP', async () => {
    const legacyOnly = await startSdkServer({ streamable: false });
    try {
      const client = newClient();
      const transport = autoTransport(`${legacyOnly.url}/mcp`, { modern: true });
      await client.connect(transport);
      assert.equal(transport.kind, 'sse');
      assert.deepEqual((await client.callTool({ name: 'echo', arguments: { text: 'sse' } })).content, [{ type: 'text', text: 'sse' }]);
      await client.close();
    } finally {
      await legacyOnly.close();
    }
  });

  test('never on 401: a refused token is reported, not fallen back from', async () => {
    const s = await startServer({ auth: { tokens: ['right-token-aaaaaaaaaa'] } });
    try {
      const client = newClient();
      await assert.rejects(client.connect(autoTransport(`${s.url}/mcp`, { modern: true, token: 'wrong-token-bbbbbbbbbb' })), (e: unknown) => e instanceof HttpError && e.status === 401);
      const ok = newClient();
      const t = autoTransport(`${s.url}/mcp`, { modern: true, token: 'right-token-aaaaaaaaaa' });
      await ok.connect(t);
      assert.equal(t.kind, 'modern');
      await ok.close();
    } finally {
      await s.close();
    }
  });

  test('only a discover result, or -32022 naming 2026-07-28, counts as a 2026 server', async () => {
    let answer: { status: number; body: unknown } = { status: 200, body: {} };
    const fake = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/mcp`;
    const error = (code: number, data?: unknown) => ({ jsonrpc: '2.0', id: 'mcpwire-discover', error: { code, message: 'x', data } });
    const cases: Array<[number, unknown, boolean]> = [
      [200, { jsonrpc: '2.0', id: 'mcpwire-discover', result: { resultType: 'complete', supportedVersions: ['2026-07-28'], capabilities: {} } }, true],
      [400, error(-32022, { supported: ['2026-07-28', '2099-01-01'], requested: '2026-07-28' }), true],
      [400, error(-32022, { supported: ['2099-01-01'], requested: '2026-07-28' }), false],
      [200, { jsonrpc: '2.0', id: 'mcpwire-discover', result: { capabilities: {} } }, false],
      [200, error(-32601), false],
      [400, error(-32000), false],
      [400, error(-32020), false],
      [404, error(-32601), false],
      [405, {}, false],
    ];
    try {
      for (const [status, body, modern] of cases) {
        answer = { status, body };
        const t = new ModernHttpClientTransport(url);
        assert.equal((await t.probe({ capabilities: {} })).modern, modern, `${status} ${JSON.stringify(body)}`);
        await t.close();
      }
      answer = { status: 401, body: error(-32000) };
      await assert.rejects(new ModernHttpClientTransport(url).probe({}), (e: unknown) => e instanceof HttpError && e.status === 401);
    } finally {
      await new Promise((r) => fake.close(r));
    }
  });
});

describe('mcpwire connect at 2026-07-28', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  function bridge(args: string[]) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'connect', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, MCPWIRE_LOG_LEVEL: 'warn' } });
    const messages: Array<Record<string, unknown>> = [];
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      partial += d.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) !== -1) {
        messages.push(JSON.parse(partial.slice(0, nl)) as Record<string, unknown>);
        partial = partial.slice(nl + 1);
      }
    });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    return {
      messages,
      send: (m: object) => child.stdin.write(JSON.stringify(m) + '\n'),
      answer: async (id: unknown) => {
        await waitFor(() => messages.some((m) => m.id === id && !('method' in m)), 20_000, `the answer to ${String(id)}`);
        return messages.find((m) => m.id === id && !('method' in m))!;
      },
      end: async () => {
        child.stdin.end();
        return exited;
      },
    };
  }

  test('--modern: a 2025 stdio host is served over 2026-07-28 (no session on the server)', async () => {
    const before = server.handler.sessions.sessions.size;
    const b = bridge([`${server.url}/mcp`, '--modern']);
    b.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'host', version: '1' } } });
    const init = await b.answer(1);
    assert.equal((init.result as { serverInfo: { name: string } }).serverInfo.name, 'mcpwire-everything');
    b.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    b.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'via stdio' } } });
    assert.deepEqual(((await b.answer(2)).result as { content: unknown }).content, [{ type: 'text', text: 'via stdio' }]);
    assert.equal(server.handler.sessions.sessions.size, before);
    assert.equal(await b.end(), 0);
  });

  test('a 2026 stdio host (requests with _meta) is passed through as it is, with the headers added', async () => {
    const b = bridge([`${server.url}/mcp`]);
    b.send({ jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: META } });
    const d = await b.answer('d');
    assert.ok(((d.result as { supportedVersions: string[] }).supportedVersions).includes('2026-07-28'));
    b.send({ jsonrpc: '2.0', id: 'e', method: 'tools/call', params: { name: 'test_input_required_result_elicitation', arguments: {}, _meta: { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } } } });
    const e = await b.answer('e');
    assert.equal((e.result as { resultType: string }).resultType, 'input_required', 'a 2026 host does its own multi round-trip');
    assert.equal(await b.end(), 0);
  });
});
