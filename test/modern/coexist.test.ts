// Both eras on one port (C1–C9 of the brief's test plan): 2025 sessions, legacy HTTP+SSE and
// 2026-07-28 stateless requests side by side; the SDK v1 client, the SDK v2 client in its default
// (2025) mode and the SDK v2 client negotiating 2026-07-28, all against one mcpwire server.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ElicitRequestSchema, ErrorCode, McpError, ReadResourceRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { McpWireServer } from '../../src/index.js';
import { connectClient, INIT, rawSession, readEvents, sleep, startServer, STREAMABLE_HEADERS } from '../helpers.js';
import { isAck, ListenReader, META, modern, openListen, subscriptionIdOf } from './helpers.js';

const logLines: string[] = [];
let server: McpWireServer;
let url: string;

before(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  server = await startServer({ logger: pino({ level: 'warn' }, sink) });
  url = server.url;
});
after(async () => {
  await server.close();
});

const mcp = () => new URL('/mcp', url);

async function openGet(sid: string, lastEventId?: string): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' };
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  return fetch(mcp(), { headers });
}

describe('2025-era traffic beside 2026-07-28', () => {
  test('C1: initialize, initialized and the GET stream work as before', async () => {
    const init = await fetch(mcp(), { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify(INIT) });
    assert.equal(init.status, 200);
    const sid = init.headers.get('mcp-session-id');
    assert.ok(sid);
    await init.text();
    const done = await fetch(mcp(), { method: 'POST', headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    assert.equal(done.status, 202);
    const get = await openGet(sid);
    assert.equal(get.status, 200);
    assert.ok(get.headers.get('content-type')!.includes('text/event-stream'));
    await get.body!.cancel();
  });

  test('C2: initialize asking for 2026-07-28 negotiates 2025-11-25', async () => {
    const body = { ...INIT, params: { ...INIT.params, protocolVersion: '2026-07-28' } };
    const res = await fetch(mcp(), { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify(body) });
    const events = await readEvents(res, (e) => e.data.includes('"result"'));
    const result = JSON.parse(events.find((e) => e.data.includes('"result"'))!.data).result;
    assert.equal(result.protocolVersion, '2025-11-25');
    assert.equal(result.resultType, undefined, 'no 2026 fields on 2025 results');
  });

  test('C3: one change reaches a 2025 GET stream unstamped and a 2026 listen stamped, once each', async () => {
    const sid = await rawSession(url);
    const get = await openGet(sid);
    const getEvents: string[] = [];
    const getDone = readEvents(get, (e) => {
      if (e.data) getEvents.push(e.data);
      return false;
    }, 3_000);
    const listen = new ListenReader(await openListen(url, 'c3', { toolsListChanged: true }));
    await listen.next(isAck);
    await sleep(100);
    await server.handler.notifyListChanged('tools');
    await listen.next((m) => m.method === 'notifications/tools/list_changed');
    await getDone;
    const onGet = getEvents.map((d) => JSON.parse(d) as { method: string; params?: { _meta?: unknown } }).filter((m) => m.method === 'notifications/tools/list_changed');
    assert.equal(onGet.length, 1);
    assert.equal(onGet[0]!.params?._meta, undefined);
    const onListen = listen.events.filter((m) => m.method === 'notifications/tools/list_changed');
    assert.equal(onListen.length, 1);
    assert.equal(subscriptionIdOf(onListen[0]!), 'c3');
    await listen.close();
  });

  test('C4: a dropped 2025 GET stream resumes with Last-Event-ID; 2026 streams carry no event ids', async () => {
    const sid = await rawSession(url);
    const first = await openGet(sid);
    const seen = readEvents(first, (e) => e.data.includes('tools/list_changed'));
    await sleep(100);
    await server.handler.notifyListChanged('tools');
    const events = await seen;
    const lastId = events.at(-1)!.id!;
    assert.ok(lastId);
    await server.handler.notifyListChanged('prompts');
    const again = await openGet(sid, lastId);
    const replayed = await readEvents(again, (e) => e.data.includes('prompts/list_changed'), 5_000);
    assert.ok(replayed.some((e) => e.data.includes('prompts/list_changed')));
    const listen = new ListenReader(await openListen(url, 'c4', { promptsListChanged: true }));
    await listen.next(isAck);
    await server.handler.notifyListChanged('prompts');
    await listen.next((m) => m.method === 'notifications/prompts/list_changed');
    assert.doesNotMatch(listen.raw, /^id:/m);
    await listen.close();
  });

  test('C5: a claim-less request without a session gets the 2025 answer; a claim-bearing one never does', async () => {
    const legacy = await fetch(mcp(), { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    assert.equal(legacy.status, 400);
    const body = (await legacy.json()) as { error: { code: number; message: string } };
    assert.equal(body.error.code, -32000);
    assert.match(body.error.message, /Mcp-Session-Id/);
    const claim = await modern(url, 'tools/list');
    assert.equal(claim.status, 200);
    assert.ok(Array.isArray(claim.body!.result!.tools));
  });

  test('C6: a backend answer is passed to 2025 clients as it is (-32002), and adapted for 2026 (-32602 + uri)', async () => {
    const s = await startServer({
      createServer: () => {
        const low = new Server({ name: 'old', version: '1' }, { capabilities: { resources: {} } });
        low.setRequestHandler(ReadResourceRequestSchema, async (req) => {
          throw new McpError(-32002 as ErrorCode, `Resource not found: ${req.params.uri}`);
        });
        return low;
      },
    });
    try {
      const client = await connectClient(s.url, 'mcp');
      await assert.rejects(client.readResource({ uri: 'test://missing' }), (err: McpError) => err.code === -32002);
      await client.close();
      const r = await modern(s.url, 'resources/read', { uri: 'test://missing' });
      assert.equal(r.body!.error!.code, -32602);
      assert.deepEqual(r.body!.error!.data, { uri: 'test://missing' });
    } finally {
      await s.close();
    }
  });

  test('C7: legacy HTTP+SSE works unchanged; its deprecation is logged once', async () => {
    const a = await connectClient(url, 'sse');
    const b = await connectClient(url, 'sse');
    assert.ok((await a.listTools()).tools.length > 0);
    assert.deepEqual((await b.callTool({ name: 'echo', arguments: { text: 'sse' } })).content, [{ type: 'text', text: 'sse' }]);
    await a.close();
    await b.close();
    assert.equal(logLines.filter((l) => l.includes('HTTP+SSE (2024-11-05), deprecated')).length, 1);
  });

  test('C9: GET and DELETE without a session get 400, with an unknown one 404; never a stream', async () => {
    for (const method of ['GET', 'DELETE']) {
      const none = await fetch(mcp(), { method, headers: { Accept: 'text/event-stream' } });
      assert.equal(none.status, 400, method);
      assert.ok(none.headers.get('content-type')!.includes('application/json'));
      await none.text();
      const unknown = await fetch(mcp(), { method, headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': 'no-such-session' } });
      assert.equal(unknown.status, 404, method);
      await unknown.text();
    }
    // The 2026 header does not turn a GET into anything else.
    const modernGet = await fetch(mcp(), { headers: { Accept: 'text/event-stream', 'MCP-Protocol-Version': '2026-07-28' } });
    assert.equal(modernGet.status, 400);
    await modernGet.text();
  });
});

describe('C8: SDK clients of both generations against one server', () => {
  test('SDK v1 → 2025; SDK v2 default → 2025; SDK v2 auto → 2026-07-28 with no initialize', async () => {
    const opened: string[] = [];
    const unwatch = server.handler.sessions.watch((e) => {
      if (e.type === 'session-opened') opened.push(e.sessionId);
    });
    try {
      const v1 = await connectClient(url, 'mcp', { elicitation: {} });
      assert.equal(opened.length, 1);
      assert.deepEqual((await v1.callTool({ name: 'echo', arguments: { text: 'v1' } })).content, [{ type: 'text', text: 'v1' }]);

      const v2legacy = new ClientV2({ name: 'v2-default', version: '1' }, { capabilities: {} });
      await v2legacy.connect(new TransportV2(mcp()));
      assert.equal(v2legacy.getProtocolEra(), 'legacy');
      assert.equal(v2legacy.getNegotiatedProtocolVersion(), '2025-11-25');
      assert.equal(opened.length, 2);

      const v2 = new ClientV2({ name: 'v2-auto', version: '1' }, { capabilities: { elicitation: {} }, versionNegotiation: { mode: 'auto' } });
      v2.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
      await v2.connect(new TransportV2(mcp()));
      assert.equal(v2.getProtocolEra(), 'modern');
      assert.equal(v2.getNegotiatedProtocolVersion(), '2026-07-28');
      assert.equal(v2.getServerVersion()?.name, 'mcpwire-everything');
      assert.ok((await v2.listTools()).tools.some((t) => t.name === 'echo'));
      const mrtr = await v2.callTool({ name: 'test_input_required_result_elicitation', arguments: {} });
      assert.deepEqual(mrtr.content, [{ type: 'text', text: 'Hello, Ada!' }]);
      // A tool written for 2025 (a plain server→client request) reaches the 2026 client as input_required.
      const plain = await v2.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } });
      assert.match(JSON.stringify(plain.content), /elicitation accept/);
      // The 2025 clients keep working beside it, with server→client requests on their sessions.
      const v1elicit = new Promise<void>((resolve) => {
        v1.setRequestHandler(ElicitRequestSchema, async () => {
          resolve();
          return { action: 'accept', content: { username: 'u', email: 'e' } };
        });
      });
      await v1.callTool({ name: 'test_elicitation', arguments: { message: 'hi' } });
      await v1elicit;
      assert.equal((await v2legacy.listTools()).tools.length > 0, true);

      let changes = 0;
      v2.setNotificationHandler('notifications/tools/list_changed', async () => {
        changes++;
      });
      const sub = await v2.listen({ toolsListChanged: true });
      assert.deepEqual(sub.honoredFilter, { toolsListChanged: true });
      await v2.callTool({ name: 'test_trigger_tool_change', arguments: {} });
      const end = Date.now() + 5_000;
      while (changes === 0 && Date.now() < end) await sleep(20);
      assert.equal(changes, 1);
      await sub.close();
      assert.equal(await sub.closed, 'local');
      assert.equal(opened.length, 2, 'the 2026 client opened no session');

      await v1.close();
      await v2legacy.close();
      await v2.close();
    } finally {
      unwatch();
    }
  });

  test('a 2026 request carrying META and the header of another era is still decided by the body', async () => {
    const r = await modern(url, 'tools/list', {}, { meta: META, headers: { 'MCP-Protocol-Version': '2025-11-25' } });
    assert.equal(r.status, 400);
    assert.equal(r.body!.error!.code, -32020);
  });
});
