// The gateway backend: any stdio MCP server behind mcpwire's front door. By default each MCP session
// gets its own child process (isolation); with `shared`, one child serves every session.
//
//   const gateway = createGateway({ command: 'npx', args: ['-y', 'some-mcp-server'] });
//   const server = await serve({ backend: gateway.backend, port: 3000 });
//   server.handler.addHealthCheck(gateway.healthCheck);
//   // on shutdown: await server.close(); await gateway.close();
import { pino, type Logger } from 'pino';
import type { HealthCheck } from '../http/health.js';
import { IsolatedBackend } from '../gateway/isolated.js';
import { GatewayRuntime, newGatewayStats, type GatewayStats, type RestartPolicy } from '../gateway/runtime.js';
import { SharedUpstream } from '../gateway/shared.js';
import { StatelessPool } from '../gateway/stateless-pool.js';
import type { BackendFactory } from './types.js';

export type { GatewayStats, RestartPolicy };

export interface GatewayOptions {
  /** The stdio MCP server to run, and its arguments (no shell: nothing is interpreted). */
  command: string;
  args?: string[];
  /** Variables added to the child's environment. */
  env?: Record<string, string>;
  /** Start from the gateway's environment (default true; `MCPWIRE_TOKEN` is never passed on). */
  inheritEnv?: boolean;
  cwd?: string;
  /** One child for all sessions (for servers that keep no per-client state). Default false. */
  shared?: boolean;
  /** Children running at once (isolated mode); new sessions past it get 503. Default 100. */
  maxChildren?: number;
  /**
   * Isolated mode: children started ahead of need, so a new session (or a 2026 client's new
   * capability set) does not wait for a process start. They count toward maxChildren. Default 0.
   */
  spareChildren?: number;
  /** Shared mode: restart the child when it exits. Default 'on-failure'. */
  restart?: RestartPolicy;
  /** Time between SIGTERM and SIGKILL when a child is stopped. Default 3000 ms. */
  killGraceMs?: number;
  /**
   * A child that has not answered `initialize` this long after it was sent is stopped as failed. In
   * isolated mode its session's initialize gets the error and the session ends; in shared mode (and
   * for the children of 2026-07-28 clients) the sessions waiting on its handshake get the error, and
   * the restart policy applies. 0: wait for ever. Default 120000 ms.
   */
  initTimeoutMs?: number;
  /** Largest message a child may write (one line of stdout). Default 4 MiB. */
  maxLineBytes?: number;
  /** Bytes a session may have waiting in a child's stdin; past it, its requests are refused. Default 1 MiB. */
  maxQueuedBytes?: number;
  /** Requests a session may have running in the child. Default 1000. */
  maxInFlight?: number;
  /**
   * Ends the SSE connection of a Streamable HTTP request still running after this long (SEP-1699
   * polling: the client comes back with Last-Event-ID and misses nothing). 0, the default: never.
   */
  closeSseAfterMs?: number;
  /** stderr lines kept per child for its exit report. Default 20. */
  stderrLines?: number;
  /**
   * Isolated mode, 2026-07-28 clients (no sessions): requests of one principal declaring the same
   * capabilities share a child, stopped after this long without requests. Default 60000 ms.
   */
  statelessIdleMs?: number;
  logger?: Logger;
}

export interface Gateway {
  /** Give this to `serve()` / `createHandler()` as `backend`. */
  readonly backend: BackendFactory;
  /** Children alive or exited, and for `shared`, whether the child is up (503 from /health when not). */
  readonly healthCheck: HealthCheck;
  readonly stats: GatewayStats;
  /** Children running now (including those being stopped). */
  readonly children: number;
  /** Stops every child (SIGTERM, SIGKILL after the grace period) and resolves when all have exited. */
  close(): Promise<void>;
}

const DEFAULTS = {
  maxChildren: 100,
  spareChildren: 0,
  restart: 'on-failure' as RestartPolicy,
  killGraceMs: 3_000,
  initTimeoutMs: 120_000,
  maxLineBytes: 4 * 1024 * 1024,
  maxQueuedBytes: 1024 * 1024,
  maxInFlight: 1_000,
  closeSseAfterMs: 0,
  stderrLines: 20,
  statelessIdleMs: 60_000,
};

