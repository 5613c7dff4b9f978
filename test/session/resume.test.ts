// Fault tests: connections killed in the middle of bursts of numbered notifications, resumed with
// Last-Event-ID; every number arrives exactly once, in order — on Streamable HTTP and on legacy SSE.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Tally, pump } from '../sse-tally.js';
import type { McpWireServer } from '../../src/index.js';
import { INIT, STREAMABLE_HEADERS, rawSession, readToEnd, startServer, waitFor } from '../helpers.js';
import { startTcpProxy, type TcpProxy } from '../tcp-proxy.js';

let server: McpWireServer;
let proxy: TcpProxy;
before(async () => {
  server = await startServer({ retryMs: 50 });
  proxy = await startTcpProxy(server.port);
});
after(async () => {
  await proxy.close();
  await server.close();
});

const callTool = (sessionId: string, id: number, name: string, args: Record<string, unknown>, base = server.url) =>
  fetch(new URL('/mcp', base), {
    method: 'POST',
    headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }),
  });

const getStream = (sessionId: string, lastEventId?: string, base = proxy.url) =>
  fetch(new URL('/mcp', base), {
    headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sessionId, ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) },
  });

describe('Streamable HTTP', () => {
  test('the GET stream is cut twice during 1,000 notifications and resumed: each arrives once, in order', async () => {
    const id = await rawSession(server.url);
    const tally = new Tally('tick');
    let stream = pump(await getStream(id), tally.onEvent);
    const call = callTool(id, 1, 'tick', { n: 1000, delayMs: 1 }).then((r) => r.text());
    let resumes = 0;
    for (const cutAt of [300, 700]) {
      await waitFor(() => tally.numbers.length >= cutAt, 20_000, `${cutAt} notifications`);
      assert.equal(proxy.cut(), 1);
      assert.equal(await stream, 'broken');
      const res = await getStream(id, tally.lastId);
      assert.equal(res.status, 200);
      resumes++;
      stream = pump(res, tally.onEvent);
    }
    await call;
    await waitFor(() => tally.numbers.length >= 1000, 20_000, 'all 1,000 notifications');
    tally.assertExactlyOnceInOrder(1000);
    assert.equal(resumes, 2);
    await fetch(new URL('/mcp', server.url), { method: 'DELETE', headers: { 'Mcp-Session-Id': id } });
    assert.equal(await stream, 'ended');
  });

  test('a POST stream is cut twice during 1,000 notifications: the rest and the result come on resumed GETs', async () => {
    const id = await rawSession(server.url);
    const tally = new Tally('seq');
    let stream = pump(await callTool(id, 7, 'burst', { n: 1000, delayMs: 1 }, proxy.url), tally.onEvent);
    for (const cutAt of [300, 700]) {
      await waitFor(() => tally.numbers.length >= cutAt, 20_000, `${cutAt} notifications`);
      proxy.cut();
      assert.equal(await stream, 'broken');
      assert.match(tally.lastId ?? '', /^r\.Nw\.\d+$/, 'POST stream ids name the request');
      const res = await getStream(id, tally.lastId);
      assert.equal(res.status, 200);
      stream = pump(res, tally.onEvent);
    }
    assert.equal(await stream, 'ended', 'the resumed stream ends after the result');
    tally.assertExactlyOnceInOrder(1000);
    assert.deepEqual(tally.result, { content: [{ type: 'text', text: 'sent 1000' }] });
    // The stream is complete: resuming it again is answered 204 (stop reconnecting), not an empty loop.
    const again = await getStream(id, tally.lastId);
    assert.equal(again.status, 204);
  });

  test('a request with the longest id allowed: its stream resumes from the id it was given', async () => {
    const sid = await rawSession(server.url);
    const id = 'é'.repeat(127); // 256 bytes as JSON, the most a request id may have
    const controller = new AbortController();
    const res = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 300 } } }),
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const priming = /^id: (\S+)$/m.exec(new TextDecoder().decode((await reader.read()).value))![1]!;
    controller.abort();
    const resumed = await getStream(sid, priming, server.url);
    assert.equal(resumed.status, 200);
    const answer = (await readToEnd(resumed)).find((e) => e.data.includes('"result"'));
    assert.equal((JSON.parse(answer!.data) as { id: string }).id, id);
  });

  test('a finished POST stream goes after finishedStreamTtlMs even when no other POST comes', async () => {
    const short = await startServer({ finishedStreamTtlMs: 300, sessionIdleMs: 2_000 });
    try {
      const sid = await rawSession(short.url);
      const res = await callTool(sid, 1, 'echo', { text: 'kept a while' }, short.url);
      const events = await readToEnd(res);
      const priming = events[0]!.id!;
      assert.equal((await getStream(sid, priming, short.url)).status, 200, 'resumable while it is kept');
      await new Promise((r) => setTimeout(r, 1_200)); // past its TTL, and a sweep
      const gone = await getStream(sid, priming, short.url);
      assert.equal(gone.status, 410);
      assert.equal(((await gone.json()) as { error: { data: { reason: string } } }).error.data.reason, 'stream_unknown');
    } finally {
      await short.close();
    }
  });

  test('the initialize stream is let go once the client says it is initialized, not kept for the TTL', async () => {
    const init = await fetch(new URL('/mcp', server.url), { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify(INIT) });
    const sid = init.headers.get('mcp-session-id')!;
    const priming = (await readToEnd(init))[0]!.id!;
    const replay = await getStream(sid, priming, server.url);
    assert.equal(replay.status, 200, 'resumable until then');
    assert.ok((await readToEnd(replay)).some((e) => e.data.includes('"protocolVersion"')), 'the answer is replayed');
    const initialized = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    assert.equal(initialized.status, 202);
    const gone = await getStream(sid, priming, server.url);
    assert.equal(gone.status, 410);
    assert.equal(((await gone.json()) as { error: { data: { reason: string } } }).error.data.reason, 'stream_unknown');
    // The session itself goes on.
    const echo = await readToEnd(await callTool(sid, 2, 'echo', { text: 'still here' }));
    assert.ok(echo.some((e) => e.data.includes('still here')));
  });

  test('a cursor that fell off the log is answered 410 with a reason, not silence', async () => {
    const small = await startServer({ eventLogMaxEvents: 10 });
    try {
      const id = await rawSession(small.url);
      const tally = new Tally('tick');
      const controller = new AbortController();
      const res = await fetch(new URL('/mcp', small.url), { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': id }, signal: controller.signal });
      void pump(res, tally.onEvent);
      await (await callTool(id, 1, 'tick', { n: 3 }, small.url)).text();
      await waitFor(() => tally.numbers.length === 3, 5_000, 'three ticks');
      controller.abort();
      const early = tally.lastId!;
      await (await callTool(id, 2, 'tick', { n: 50 }, small.url)).text();
      const gone = await getStream(id, early, small.url);
      assert.equal(gone.status, 410);
      const body = (await gone.json()) as { error: { code: number; data: { reason: string } } };
      assert.equal(body.error.code, -32000);
      assert.equal(body.error.data.reason, 'cursor_expired');
      assert.ok(small.handler.stats.eventsDropped >= 40, 'the lost events are counted');
    } finally {
      await small.close();
    }
  });

  test('a new GET stream takes over from a half-open one: no 409, the old one is closed', async () => {
    const id = await rawSession(server.url);
    const first = await getStream(id, undefined, server.url);
    const firstDone = pump(first, () => {});
    const second = await getStream(id, undefined, server.url);
    assert.equal(second.status, 200);
    assert.equal(await firstDone, 'ended');
    const tally = new Tally('tick');
    const secondDone = pump(second, tally.onEvent);
    await (await callTool(id, 1, 'tick', { n: 5 })).text();
    await waitFor(() => tally.numbers.length === 5, 5_000, 'ticks on the new stream');
    await fetch(new URL('/mcp', server.url), { method: 'DELETE', headers: { 'Mcp-Session-Id': id } });
    await secondDone;
  });

  test('notifications sent while no stream is open wait in the log for the next stream', async () => {
    const id = await rawSession(server.url);
    await (await callTool(id, 1, 'tick', { n: 25 })).text();
    const tally = new Tally('tick');
    const done = pump(await getStream(id, undefined, server.url), tally.onEvent);
    await waitFor(() => tally.numbers.length === 25, 5_000, 'the waiting notifications');
    tally.assertExactlyOnceInOrder(25);
    await fetch(new URL('/mcp', server.url), { method: 'DELETE', headers: { 'Mcp-Session-Id': id } });
    await done;
  });

  test('replay isolation: a Last-Event-ID of session A presented on session B replays nothing of A', async () => {
    const a = await rawSession(server.url);
    const b = await rawSession(server.url);
    const note = (owner: string, n: number) => ({ jsonrpc: '2.0' as const, method: 'notifications/message', params: { level: 'info', data: { owner, n } } });
    const engine = server.handler.sessions;
    for (let n = 1; n <= 10; n++) void engine.sessions.get(a)!.send(note('A', n));
    for (let n = 1; n <= 5; n++) void engine.sessions.get(b)!.send(note('B', n));
    const aEvents: EventSourceMessage[] = [];
    const controller = new AbortController();
    const aRes = await fetch(new URL('/mcp', server.url), { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': a }, signal: controller.signal });
    void pump(aRes, (e) => aEvents.push(e));
    await waitFor(() => aEvents.length === 11, 5_000, 'A’s ten events after the priming event');
    controller.abort();
    const cursorOfA = aEvents[2]!.id!; // A's second message
    const onB: EventSourceMessage[] = [];
    const bRes = await getStream(b, cursorOfA, server.url);
    assert.equal(bRes.status, 200);
    const bDone = pump(bRes, (e) => onB.push(e));
    await waitFor(() => onB.filter((e) => e.data).length === 3, 5_000, 'B’s own events 3..5');
    const owners = onB.filter((e) => e.data).map((e) => (JSON.parse(e.data) as { params: { data: { owner: string; n: number } } }).params.data);
    assert.deepEqual(owners, [{ owner: 'B', n: 3 }, { owner: 'B', n: 4 }, { owner: 'B', n: 5 }]);
    const beyond = await getStream(b, 'g.99', server.url);
    assert.equal(beyond.status, 410, 'a cursor B never issued replays nothing');
    await beyond.text();
    await fetch(new URL('/mcp', server.url), { method: 'DELETE', headers: { 'Mcp-Session-Id': a } });
    await fetch(new URL('/mcp', server.url), { method: 'DELETE', headers: { 'Mcp-Session-Id': b } });
    await bDone;
  });

  test('reconnect storm: 500 sessions lose their streams at once and all resume; nothing lost, no 409', async () => {
    const storm = await startServer({ retryMs: 50 });
    const stormProxy = await startTcpProxy(storm.port);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 500; i += 50) ids.push(...(await Promise.all(Array.from({ length: 50 }, () => rawSession(storm.url)))));
      const tallies = ids.map(() => new Tally('tick'));
      const opened = await Promise.all(ids.map((id) => getStream(id, undefined, stormProxy.url)));
      let pumps = opened.map((r, i) => pump(r, tallies[i]!.onEvent));
      const sessions = ids.map((id) => storm.handler.sessions.sessions.get(id)!);
      const send = (from: number, to: number) => {
        for (let n = from; n <= to; n++) {
          for (const s of sessions) void s.send({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: { tick: n } } });
        }
      };
      send(1, 10);
      await waitFor(() => tallies.every((t) => t.numbers.length === 10), 20_000, 'the first ten on every stream');
      assert.equal(stormProxy.cut(), 500);
      send(11, 20); // sent while every stream is down
      await Promise.all(pumps);
      const statuses = await Promise.all(ids.map((id, i) => getStream(id, tallies[i]!.lastId, stormProxy.url)));
      assert.deepEqual([...new Set(statuses.map((r) => r.status))], [200]);
      pumps = statuses.map((r, i) => pump(r, tallies[i]!.onEvent));
      send(21, 30);
      await waitFor(() => tallies.every((t) => t.numbers.length >= 30), 20_000, 'thirty on every stream');
      for (const t of tallies) t.assertExactlyOnceInOrder(30);
      assert.ok(storm.handler.stats.replays >= 500);
      stormProxy.cut();
      await Promise.all(pumps);
    } finally {
      await stormProxy.close();
      await storm.close();
    }
  });
});

