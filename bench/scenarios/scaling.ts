// scaling: mcpwire instances each capped to the same share of one core (a CPU cgroup), /mcp, 16
// clients whose every POST goes to the next instance (undici's BalancedPool: a round-robin balancer,
// no stickiness). Four configurations: one instance in memory, one instance on Redis (what Redis
// costs), two instances on one Redis (how far a second instance takes throughput), and the same two
// behind a balancer that sends each session's requests to one instance (hashing Mcp-Session-Id, as
// nginx's `hash` can): never needed, but what it saves shows what a hand-off between instances costs.
import { spawn } from 'node:child_process';
import { createClient } from 'redis';
import { BalancedPool, Dispatcher, Pool } from 'undici';
import { cpuCap, type CpuCap } from '../cgroup.js';
import { clustered, SERVERS, type Impl } from '../impls.js';
import { freePort, LOADGEN_CPU, startServer, type RunningServer } from '../proc.js';
import { best, round1, round2 } from '../stats.js';
import { runRpc, type RpcResult } from './rpc.js';
import { CpuWindow, sleep } from './common.js';

export interface ScalingRow extends RpcResult {
  pass: number;
  config: 'memory, 1 instance' | 'redis, 1 instance' | 'redis, 2 instances' | 'redis, 2 instances, by session';
  instances: number;
  /** Share of one core each instance may use. */
  cpuShare: number;
  /** redis-server's own CPU per call, and the commands it ran per call (each command inside a script counts). */
  redisUsPerCall?: number;
  redisCommandsPerCall?: number;
}

export interface ScalingResult {
  /** The best pass of each configuration. */
  rows: ScalingRow[];
  /** Every pass. */
  passes: ScalingRow[];
  /** calls/s of two Redis instances over one. */
  twoOverOne?: number;
  /** The same, each session's requests sent to one instance. */
  bySessionOverOne?: number;
  /** calls/s of one Redis instance over one in memory. */
  redisOverMemory?: number;
  skipped?: string;
}

export interface ScalingPlan {
  clients: number;
  warmupS: number;
  seconds: number;
  cpuShare: number;
  firstPort: number;
  /** Node flags for the instances (profiling). */
  nodeFlags: string[];
  /** Each pass runs every configuration, in the reverse order of the pass before. */
  passes: number;
}

export async function runScaling(plan: ScalingPlan, log: (msg: string) => void): Promise<ScalingResult> {
  const caps: CpuCap[] = [];
  for (const name of ['mcpwire-bench-a', 'mcpwire-bench-b']) {
    const cap = cpuCap(name, plan.cpuShare);
    if (typeof cap === 'string') return { rows: [], passes: [], skipped: cap };
    caps.push(cap);
  }
  let port = plan.firstPort;
  const redisPort = await freePort(port);
  port = redisPort + 1;
  let redis;
  try {
    redis = await startRedis(redisPort);
  } catch (err) {
    return { rows: [], passes: [], skipped: (err as Error).message };
  }
  const passes: ScalingRow[] = [];
  try {
    const memory = SERVERS.find((i) => i.id === 'mcpwire')!;
    for (let pass = 1; pass <= plan.passes; pass++) {
      const configs: Array<{ config: ScalingRow['config']; impls: Impl[] }> = [
        { config: 'memory, 1 instance', impls: [memory] },
        { config: 'redis, 1 instance', impls: [clustered(redis.url, `bench${pass}-1:`)] },
        { config: 'redis, 2 instances', impls: [clustered(redis.url, `bench${pass}-2:`), clustered(redis.url, `bench${pass}-2:`)] },
        { config: 'redis, 2 instances, by session', impls: [clustered(redis.url, `bench${pass}-3:`), clustered(redis.url, `bench${pass}-3:`)] },
      ];
      for (const { config, impls } of pass % 2 === 1 ? configs : configs.reverse()) {
        const servers: RunningServer[] = [];
        try {
          for (const [k, impl] of impls.entries()) {
            port = (await freePort(port)) + 1;
            const server = await startServer({ ...impl.spec, args: [...plan.nodeFlags, ...impl.spec.args] }, port - 1);
            caps[k]!.add(server.pid);
            servers.push(server);
          }
          const origins = servers.map((s) => `http://127.0.0.1:${s.port}`);
          const pool = { connections: plan.clients, pipelining: 1, keepAliveTimeout: 600_000 };
          const post = config.endsWith('by session') ? new BySession(origins.map((o) => new Pool(o, pool))) : new BalancedPool(origins, pool);
          const endpoint = {
            server: servers[0]!,
            wire: 'mcp' as const,
            target: { origin: origins[0]!, ssePath: '/sse', mcpPath: '/mcp', localAddresses: ['127.0.0.1'] },
          };
          const probe = redisProbe(redis);
          const r = await runRpc(endpoint, plan.clients, plan.warmupS, plan.seconds, { post, pids: servers.map((s) => s.pid), probe });
          const row: ScalingRow = { pass, config, instances: servers.length, cpuShare: plan.cpuShare, ...r };
          if (config !== 'memory, 1 instance' && r.calls > 0) {
            row.redisUsPerCall = round1(probe.usedNs / 1000 / r.calls);
            row.redisCommandsPerCall = round2(probe.commands / r.calls);
          }
          passes.push(row);
          log(`scaling pass ${pass} ${config}: ${JSON.stringify(row)}`);
        } catch (err) {
          log(`scaling ${config}: FAILED ${(err as Error).message}`);
          passes.push({ pass, config, instances: impls.length, cpuShare: plan.cpuShare, firstError: (err as Error).message } as ScalingRow);
        } finally {
          await Promise.all(servers.map((s) => s.stop()));
        }
      }
    }
  } finally {
    await redis.stop();
    await sleep(200);
    for (const cap of caps) cap.remove();
  }
  const rows = best(passes, (r) => r.config, (r) => r.callsPerS ?? 0);
  rows.sort((a, b) => a.instances - b.instances || a.config.localeCompare(b.config));
  const rate = (c: ScalingRow['config']) => rows.find((r) => r.config === c)?.callsPerS;
  const ratio = (a?: number, b?: number) => (a && b ? round2(a / b) : undefined);
  return {
    rows,
    passes,
    twoOverOne: ratio(rate('redis, 2 instances'), rate('redis, 1 instance')),
    bySessionOverOne: ratio(rate('redis, 2 instances, by session'), rate('redis, 1 instance')),
    redisOverMemory: ratio(rate('redis, 1 instance'), rate('memory, 1 instance')),
  };
}

