// fanout: N sessions hold their streams; one of them calls `broadcast` with n = E, and every session
// should receive E numbered, timestamped notifications → delivered events/s, delivery latency,
// missing and duplicate counts, server CPU per event delivered.
import { wallMs } from '../servers/args.js';
import { round2, Samples } from '../stats.js';
import { closeSessions, CpuWindow, openSessions, sleep, type Endpoint } from './common.js';

export interface FanoutResult {
  sessions: number;
  eventsPerSession: number;
  expected: number;
  delivered: number;
  missing: number;
  duplicates: number;
  seconds: number;
  eventsPerS: number;
  p50Ms: number;
  p99Ms: number;
  serverUsPerEvent: number;
  setupFailures: number;
  firstError?: string;
}

export async function runFanout(e: Endpoint, count: number, events: number, timeoutMs: number): Promise<FanoutResult> {
  const opened = await openSessions(e, count, { holdStream: true, concurrency: 16, deadline: performance.now() + 60_000 });
  const { sessions } = opened;
  const latency = new Samples(count * events);
  let received = 0;
  let unique = 0;
  let lastAt = 0;
  for (const s of sessions) {
    const seen = new Uint8Array(events + 1);
    s.onNotification = (m) => {
      const data = (m.params as { data?: { seq?: number; t?: number } } | undefined)?.data;
      if (typeof data?.seq !== 'number' || typeof data.t !== 'number') return;
      const now = wallMs();
      received++;
      lastAt = performance.now();
      if (data.seq < 1 || data.seq > events || seen[data.seq]) return;
      seen[data.seq] = 1;
      unique++;
      latency.add(now - data.t);
    };
  }
  await sleep(500);
  const expected = sessions.length * events;
  const cpu = new CpuWindow(e.server.pid);
  const t0 = performance.now();
  let firstError = opened.firstError;
  const caller = sessions[0];
  const call = caller
    ? caller.request('tools/call', { name: 'broadcast', arguments: { n: events } }).then(
        (r) => r.error && (firstError ??= r.error.message),
        (err: Error) => (firstError ??= err.message),
      )
    : Promise.resolve();
  const deadline = t0 + timeoutMs;
  while (unique < expected && performance.now() < deadline) await sleep(20);
  await Promise.race([call, sleep(Math.max(0, deadline - performance.now()))]);
  // Late duplicates, if any, would arrive now.
  await sleep(300);
  const used = cpu.end();
  await closeSessions(sessions);
  const ms = (lastAt || performance.now()) - t0;
  const [p50, p99] = latency.percentiles(50, 99);
  return {
    sessions: sessions.length,
    eventsPerSession: events,
    expected,
    delivered: unique,
    missing: expected - unique,
    duplicates: received - unique,
    seconds: round2(ms / 1000),
    eventsPerS: Math.round((unique * 1000) / ms),
    p50Ms: p50!,
    p99Ms: p99!,
    serverUsPerEvent: unique > 0 ? round2(used.ns / 1000 / unique) : NaN,
    setupFailures: opened.failures,
    ...(firstError ? { firstError } : {}),
  };
}
