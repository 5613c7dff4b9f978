// Backpressure: a client that never reads is cut off at maxBufferedBytes and never makes the server
// grow, while 100 fast clients each receive 10,000 events, all of them, in order, on time.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { createParser } from 'eventsource-parser';
import { STREAMABLE_HEADERS, rawSession, waitFor } from '../helpers.js';

const FAST = 100;
const EVENTS = 10_000;
const MAX_BUFFERED = 256 * 1024;
/**
 * The stated bounds: the server runs with a 128 MiB old-space cap, and its RSS may grow by at most
 * RSS_BOUND during the bursts. What it must hold is ~45 MiB (100 sessions' SDK servers) plus ~21 MiB
 * (each fast session's event log at its 1,000-event bound); retaining the slow client's 80 MB as
 * well would exhaust the cap.
 */
const HEAP_CAP_MIB = 128;
const RSS_BOUND = 192 * 1024 * 1024;
const FLOOD = { n: 20_000, pad: 4096 };

let child: ChildProcess;
let base: string;

before(async () => {
  child = spawn(process.execPath, [`--max-old-space-size=${HEAP_CAP_MIB}`, '--import', 'tsx', 'test/fixtures/fanout-server.ts'], {
    env: { ...process.env, MAX_BUFFERED_BYTES: String(MAX_BUFFERED), KEEPALIVE_MS: '60000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  base = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
});
after(() => {
  child.kill('SIGKILL');
});

const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024;

interface Fast {
  id: string;
  next: number;
  outOfOrder: number;
  latencies: number[];
  abort: AbortController;
}

async function openFast(): Promise<Fast> {
  const f: Fast = { id: await rawSession(base), next: 1, outOfOrder: 0, latencies: [], abort: new AbortController() };
  const res = await fetch(`${base}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': f.id }, signal: f.abort.signal });
  assert.equal(res.status, 200);
  const parser = createParser({
    onEvent: (e) => {
      if (!e.data) return;
      const data = (JSON.parse(e.data) as { params?: { data?: { seq?: number; t?: number } } }).params?.data;
      if (typeof data?.seq !== 'number') return;
      if (data.seq === 1) f.next = 1; // a new burst
      if (data.seq !== f.next) f.outOfOrder++;
      f.next = data.seq + 1;
      f.latencies.push(Date.now() - data.t!);
    },
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  void (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      parser.feed(decoder.decode(r.value, { stream: true }));
    }
  })().catch(() => {});
  return f;
}

/** A client that opens its GET stream and then never reads a byte. */
async function openSlow(): Promise<{ socket: Socket; id: string }> {
  const id = await rawSession(base);
  const { port } = new URL(base);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.write(`GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nMcp-Session-Id: ${id}\r\n\r\n`);
  socket.pause();
  return { socket, id };
}

const call = (sessionId: string, name: string, args: Record<string, unknown>) =>
  fetch(`${base}/mcp`, {
    method: 'POST',
    headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sessionId },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  }).then((r) => r.text());

/** A burst of EVENTS to every session; with `slowId`, that session is also flooded with ~80 MB. */
async function burst(fast: Fast[], slowId?: string): Promise<{ peakRssGrowth: number; p50: number; p99: number }> {
  for (const f of fast) f.latencies.length = 0;
  const before = rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 50);
  await Promise.all([call(fast[0]!.id, 'broadcast', { n: EVENTS, pad: 64 }), slowId ? call(slowId, 'flood', FLOOD) : undefined]);
  await waitFor(() => fast.every((f) => f.latencies.length === EVENTS), 120_000, 'every fast client to receive every event');
  clearInterval(sampler);
  const all = fast.flatMap((f) => f.latencies).sort((a, b) => a - b);
  return { peakRssGrowth: peak - before, p50: all[Math.floor(all.length * 0.5)]!, p99: all[Math.floor(all.length * 0.99)]! };
}

test('one client that never reads, 100 that do: bounded memory, nothing lost, latency unaffected', async () => {
  const fast = [];
  for (let i = 0; i < FAST; i += 20) fast.push(...(await Promise.all(Array.from({ length: 20 }, openFast))));

  const alone = await burst(fast);
  const slow = await openSlow();
  const withSlow = await burst(fast, slow.id);

  for (const f of fast) assert.equal(f.outOfOrder, 0, 'every fast client got 1…10,000 in order');
  console.log(
    `slow consumer: server RSS growth ${(withSlow.peakRssGrowth / 2 ** 20).toFixed(1)} MiB (bound ${RSS_BOUND / 2 ** 20} MiB); ` +
      `fast clients' delivery latency p50/p99 ${alone.p50}/${alone.p99} ms alone, ${withSlow.p50}/${withSlow.p99} ms beside the slow client`,
  );
  assert.ok(withSlow.peakRssGrowth < RSS_BOUND, `RSS grew ${withSlow.peakRssGrowth} bytes`);
  assert.ok(withSlow.p99 <= Math.max(2 * alone.p99, alone.p99 + 250), 'the slow client does not hold back the others');

  // The slow client was cut off at its byte bound: reading now ends after what the kernel buffered
  // plus at most maxBufferedBytes, instead of the ~80 MB it was sent.
  let received = 0;
  slow.socket.on('data', (d: Buffer) => (received += d.length));
  slow.socket.resume();
  await waitFor(() => slow.socket.destroyed || slow.socket.readableEnded, 30_000, 'the server to have cut the slow client');
  assert.ok(received < 20 * 2 ** 20, `the slow client was cut off after ${received} bytes`);
  console.log(`slow consumer: cut off after ${(received / 2 ** 20).toFixed(1)} MiB of ~80 MiB sent`);
  assert.equal(child.exitCode, null, 'the server is still running');

  for (const f of fast) f.abort.abort();
});
