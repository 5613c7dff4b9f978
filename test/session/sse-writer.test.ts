// An SSE connection hands the events of one turn to the response together, on the next tick: what
// is written in a turn must still arrive whole and in order however the turn ends (finish, a
// `retry:` close, an eviction), and a burst past the byte bound must not be kept.
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { newStats } from '../../src/session/stats.js';
import { SseConnection, SseConnections } from '../../src/session/sse-writer.js';

const MAX_BUFFERED = 64 * 1024;
const connections = new SseConnections({ maxBufferedBytes: MAX_BUFFERED, stallTimeoutMs: 60_000 }, newStats(), 0);
let server: Server;
let url: string;
/** What each test does with its connection, in the request's own turn. */
let script: (conn: SseConnection, res: ServerResponse) => void = () => {};

before(async () => {
  server = createServer((_req, res) => {
    const conn = new SseConnection(res, connections);
    conn.start(undefined, ': open\n\n');
    script(conn, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
after(async () => {
  connections.stop();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** The whole response body as events and retry hints (the response must end). */
async function readAll(): Promise<{ events: EventSourceMessage[]; retries: number[] }> {
  const body = await (await fetch(url)).text();
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms) });
  parser.feed(body);
  return { events, retries };
}

const numbered = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

test('events written in the turn that finishes the stream all arrive, in order, before its end', async () => {
  script = (conn) => {
    for (const n of numbered(500)) conn.write(`s.${n}`, JSON.stringify({ n }));
    conn.finish();
  };
  const { events } = await readAll();
  assert.deepEqual(
    events.map((e) => e.id),
    numbered(500).map((n) => `s.${n}`),
  );
  assert.deepEqual(
    events.map((e) => (JSON.parse(e.data) as { n: string }).n),
    numbered(500),
  );
});

test('a close with retry in the same turn sends the turn’s events first, then the retry hint', async () => {
  script = (conn) => {
    conn.write('a.1', '"one"');
    conn.writeNamed('note', '"two"');
    conn.close(1234);
  };
  const { events, retries } = await readAll();
  assert.deepEqual(
    events.map((e) => [e.event, e.data]),
    [
      ['message', '"one"'],
      ['note', '"two"'],
    ],
  );
  assert.deepEqual(retries, [1234]);
});

test('events of several turns arrive in order, each turn after the one before', async () => {
  script = (conn) => {
    let turn = 0;
    const next = () => {
      turn++;
      for (let i = 1; i <= 50; i++) conn.write(`t.${turn * 100 + i}`, String(turn * 100 + i));
      if (turn < 20) setImmediate(next);
      else conn.finish();
    };
    next();
  };
  const { events } = await readAll();
  const expected: string[] = [];
  for (let turn = 1; turn <= 20; turn++) for (let i = 1; i <= 50; i++) expected.push(String(turn * 100 + i));
  assert.deepEqual(
    events.map((e) => e.data),
    expected,
  );
});

test('a burst past the byte bound in one turn cuts the connection and keeps nothing of it', async () => {
  const evictedBefore = connections.stats.slowClientsEvicted;
  let cut: SseConnection | undefined;
  let cutWithinTheTurn = false;
  script = (conn) => {
    cut = conn;
    const big = JSON.stringify('x'.repeat(1024));
    for (let i = 1; i <= 100; i++) conn.write(`b.${i}`, big); // ~100 KiB against a 64 KiB bound
    // The bound holds inside a turn too: a producer's loop cannot pile up unsent bytes until the flush.
    cutWithinTheTurn = conn.closed;
  };
  // The connection is cut before anything of the turn left (here, before the headers: fetch fails).
  const body = await fetch(url)
    .then((res) => res.text())
    .catch(() => '');
  assert.doesNotMatch(body, /id: b\./);
  assert.equal(connections.stats.slowClientsEvicted, evictedBefore + 1);
  assert.equal(cutWithinTheTurn, true);
  assert.equal(cut?.closed, true);
  assert.equal(connections.open.has(cut!), false);
});

test('an event larger than the byte bound reaches a client that reads, with the events of its turn', async () => {
  const evictedBefore = connections.stats.slowClientsEvicted;
  const big = JSON.stringify('y'.repeat(2 * MAX_BUFFERED));
  script = (conn) => {
    conn.write('s.1', '"small first"');
    conn.write('s.2', big); // a tool's large result, as a replay from the log starts
    conn.write('s.3', '"small after"');
    setTimeout(() => {
      conn.write('s.4', big);
      conn.finish();
    }, 50);
  };
  const { events } = await readAll();
  assert.deepEqual(
    events.map((e) => e.id),
    ['s.1', 's.2', 's.3', 's.4'],
  );
  assert.equal(events[1]!.data, big);
  assert.equal(connections.stats.slowClientsEvicted, evictedBefore);
});

test('a connection made for a client that already left (its request waited on a token check or Redis) is let go', async () => {
  let gone!: (res: ServerResponse) => void;
  const left = new Promise<ServerResponse>((r) => (gone = r));
  const late = createServer((req, res) => req.socket.once('close', () => setTimeout(() => gone(res), 10)));
  await new Promise<void>((r) => late.listen(0, '127.0.0.1', r));
  const socket = connect((late.address() as AddressInfo).port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n'));
  socket.on('error', () => {});
  setTimeout(() => socket.destroy(), 50);
  const res = await left;
  const conn = new SseConnection(res, connections);
  conn.start(undefined, ': open\n\n');
  let released = false;
  conn.onClosed = () => (released = true); // as the session does when it holds the stream, in the same turn
  await new Promise((r) => setImmediate(r));
  assert.ok(conn.closed && released, 'the session hears that its stream is gone');
  assert.ok(!connections.open.has(conn), 'nothing keeps it open (keepalives to a dead socket)');
  await new Promise((r) => late.close(r));
});
