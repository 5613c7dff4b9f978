// sessions: N sessions opened (handshake done, server→client SSE stream held), `concurrency`
// handshakes at a time over a shared pool of POST connections → time to establish, failures, server
// RSS before and after → KiB per idle session, and how many streams were still held at the end.
// They open in two halves with a settle after each: besides (after − before) / N, the second half's
// growth gives the marginal cost of one more idle session, once the heap has found its size.
import { Pool } from 'undici';
import type { LoadSession } from '../load/session.js';
import { rssKiB } from '../proc.js';
import { round1, round2 } from '../stats.js';
import { closeSessions, CpuWindow, openSessions, sleep, type Endpoint } from './common.js';

export interface SessionsResult {
  requested: number;
  established: number;
  failures: number;
  /** Streams still open after the settle time. */
  held: number;
  establishS: number;
  sessionsPerS: number;
  /** Server CPU per session opened (handshake and stream). */
  serverUsPerSession: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** (RSS after − RSS before) / sessions. */
  kibPerSession: number;
  /** RSS growth per session over the second half. */
  marginalKibPerSession: number;
  /** With `idleMs`: RSS once V8 has given back what the opening left (its memory reducer runs after seconds of quiet). */
  rssIdleMiB?: number;
  kibPerSessionIdle?: number;
  /** Seconds after the last settle at which rssIdleMiB was read. */
  idleS?: number;
  firstError?: string;
}

/**
 * `idleMs`: after the usual reading, keeps the sessions idle up to this long, reading RSS each second,
 * and reports the lowest; it stops early once RSS has fallen by a tenth and stayed there 3 s.
 */
export async function runSessions(e: Endpoint, count: number, opts: { concurrency: number; settleMs: number; timeoutMs: number; idleMs?: number }): Promise<SessionsResult> {
  await sleep(500);
  const before = rssKiB(e.server.pid);
  const pool = new Pool(e.target.origin, {
    connections: opts.concurrency,
    pipelining: 1,
    localAddress: e.target.localAddresses[0],
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
    connectTimeout: 60_000,
    keepAliveTimeout: 600_000,
  });
  const sessions: LoadSession[] = [];
  let failures = 0;
  let firstError: string | undefined;
  let ms = 0;
  let cpuNs = 0;
  const deadline = performance.now() + opts.timeoutMs;
  const half = Math.floor(count / 2);
  let atHalf = before;
  for (const [base, n] of [
    [0, half],
    [half, count - half],
  ] as const) {
    const cpu = new CpuWindow(e.server.pid);
    const t0 = performance.now();
    const opened = await openSessions(e, n, { holdStream: true, concurrency: opts.concurrency, sharedPost: pool, deadline, indexBase: base });
    ms += performance.now() - t0;
    cpuNs += cpu.end().ns;
    sessions.push(...opened.sessions);
    failures += n - opened.sessions.length;
    firstError ??= opened.firstError;
    await sleep(opts.settleMs);
    if (base === 0) atHalf = rssKiB(e.server.pid);
  }
  const after = rssKiB(e.server.pid);
  let idle: { rss: number; s: number } | undefined;
  if (opts.idleMs) {
    idle = { rss: after, s: 0 };
    for (let t = 1; t * 1000 <= opts.idleMs; t++) {
      await sleep(1000);
      const rss = rssKiB(e.server.pid);
      if (rss < idle.rss) idle = { rss, s: t };
      if (idle.rss < after * 0.9 && t - idle.s >= 3) break;
    }
  }
  const established = sessions.length;
  const held = sessions.filter((s) => !s.streamLost).length;
  const secondHalf = sessions.filter((s) => s.index >= half).length;
  // The server goes first: tens of thousands of disconnects are not part of what is measured.
  await e.server.stop();
  await closeSessions(sessions, pool);
  return {
    requested: count,
    established,
    failures,
    held,
    establishS: round2(ms / 1000),
    sessionsPerS: Math.round((established * 1000) / ms),
    serverUsPerSession: established > 0 ? round1(cpuNs / 1000 / established) : NaN,
    rssBeforeMiB: round1(before / 1024),
    rssAfterMiB: round1(after / 1024),
    kibPerSession: established > 0 ? round1((after - before) / established) : NaN,
    marginalKibPerSession: secondHalf > 0 ? round1((after - atHalf) / secondHalf) : NaN,
    ...(idle ? { rssIdleMiB: round1(idle.rss / 1024), kibPerSessionIdle: established > 0 ? round1((idle.rss - before) / established) : NaN, idleS: idle.s } : {}),
    ...(firstError ? { firstError } : {}),
  };
}