/**
 * A balancer that sends every request of a session to the instance that answered its initialize (new
 * sessions go round-robin): session affinity by Mcp-Session-Id, as a hashing proxy gives.
 */
class BySession extends Dispatcher {
  private readonly instanceOf = new Map<string, Pool>();
  private next = 0;

  constructor(private readonly pools: Pool[]) {
    super();
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const sid = (opts.headers as Record<string, string> | undefined)?.['mcp-session-id'];
    const known = sid === undefined ? undefined : this.instanceOf.get(sid);
    if (known) return known.dispatch(opts, handler);
    const pool = this.pools[this.next++ % this.pools.length]!;
    const learn: Dispatcher.DispatchHandler = Object.create(handler);
    learn.onResponseStart = (controller, status, headers, message) => {
      const id = headers['mcp-session-id'];
      if (typeof id === 'string') this.instanceOf.set(id, pool);
      handler.onResponseStart?.(controller, status, headers, message);
    };
    return pool.dispatch(opts, learn);
  }

  override async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.close()));
  }

  override async destroy(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.destroy()));
  }
}

/** redis-server's CPU and command count over the measured window. */
function redisProbe(redis: { pid: number; commands(): Promise<number> }) {
  let cpu: CpuWindow | undefined;
  let commands0 = 0;
  const probe = {
    usedNs: 0,
    commands: 0,
    async begin() {
      cpu = new CpuWindow(redis.pid);
      commands0 = await redis.commands();
    },
    async end() {
      probe.usedNs = cpu!.end().ns;
      probe.commands = (await redis.commands()) - commands0 - 1; // less the first INFO
    },
  };
  return probe;
}

/** A throwaway redis-server on the load generator's core (no persistence). */
async function startRedis(port: number): Promise<{ url: string; pid: number; commands(): Promise<number>; stop(): Promise<void> }> {
  const child = spawn('taskset', ['-c', LOADGEN_CPU, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => void (out = (out + c.toString()).slice(-2_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const failed = new Promise<string>((r) => child.once('error', (err) => r(err.message)));
  const deadline = Date.now() + 10_000;
  while (!/Ready to accept connections/.test(out) && Date.now() < deadline && child.exitCode === null) {
    const why = await Promise.race([failed, sleep(50).then(() => undefined)]);
    if (why) throw new Error(`redis-server could not be started (${why}); the scaling scenario needs it`);
  }
  if (!/Ready to accept connections/.test(out)) {
    child.kill('SIGKILL');
    throw new Error(`redis-server did not start: ${out.trim().split('\n').slice(-2).join(' | ')}`);
  }
  const url = `redis://127.0.0.1:${port}`;
  const stats = createClient({ url });
  await stats.connect();
  return {
    url,
    pid: child.pid!,
    /** Commands processed so far (INFO itself counts). */
    commands: async () => Number(/total_commands_processed:(\d+)/.exec(await stats.info('stats'))?.[1] ?? NaN),
    stop: async () => {
      await stats.quit().catch(() => {});
      child.kill('SIGTERM');
      await exited;
    },
  };
}
