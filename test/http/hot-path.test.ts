// The request path's shortcuts (taken for speed, see bench/) change nothing a client can see: the
// legacy sessionId query in any spelling, JSON content types with parameters or in capitals, bodies
// arriving in many pieces, the headers of every SSE response, a POST stream's first bytes sent with
// its answer, and keepalives only on quiet streams.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { serve, type McpWireServer } from '../../src/index.js';
import { INIT, STREAMABLE_HEADERS, rawSession, readEvents, sleep, startServer } from '../helpers.js';

let server: McpWireServer;
const url = (p: string) => new URL(p, server.url);

before(async () => {
  server = await startServer();
});
after(() => server.close());

/** Opens a legacy stream; returns its session id and a reader of what follows the endpoint event. */
async function legacySession(): Promise<{ id: string; next: (until: (data: string) => boolean) => Promise<string[]>; close: () => Promise<void> }> {
  const res = await fetch(url('/sse'), { headers: { Accept: 'text/event-stream' } });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const more = async () => {
    const r = await reader.read();
    if (r.done) throw new Error('the stream ended');
    buffer += decoder.decode(r.value, { stream: true });
  };
  while (!/data: \/messages\?sessionId=([0-9a-f-]+)\n\n/.test(buffer)) await more();
  const id = /sessionId=([0-9a-f-]+)/.exec(buffer)![1]!;
  buffer = buffer.slice(buffer.indexOf('\n\n') + 2);
  return {
    id,
    async next(until) {
      const datas: string[] = [];
      for (let round = 0; round < 1_000; round++) {
        let end;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(event)?.[1];
          if (data === undefined) continue;
          datas.push(data);
          if (until(data)) return datas;
        }
        await more();
      }
      throw new Error('no matching event');
    },
    close: () => reader.cancel(),
  };
}

const post = (path: string, body: string, headers: Record<string, string> = { 'Content-Type': 'application/json' }) =>
  fetch(url(path), { method: 'POST', headers, body });

describe('legacy POST /messages', () => {
  test('the sessionId query reaches the session however it is spelled', async () => {
    const s = await legacySession();
    try {
      const init = JSON.stringify({ ...INIT, params: { ...INIT.params, protocolVersion: '2024-11-05' } });
      assert.equal((await post(`/messages?sessionId=${s.id}`, init)).status, 202);
      await s.next((d) => d.includes('"id":0'));
      const spellings = [
        `/messages?sessionId=${s.id}`,
        `/messages?sessionId=${encodeURIComponent(s.id).replace(/-/g, '%2D')}`,
        `/messages?trace=1&sessionId=${s.id}`,
        `/messages?sessionId=${s.id}&trace=1`,
      ];
      for (const [i, path] of spellings.entries()) {
        const res = await post(path, JSON.stringify({ jsonrpc: '2.0', id: 100 + i, method: 'ping' }));
        assert.equal(res.status, 202, path);
        assert.equal(await res.text(), 'Accepted');
        const datas = await s.next((d) => d.includes(`"id":${100 + i}`));
        assert.deepEqual(JSON.parse(datas.at(-1)!), { jsonrpc: '2.0', id: 100 + i, result: {} });
      }
      for (const path of [`/messages?sessionId=${s.id}x`, '/messages?sessionId=', '/messages?sessionid=' + s.id]) {
        const res = await post(path, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }));
        assert.ok(res.status === 404 || res.status === 400, `${path}: ${res.status}`);
        assert.ok((await res.text()).includes('"error"'));
      }
    } finally {
      await s.close();
    }
  });
});

describe('request bodies', () => {
  test('JSON content types with parameters or capitals are accepted; others are 415', async () => {
    const id = await rawSession(server.url);
    const ping = (n: number) => JSON.stringify({ jsonrpc: '2.0', id: n, method: 'ping' });
    for (const [i, type] of ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json ;charset=UTF-8'].entries()) {
      const res = await post('/mcp', ping(i + 1), { ...STREAMABLE_HEADERS, 'Content-Type': type, 'Mcp-Session-Id': id });
      assert.equal(res.status, 200, type);
      const events = await readEvents(res, (e) => e.data.includes('"result"'));
      assert.deepEqual(JSON.parse(events.at(-1)!.data), { jsonrpc: '2.0', id: i + 1, result: {} });
    }
    for (const type of ['application/jsonx', 'text/json', 'application/json-seq']) {
      const res = await post('/mcp', ping(9), { ...STREAMABLE_HEADERS, 'Content-Type': type, 'Mcp-Session-Id': id });
      assert.equal(res.status, 415, type);
      await res.text();
    }
  });

  test('a body sent in many small pieces, a multi-byte character split between them, arrives whole', async () => {
    const id = await rawSession(server.url);
    const text = 'snowman ☃, dragon 🐉, é'.repeat(40);
    const bytes = new TextEncoder().encode(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text } } }));
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(at, at + 7)); // 7 bytes: most characters above are cut in two
        at += 7;
      },
    });
    const res = await fetch(url('/mcp'), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id },
      body,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 200);
    const events = await readEvents(res, (e) => e.data.includes('"result"'));
    const reply = JSON.parse(events.at(-1)!.data) as { id: number; result: { content: Array<{ text: string }> } };
    assert.equal(reply.id, 7);
    assert.equal(reply.result.content[0]!.text, text);
  });

  test('an empty body is a parse error', async () => {
    const id = await rawSession(server.url);
    const res = await post('/mcp', '', { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: number } }).error.code, -32700);
  });
});