describe('legacy HTTP+SSE', () => {
  test('EventSource reconnects by itself with Last-Event-ID to the same session and misses nothing', async () => {
    const tally = new Tally('tick');
    const endpoints: string[] = [];
    const es = new EventSource(`${proxy.url}/sse`);
    es.addEventListener('endpoint', (e) => endpoints.push(e.data));
    es.addEventListener('message', (e) => tally.onEvent({ id: e.lastEventId, data: e.data, event: 'message' }));
    try {
      await waitFor(() => endpoints.length === 1, 5_000, 'the endpoint event');
      const endpoint = new URL(endpoints[0]!, server.url);
      const post = (body: unknown) =>
        fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status);
      assert.equal(await post(INIT), 202);
      assert.equal(await post({ jsonrpc: '2.0', method: 'notifications/initialized' }), 202);
      assert.equal(await post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'tick', arguments: { n: 1000, delayMs: 1 } } }), 202);
      for (const cutAt of [300, 700]) {
        await waitFor(() => tally.numbers.length >= cutAt, 20_000, `${cutAt} notifications`);
        proxy.cut();
      }
      await waitFor(() => tally.result !== undefined && tally.numbers.length >= 1000, 30_000, 'all 1,000 and the result');
      tally.assertExactlyOnceInOrder(1000);
      assert.ok(endpoints.length >= 3, 'the endpoint event is sent again on each reattach');
      assert.deepEqual(new Set(endpoints).size, 1, 'always the same session');
    } finally {
      es.close();
    }
  });

  test('without Last-Event-ID a new stream is a new session (today’s behaviour)', async () => {
    const first = await fetch(new URL('/sse', server.url), { headers: { Accept: 'text/event-stream' } });
    const firstEndpoint = await endpointOf(first);
    const second = await fetch(new URL('/sse', server.url), { headers: { Accept: 'text/event-stream' } });
    const secondEndpoint = await endpointOf(second);
    assert.notEqual(firstEndpoint, secondEndpoint);
  });

  test('a legacy Last-Event-ID naming another session than ?sessionId= is refused', async () => {
    const a = await endpointOf(await fetch(new URL('/sse', server.url), { headers: { Accept: 'text/event-stream' } }));
    const b = await endpointOf(await fetch(new URL('/sse', server.url), { headers: { Accept: 'text/event-stream' } }));
    const sidA = new URL(a, server.url).searchParams.get('sessionId')!;
    const sidB = new URL(b, server.url).searchParams.get('sessionId')!;
    const res = await fetch(new URL(`/sse?sessionId=${sidB}`, server.url), { headers: { Accept: 'text/event-stream', 'Last-Event-ID': `${sidA}/l.0` } });
    assert.equal(res.status, 400);
    assert.ok(!(await res.text()).includes(sidA));
  });
});

describe('with auth, a legacy Last-Event-ID cannot cross principals', () => {
  test('another principal presenting the id gets 404', async () => {
    const authed = await startServer({ auth: { tokens: ['one', 'two'] } });
    try {
      const res = await fetch(new URL('/sse', authed.url), { headers: { Accept: 'text/event-stream', Authorization: 'Bearer one' } });
      const endpoint = await endpointOf(res);
      const sid = new URL(endpoint, authed.url).searchParams.get('sessionId')!;
      const stolen = await fetch(new URL('/sse', authed.url), { headers: { Accept: 'text/event-stream', Authorization: 'Bearer two', 'Last-Event-ID': `${sid}/l.0` } });
      assert.equal(stolen.status, 404);
      await stolen.text();
    } finally {
      await authed.close();
    }
  });
});

async function endpointOf(res: Response): Promise<string> {
  let endpoint: string | undefined;
  const reader = res.body!.getReader();
  const parser = createParser({ onEvent: (e) => void (e.event === 'endpoint' && (endpoint = e.data)) });
  while (endpoint === undefined) parser.feed(new TextDecoder().decode((await reader.read()).value));
  await reader.cancel();
  return endpoint;
}
