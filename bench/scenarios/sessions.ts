// sessions: N sessions opened (handshake done, server→client SSE stream held), `concurrency`
// handshakes at a time over a shared pool of POST connections → time to establish, failures, server
// RSS before and after → KiB per idle session, and how many streams were still held at the end.
import { Pool } from 'undici';
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
  kibPerSession: number;
  firstError?: string;
}

export async function runSessions(e: Endpoint, count: number, opts: { concurrency: number; settleMs: number; timeoutMs: number }): Promise<SessionsResult> {
  await sleep(500);
  const before = rssKiB(e.server.pid);
  const pool = new Pool(e.target.origin, {
    connections: opts.concurrency,
    pipelining: 1,
    localAddress: e.target.localAddress,
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
    connectTimeout: 60_000,
    keepAliveTimeout: 600_000,
  });
  const cpu = new CpuWindow(e.server.pid);
  const t0 = performance.now();
  const opened = await openSessions(e, count, {
    holdStream: true,
    concurrency: opts.concurrency,
    sharedPost: pool,
    deadline: t0 + opts.timeoutMs,
  });
  const ms = performance.now() - t0;
  const used = cpu.end();
  await sleep(opts.settleMs);
  const after = rssKiB(e.server.pid);
  const established = opened.sessions.length;
  const held = opened.sessions.filter((s) => !s.streamLost).length;
  // The server goes first: tens of thousands of disconnects are not part of what is measured.
  await e.server.stop();
  await closeSessions(opened.sessions, pool);
  return {
    requested: count,
    established,
    failures: opened.failures + (count - established - opened.failures),
    held,
    establishS: round2(ms / 1000),
    sessionsPerS: Math.round((established * 1000) / ms),
    serverUsPerSession: established > 0 ? round1(used.ns / 1000 / established) : NaN,
    rssBeforeMiB: round1(before / 1024),
    rssAfterMiB: round1(after / 1024),
    kibPerSession: established > 0 ? round1((after - before) / established) : NaN,
    ...(opened.firstError ? { firstError: opened.firstError } : {}),
  };
}
