// rpc: C sessions, each looping `tools/call echo` (one call in flight per session) for a warm-up and
// then a measured window → calls/s, latency percentiles, errors, server CPU per call.
import type { Dispatcher } from 'undici';
import { round1, round2, Samples } from '../stats.js';
import { closeSessions, CpuWindow, expireEvery, openSessions, sleep, type Endpoint } from './common.js';

export interface RpcResult {
  clients: number;
  seconds: number;
  calls: number;
  callsPerS: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  errors: number;
  /** Server (and its children's) CPU per completed call. */
  serverUsPerCall: number;
  /** The same without its children (a gateway's own share). */
  ownUsPerCall: number;
  /** Share of one core the server used in the window. */
  serverCpuPct: number;
  /** Share of its core the load generator used: near 100 means it, not the server, was the limit. */
  loadgenCpuPct: number;
  /** Replies that arrived at a session that did not send that request. */
  foreignReplies: number;
  setupFailures: number;
  firstError?: string;
}

const CALL_TIMEOUT_MS = 10_000;
const MAX_CALLS = 20_000_000;

/** With `across`: every POST goes to the next of several servers (a round-robin balancer), whose CPU adds up. */
export interface Across {
  post: Dispatcher;
  pids: number[];
  /** Told when the measured window begins and ends (to measure a shared service beside the servers). */
  probe?: { begin(): Promise<void>; end(): Promise<void> };
}

export async function runRpc(e: Endpoint, clients: number, warmupS: number, seconds: number, across?: Across): Promise<RpcResult> {
  const opened = await openSessions(e, clients, { holdStream: false, concurrency: 16, deadline: performance.now() + 60_000, sharedPost: across?.post });
  const { sessions } = opened;
  const stopExpiry = expireEvery(sessions, CALL_TIMEOUT_MS);
  const samples = new Samples(4_000_000);
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let calls = 0;
  let errors = 0;
  let total = 0;
  let firstError: string | undefined;
  const stopAt = performance.now() + (warmupS + seconds) * 1000 + 250;
  const params = { name: 'echo', arguments: { text: 'hello from the mcpwire bench' } };

  const loop = async (s: (typeof sessions)[number]) => {
    while (performance.now() < stopAt && total++ < MAX_CALLS) {
      const t0 = performance.now();
      let failed = false;
      try {
        const r = await s.request('tools/call', params);
        if (r.error) {
          failed = true;
          firstError ??= r.error.message;
        }
      } catch (err) {
        failed = true;
        firstError ??= (err as Error).message;
      }
      const t1 = performance.now();
      if (t1 >= windowStart && t1 <= windowEnd) {
        if (failed) errors++;
        else calls++;
        if (!failed && t0 >= windowStart) samples.add(t1 - t0);
      }
      if (failed) await sleep(10);
    }
  };

  const running = Promise.all(sessions.map(loop));
  await sleep(warmupS * 1000);
  const cpu = new CpuWindow(across?.pids ?? e.server.pid);
  await across?.probe?.begin();
  const self0 = process.cpuUsage();
  windowStart = performance.now();
  windowEnd = Infinity;
  await sleep(seconds * 1000);
  windowEnd = performance.now();
  const used = cpu.end();
  await across?.probe?.end();
  const self = process.cpuUsage(self0);
  await running;
  stopExpiry();
  const foreignReplies = sessions.reduce((n, s) => n + s.foreignReplies, 0);
  await closeSessions(sessions, across?.post);

  const ms = windowEnd - windowStart;
  const [p50, p90, p99] = samples.percentiles(50, 90, 99);
  return {
    clients,
    seconds: round2(ms / 1000),
    calls,
    callsPerS: Math.round((calls * 1000) / ms),
    p50Ms: p50!,
    p90Ms: p90!,
    p99Ms: p99!,
    errors,
    serverUsPerCall: calls > 0 ? round1(used.ns / 1000 / calls) : NaN,
    ownUsPerCall: calls > 0 ? round1(used.ownNs / 1000 / calls) : NaN,
    serverCpuPct: round1((used.ns / 1e6 / used.ms) * 100),
    loadgenCpuPct: round1(((self.user + self.system) / 1000 / ms) * 100),
    foreignReplies,
    setupFailures: opened.failures,
    ...(firstError ?? opened.firstError ? { firstError: firstError ?? opened.firstError } : {}),
  };
}
