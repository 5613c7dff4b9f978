// Every refusal: the right status, a JSON-RPC error body, the input never echoed, no crash, and the
// sessions already open keep working afterwards.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { McpWireServer } from '../../src/index.js';
import { INIT, STREAMABLE_HEADERS, connectClient, rawSession, readToEnd, startServer } from '../helpers.js';

const MARKER = 'ECHO-CANARY-7f3a';

let server: McpWireServer;
let bystanders: Client[];
let session: string;

before(async () => {
  server = await startServer({ maxBodyBytes: 64 * 1024 });
  bystanders = [await connectClient(server.url, 'sse'), await connectClient(server.url, 'mcp')];
  session = await rawSession(server.url);
});
after(async () => {
  for (const c of bystanders) await c.close();
  await server.close();
});

interface Case {
  name: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  status: number;
  code?: number;
  allow?: string;
}

const url = (p: string) => new URL(p, server.url);
/** Cases are listed before the session exists: this placeholder is replaced when a case runs. */
const SESSION = '$session';
const withSession = () => ({ ...STREAMABLE_HEADERS, 'Mcp-Session-Id': SESSION });
const resolveHeaders = (h: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v === SESSION ? session : v]));

function cases(): Case[] {
  const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { note: MARKER } });
  return [
    { name: 'PUT on /mcp', method: 'PUT', path: '/mcp', status: 405, code: -32000, allow: 'GET, POST, DELETE' },
    { name: 'POST on /sse', method: 'POST', path: '/sse', headers: STREAMABLE_HEADERS, body: ping, status: 405, code: -32000, allow: 'GET' },
    { name: 'GET on /messages', method: 'GET', path: '/messages?sessionId=x', status: 405, code: -32000, allow: 'POST' },
    { name: 'POST /mcp with Accept: application/json only', path: '/mcp', headers: { ...withSession(), Accept: 'application/json' }, body: ping, status: 406, code: -32000 },
    { name: 'GET /mcp without text/event-stream', method: 'GET', path: '/mcp', headers: { Accept: 'application/json', 'Mcp-Session-Id': SESSION }, status: 406, code: -32000 },
    { name: 'POST /mcp with text/plain', path: '/mcp', headers: { ...withSession(), 'Content-Type': 'text/plain' }, body: ping, status: 415, code: -32000 },
    { name: 'POST /messages with text/plain', path: '/messages?sessionId=x', headers: { 'Content-Type': 'text/plain' }, body: ping, status: 415, code: -32000 },
    { name: 'body over maxBodyBytes (declared)', path: '/mcp', headers: withSession(), body: Buffer.alloc(70 * 1024, 0x20), status: 413, code: -32000 },
    { name: 'unparseable JSON', path: '/mcp', headers: withSession(), body: `{"jsonrpc": "2.0", ${MARKER}`, status: 400, code: -32700 },
    { name: 'unparseable JSON on /messages', path: '/messages?sessionId=x', headers: { 'Content-Type': 'application/json' }, body: `[${MARKER}`, status: 400, code: -32700 },
    { name: 'JSON that is not JSON-RPC', path: '/mcp', headers: withSession(), body: JSON.stringify({ hello: MARKER }), status: 400, code: -32600 },
    { name: 'wrong jsonrpc version', path: '/mcp', headers: withSession(), body: JSON.stringify({ jsonrpc: '1.0', id: 1, method: MARKER }), status: 400, code: -32600 },
    { name: 'null request id', path: '/mcp', headers: withSession(), body: JSON.stringify({ jsonrpc: '2.0', id: null, method: 'ping' }), status: 400, code: -32600 },
    // Its response stream could not be resumed: the event ids naming it would be too long to be taken back.
    { name: 'a request id over 256 bytes', path: '/mcp', headers: withSession(), body: JSON.stringify({ jsonrpc: '2.0', id: MARKER + 'é'.repeat(130), method: 'ping' }), status: 400, code: -32600 },
    { name: 'params that are not an object', path: '/mcp', headers: withSession(), body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: [MARKER] }), status: 400, code: -32600 },
    { name: 'empty batch', path: '/mcp', headers: withSession(), body: '[]', status: 400, code: -32600 },
    { name: 'batch in a 2025-11-25 session', path: '/mcp', headers: withSession(), body: `[${ping},${ping}]`, status: 400, code: -32600 },
    { name: 'batched initialize', path: '/mcp', headers: STREAMABLE_HEADERS, body: JSON.stringify([INIT]), status: 400, code: -32600 },
    { name: 'initialize again in a session', path: '/mcp', headers: withSession(), body: JSON.stringify(INIT), status: 400, code: -32600 },
    { name: 'a request without Mcp-Session-Id', path: '/mcp', headers: STREAMABLE_HEADERS, body: ping, status: 400, code: -32000 },
    { name: 'an unknown session', path: '/mcp', headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': `nope-${MARKER}` }, body: ping, status: 404, code: -32001 },
    { name: 'GET /mcp for an unknown session', method: 'GET', path: '/mcp', headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': 'nope' }, status: 404, code: -32001 },
    { name: 'DELETE /mcp for an unknown session', method: 'DELETE', path: '/mcp', headers: { 'Mcp-Session-Id': 'nope' }, status: 404, code: -32001 },
    { name: 'DELETE /mcp without a session', method: 'DELETE', path: '/mcp', status: 400, code: -32000 },
    { name: 'POST /messages for an unknown session', path: `/messages?sessionId=${MARKER}`, headers: { 'Content-Type': 'application/json' }, body: ping, status: 404, code: -32001 },
    { name: 'POST /messages without sessionId', path: '/messages', headers: { 'Content-Type': 'application/json' }, body: ping, status: 400, code: -32000 },
    { name: 'unsupported MCP-Protocol-Version', path: '/mcp', headers: { ...withSession(), 'MCP-Protocol-Version': '1999-01-01' }, body: ping, status: 400, code: -32000 },
    // Not a date: it sorts after 2026-07-28, yet names no revision, old or new.
    { name: 'an MCP-Protocol-Version that is not a version', path: '/mcp', headers: { ...withSession(), 'MCP-Protocol-Version': 'zzz' }, body: ping, status: 400, code: -32000 },
    { name: 'a Last-Event-ID this server never issued', method: 'GET', path: '/mcp', headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': SESSION, 'Last-Event-ID': MARKER }, status: 400, code: -32000 },
    { name: 'a Last-Event-ID of a stream the session never had', method: 'GET', path: '/mcp', headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': SESSION, 'Last-Event-ID': 'r.OTk5.3' }, status: 410, code: -32000 },
    { name: 'a legacy Last-Event-ID of an unknown session', method: 'GET', path: '/sse', headers: { Accept: 'text/event-stream', 'Last-Event-ID': `${MARKER}/l.3` }, status: 404, code: -32001 },
    { name: 'a bad Host', path: '/mcp', headers: { ...STREAMABLE_HEADERS, Host: 'evil.example.com' }, body: JSON.stringify(INIT), status: 403, code: -32000 },
    { name: 'a bad Origin', path: '/mcp', headers: { ...STREAMABLE_HEADERS, Origin: 'http://evil.example.com' }, body: JSON.stringify(INIT), status: 403, code: -32000 },
    { name: 'a bad Origin on /sse', method: 'GET', path: '/sse', headers: { Accept: 'text/event-stream', Origin: 'http://evil.example.com' }, status: 403, code: -32000 },
    { name: 'a bad Host on /messages', path: '/messages?sessionId=x', headers: { 'Content-Type': 'application/json', Host: 'evil.example.com' }, body: '{}', status: 403, code: -32000 },
    { name: 'an unknown path', method: 'GET', path: '/nothing-here', status: 404, code: -32000 },
  ];
}

let pings = 0;
async function assertBystandersWork(): Promise<void> {
  for (const c of bystanders) {
    const r = await c.callTool({ name: 'echo', arguments: { text: 'still here' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'still here' }]);
  }
  const id = `after-${++pings}`;
  const ok = await fetch(url('/mcp'), { method: 'POST', headers: resolveHeaders(withSession()), body: JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' }) });
  assert.equal(ok.status, 200);
  const reply = (await ok.text()).split('\n').find((l) => l.startsWith('data: {'));
  assert.deepEqual(JSON.parse(reply!.slice(6)), { jsonrpc: '2.0', id, result: {} });
}

describe('refusals', () => {
  for (const c of cases()) {
    test(c.name, async () => {
      const headers = new Headers(resolveHeaders(c.headers));
      // fetch refuses to send Host; a raw socket does it for the Host cases.
      let status: number;
      let text: string;
      let allow: string | null = null;
      let contentType: string | null;
      if (headers.has('host')) {
        ({ status, text, contentType } = await rawRequest(c.method ?? 'POST', c.path ?? '/mcp', resolveHeaders(c.headers), c.body));
      } else {
        const res = await fetch(url(c.path ?? '/mcp'), { method: c.method ?? 'POST', headers, body: c.body ?? null });
        status = res.status;
        allow = res.headers.get('allow');
        contentType = res.headers.get('content-type');
        text = await res.text();
      }
      assert.equal(status, c.status, text);
      assert.match(contentType ?? '', /^application\/json/);
      const body = JSON.parse(text) as { jsonrpc: string; id: unknown; error: { code: number; message: string } };
      assert.equal(body.jsonrpc, '2.0');
      assert.equal(body.id, null);
      assert.equal(body.error.code, c.code);
      assert.ok(body.error.message.length > 0);
      assert.ok(!text.includes(MARKER), 'the input must never be echoed');
      if (c.allow) assert.equal(allow, c.allow);
      await assertBystandersWork();
    });
  }

  test('a body over the limit without Content-Length is cut while it streams in', async () => {
    const chunk = new TextEncoder().encode(' '.repeat(16 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 2000) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(url('/mcp'), { method: 'POST', headers: resolveHeaders(withSession()), body, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: number } }).error.code, -32000);
    assert.ok(sent < 2000, `the server stopped reading early (the client wrote ${sent} of 2000 chunks of 16 KiB)`);
    await assertBystandersWork();
  });

  test('a request id still in flight, in a batch or alone, is refused (400) and the running requests are unharmed', async () => {
    const v = '2025-03-26';
    const init = await fetch(url('/mcp'), { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify({ ...INIT, params: { ...INIT.params, protocolVersion: v } }) });
    await init.text();
    const headers = { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': init.headers.get('mcp-session-id')!, 'MCP-Protocol-Version': v };
    const slow = (id: number, ms: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms, note: MARKER } } });
    const running = await fetch(url('/mcp'), { method: 'POST', headers, body: JSON.stringify([slow(1, 500), slow(2, 500)]) });
    assert.equal(running.status, 200);
    // The second request of the batch has no stream of its own for a repeat to join.
    for (const body of [[slow(3, 0), slow(2, 0)], slow(2, 0)]) {
      const res = await fetch(url('/mcp'), { method: 'POST', headers, body: JSON.stringify(body) });
      const text = await res.text();
      assert.equal(res.status, 400, text);
      assert.match(text, /already in use/);
      assert.ok(!text.includes(MARKER), 'the input must never be echoed');
    }
    const answers = (await readToEnd(running)).filter((e) => e.data !== '').map((e) => (JSON.parse(e.data) as { id: number }).id);
    assert.deepEqual(answers.sort(), [1, 2]);
    const twice = await fetch(url('/mcp'), { method: 'POST', headers, body: JSON.stringify([slow(4, 0), slow(4, 0)]) });
    assert.equal(twice.status, 400, 'one id twice in a batch');
    assert.match(await twice.text(), /used twice/);
    // A batch whose first request is answered runs on while its second does: that first id, sent again,
    // joins the batch's stream (as a request sent again does), it does not start a stream of its own.
    const batch = await fetch(url('/mcp'), { method: 'POST', headers, body: JSON.stringify([slow(10, 0), slow(11, 600)]) });
    await new Promise((r) => setTimeout(r, 200));
    const again = await fetch(url('/mcp'), { method: 'POST', headers, body: JSON.stringify(slow(10, 0)) });
    assert.equal(again.status, 200);
    const joined = (await readToEnd(again)).filter((e) => e.data !== '').map((e) => (JSON.parse(e.data) as { id: number }).id);
    assert.deepEqual(joined.sort(), [10, 11], 'the batch stream from its start, to its end');
    await batch.body?.cancel();
    await assertBystandersWork();
  });

  test('a second initialize on a legacy session is refused (400) and the session goes on at its version', async () => {
    const hangUp = new AbortController();
    const stream = await fetch(url('/sse'), { headers: { Accept: 'text/event-stream' }, signal: hangUp.signal });
    const reader = stream.body!.getReader();
    let seen = '';
    const until = async (re: RegExp) => {
      while (!re.test(seen)) seen += new TextDecoder().decode((await reader.read()).value);
    };
    await until(/data: (\/messages\S+)/);
    const endpoint = url(/data: (\/messages\S+)/.exec(seen)![1]!);
    const postLegacy = (body: unknown) => fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await postLegacy({ ...INIT, params: { ...INIT.params, protocolVersion: '2024-11-05' } })).status, 202);
    await until(/"id":0[,}]/);
    const again = await postLegacy({ ...INIT, id: 1, params: { ...INIT.params, protocolVersion: '2025-06-18', clientInfo: { name: MARKER, version: '1' } } });
    const text = await again.text();
    assert.equal(again.status, 400, text);
    assert.equal((JSON.parse(text) as { error: { code: number } }).error.code, -32600);
    assert.ok(!text.includes(MARKER));
    assert.equal((await postLegacy({ jsonrpc: '2.0', id: 2, method: 'ping' })).status, 202);
    await until(/"id":2[,}]/);
    assert.ok(!seen.includes('"id":1'), 'the second initialize never reached the server');
    hangUp.abort();
    await assertBystandersWork();
  });

  test('malformed HTTP gets 400 and the server goes on', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write(`GARBAGE ${MARKER}\r\n\r\n`));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.ok(!reply.includes(MARKER));
    await assertBystandersWork();
  });
});

function rawRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | Buffer | undefined,
): Promise<{ status: number; text: string; contentType: string | null }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
    const lines = [`${method} ${path} HTTP/1.1`, 'Connection: close', `Content-Length: ${payload.length}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    const socket = connect(server.port, '127.0.0.1', () => {
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      socket.write(payload);
    });
    let data = '';
    socket.on('data', (d) => (data += d.toString()));
    socket.on('error', reject);
    socket.on('end', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]);
      const ct = /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? null;
      resolve({ status, text: rest.join('\r\n\r\n'), contentType: ct });
    });
  });
}