describe('SSE responses', () => {
  test('the byte counters count bytes, not characters', async () => {
    const id = await rawSession(server.url);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 'b-1', method: 'tools/call', params: { name: 'echo', arguments: { text: 'héllo wörld 🌍' } } });
    const before = { ...server.handler.stats };
    const res = await post('/mcp', body, { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id, 'MCP-Protocol-Version': '2025-11-25' });
    const events = await readEvents(res, (e) => e.data !== '');
    const answer = events.find((e) => e.data.includes('wörld'))!.data;
    assert.notEqual(Buffer.byteLength(body), body.length, 'the body has multi-byte characters');
    assert.equal(server.handler.stats.bytesIn - before.bytesIn, Buffer.byteLength(body));
    assert.equal(server.handler.stats.bytesOut - before.bytesOut, Buffer.byteLength(answer));
  });

  test('a POST stream carries the SSE headers, the session id, a priming event, then the response', async () => {
    const id = await rawSession(server.url);
    const res = await post('/mcp', JSON.stringify({ jsonrpc: '2.0', id: 'a-1', method: 'ping' }), { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('cache-control'), 'no-cache, no-transform');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    assert.equal(res.headers.get('mcp-session-id'), id);
    const events = await readEvents(res, (e) => e.data !== '');
    assert.equal(events[0]!.data, '');
    assert.match(events[0]!.id!, /^r\.[A-Za-z0-9_-]+\.0$/);
    assert.deepEqual(JSON.parse(events[1]!.data), { jsonrpc: '2.0', id: 'a-1', result: {} });
    assert.equal(events[1]!.event, 'message');
  });

  test('an answer a few milliseconds late leaves in one write with the status line and the priming event', async () => {
    const id = await rawSession(server.url);
    const call = JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'slow', arguments: { ms: 5 } } });
    const socket = connect(Number(url('/').port), '127.0.0.1');
    try {
      await once(socket, 'connect');
      const reads: string[] = [];
      socket.on('data', (chunk: Buffer) => reads.push(chunk.toString()));
      socket.write(
        `POST /mcp HTTP/1.1\r\nHost: ${url('/').host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n` +
          `Mcp-Session-Id: ${id}\r\nContent-Length: ${Buffer.byteLength(call)}\r\n\r\n${call}`,
      );
      for (let i = 0; i < 200 && !reads.join('').includes('\r\n0\r\n\r\n'); i++) await sleep(25);
      // Written apart, the headers and the answer would come in two reads, 5 ms apart.
      assert.equal(reads.length, 1, `${reads.length} reads: ${JSON.stringify(reads)}`);
      assert.match(reads[0]!, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n[\s\S]*id: r\.[^\n]*\.0\nretry: \d+\ndata: \n\n[\s\S]*"slept 5"[\s\S]*\r\n0\r\n\r\n$/);
    } finally {
      socket.destroy();
    }
  });

  test('a slow answer finds its stream open and primed long before it comes', async () => {
    const id = await rawSession(server.url);
    const call = JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'slow', arguments: { ms: 2_000 } } });
    const res = await post('/mcp', call, { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^id: r\.[^\n]*\.0\nretry: \d+\ndata: \n\n$/, 'the priming event, alone: the tool still runs');
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    assert.ok(rest.includes('"slept 2000"'));
  });
});

describe('keepalive', () => {
  let dripping: McpWireServer;
  before(async () => {
    dripping = await serve({
      port: 0,
      keepAliveMs: 300,
      createServer: () => {
        const mcp = new McpServer({ name: 'drip', version: '1.0.0' }, { capabilities: { tools: {}, logging: {} } });
        mcp.registerTool('drip', { inputSchema: { count: z.number().int(), everyMs: z.number().int() } }, async ({ count, everyMs }, extra) => {
          for (let i = 0; i < count; i++) {
            await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: i } });
            await sleep(everyMs);
          }
          return { content: [{ type: 'text' as const, text: 'dripped' }] };
        });
        return mcp;
      },
    });
  });
  after(() => dripping.close());

  test('a stream that carries events gets no keepalive comments; a quiet one does', async () => {
    const id = await rawSession(dripping.url);
    const headers = { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id };
    const quiet = await fetch(new URL('/mcp', dripping.url), { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': id } });
    assert.equal(quiet.status, 200);
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'drip', arguments: { count: 40, everyMs: 50 } } };
    const busy = await fetch(new URL('/mcp', dripping.url), { method: 'POST', headers, body: JSON.stringify(call) });
    assert.equal(busy.status, 200);
    const busyText = await busy.text(); // ends with the response, about 2 s (6 keepalive periods) later
    const reader = quiet.body!.getReader();
    let quietText = '';
    while (!quietText.includes(': keepalive')) quietText += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    assert.equal((busyText.match(/^data: \{.*"notifications\/message"/gm) ?? []).length, 40);
    const keepalives = (busyText.match(/^: keepalive$/gm) ?? []).length;
    // One at most, for a pause of the whole process longer than a keepalive period on a loaded machine.
    assert.ok(keepalives <= 1, `${keepalives} keepalive comments on a stream with an event every 50 ms`);
    assert.ok(busyText.includes('"dripped"'));
  });
});
