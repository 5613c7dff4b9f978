// What every scenario shares: where the server is, sessions opened a bounded number at a time,
// CPU windows on the server, and periodic expiry of requests that never got a reply.
import type { Dispatcher } from 'undici';
import { cpuNs, type RunningServer } from '../proc.js';
import { newSession, withTimeout, type LoadSession, type Target, type WireName } from '../load/session.js';

export interface Endpoint {
  server: RunningServer;
  target: Target;
  wire: WireName;
}

/** Server CPU time over a window, in nanoseconds (its own and with its children), and the wall time; several servers add up. */
export class CpuWindow {
  private readonly pids: number[];
  private readonly ns0: number;
  private readonly own0: number;
  private readonly t0 = performance.now();

  constructor(pid: number | number[]) {
    this.pids = Array.isArray(pid) ? pid : [pid];
    this.ns0 = this.sum(true);
    this.own0 = this.sum(false);
  }

  private sum(tree: boolean): number {
    return this.pids.reduce((n, p) => n + cpuNs(p, tree), 0);
  }

  end(): { ns: number; ownNs: number; ms: number } {
    return { ns: this.sum(true) - this.ns0, ownNs: this.sum(false) - this.own0, ms: performance.now() - this.t0 };
  }
}

const HANDSHAKE_TIMEOUT_MS = 60_000;

export interface Opened {
  sessions: LoadSession[];
  failures: number;
  firstError: string | undefined;
}

/**
 * Opens `count` sessions, `concurrency` handshakes at a time; each gets its own POST connection
 * unless `sharedPost` is given. Stops early when `deadline` passes.
 */
export async function openSessions(
  e: Endpoint,
  count: number,
  opts: { holdStream: boolean; concurrency: number; sharedPost?: Dispatcher; deadline: number; indexBase?: number },
): Promise<Opened> {
  const sessions: LoadSession[] = [];
  let failures = 0;
  let firstError: string | undefined;
  let next = 0;
  const worker = async () => {
    while (next < count && performance.now() < opts.deadline) {
      const i = next++;
      const s = newSession(e.wire, (opts.indexBase ?? 0) + i, e.target, opts.sharedPost);
      try {
        await withTimeout(s.open(opts.holdStream), HANDSHAKE_TIMEOUT_MS, `no handshake within ${HANDSHAKE_TIMEOUT_MS} ms`);
        sessions.push(s);
      } catch (err) {
        failures++;
        firstError ??= (err as Error).message;
        void s.close(!opts.sharedPost);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, count) }, worker));
  return { sessions, failures, firstError };
}

/** Fails requests with no reply after `timeoutMs`, every half second, until stopped. */
export function expireEvery(sessions: LoadSession[], timeoutMs: number): () => void {
  const timer = setInterval(() => {
    const now = performance.now();
    for (const s of sessions) s.expire(now, timeoutMs);
  }, 500);
  return () => clearInterval(timer);
}

export async function closeSessions(sessions: LoadSession[], sharedPost?: Dispatcher): Promise<void> {
  await Promise.all(sessions.map((s) => s.close(!sharedPost)));
  await sharedPost?.destroy().catch(() => {});
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