export function createGateway(options: GatewayOptions): Gateway {
  if (typeof options.command !== 'string' || options.command.length === 0) throw new TypeError('mcpwire gateway: a command is required');
  const number = (name: keyof typeof DEFAULTS, min: number): number => {
    const v = (options as unknown as Record<string, unknown>)[name] ?? DEFAULTS[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new TypeError(`mcpwire gateway: option ${name} must be a whole number ≥ ${min}`);
    return v;
  };
  const restart = options.restart ?? DEFAULTS.restart;
  if (!['never', 'on-failure', 'always'].includes(restart)) throw new TypeError("mcpwire gateway: option restart must be 'never', 'on-failure' or 'always'");
  const env: NodeJS.ProcessEnv = options.inheritEnv === false ? {} : { ...process.env };
  delete env.MCPWIRE_TOKEN;
  Object.assign(env, options.env);

  const log = options.logger ?? pino({ level: process.env.MCPWIRE_LOG_LEVEL ?? 'warn' });
  const stats = newGatewayStats();
  const rt = new GatewayRuntime(
    {
      command: options.command,
      args: options.args ?? [],
      env,
      cwd: options.cwd,
      shared: Boolean(options.shared),
      maxChildren: number('maxChildren', 1),
      spareChildren: options.shared ? 0 : number('spareChildren', 0),
      restart,
      killGraceMs: number('killGraceMs', 0),
      initTimeoutMs: number('initTimeoutMs', 0),
      maxLineBytes: number('maxLineBytes', 1024),
      maxQueuedBytes: number('maxQueuedBytes', 1024),
      maxInFlight: number('maxInFlight', 1),
      closeSseAfterMs: number('closeSseAfterMs', 0),
      stderrLines: number('stderrLines', 0),
    },
    log,
    stats,
  );
  let closed = false;
  const shared = rt.opts.shared ? new SharedUpstream(rt) : undefined;
  const statelessPool = shared ? undefined : new StatelessPool(rt, number('statelessIdleMs', 0));
  rt.refill();

  const refuseSession = (): string | undefined => {
    if (closed) return 'the gateway is shutting down';
    if (shared) return shared.refusal();
    if (rt.full) {
      return `the gateway is running its maximum of ${rt.opts.maxChildren} server processes (--max-children); retry later`;
    }
    return undefined;
  };
  const backend: BackendFactory = (host, context) => {
    if (closed) throw new Error('mcpwire gateway: the gateway is shutting down');
    if (context.stateless && statelessPool) return statelessPool.attach(host, context.stateless);
    const refusal = refuseSession();
    if (refusal) throw new Error(`mcpwire gateway: ${refusal}`);
    if (shared) return shared.attach(host);
    return new IsolatedBackend(rt, host, log.child({ sessionId: context.sessionId }));
  };
  backend.refuseSession = refuseSession;
  // A child's state dies with it: its sessions neither sleep nor move to another instance.
  backend.movable = false;

  const healthCheck: HealthCheck = {
    name: 'children',
    check: () => {
      const counts = { alive: rt.children.size, spawned: stats.spawned, exited: stats.exited, failed: stats.failed, killedAfterGrace: stats.killedAfterGrace };
      if (!shared) return { ok: true, mode: 'isolated', max: rt.opts.maxChildren, spare: rt.spareCount, ...counts };
      return {
        ok: shared.state === 'up',
        mode: 'shared',
        state: shared.state,
        pid: shared.pid,
        sessions: shared.sessionCount,
        restarts: stats.restarts,
        ...(shared.lastExit ? { lastExit: { code: shared.lastExit.code, signal: shared.lastExit.signal, at: shared.lastExit.at } } : {}),
        ...counts,
      };
    },
  };

  return {
    backend,
    healthCheck,
    stats,
    get children() {
      return rt.children.size;
    },
    async close() {
      closed = true;
      rt.close();
      await shared?.close();
      await statelessPool?.close();
      await Promise.all([...rt.children].map((c) => c.stop()));
    },
  };
}
