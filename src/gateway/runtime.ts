// What both gateway modes share: resolved options, counters, logging, and spawning a child with the
// gateway's own handling of stderr, garbage, over-long lines and exits.
import type { Logger } from 'pino';
import { StdioChild, type ChildHandlers, type ExitInfo } from './child.js';
import type { OverlongLine } from './line-framer.js';
import { exitDescription, preview, worthLogging } from './messages.js';

export type RestartPolicy = 'never' | 'on-failure' | 'always';

export interface ResolvedGatewayOptions {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
  shared: boolean;
  maxChildren: number;
  restart: RestartPolicy;
  killGraceMs: number;
  maxLineBytes: number;
  maxQueuedBytes: number;
  maxInFlight: number;
  closeSseAfterMs: number;
  stderrLines: number;
}

export interface GatewayStats {
  /** Children started, and ended (for any reason). */
  spawned: number;
  exited: number;
  /** Ended without being asked to (a crash, or an exit of its own). */
  failed: number;
  /** Did not end within the grace period after SIGTERM and were killed. */
  killedAfterGrace: number;
  /** stdout lines that were not JSON-RPC messages (dropped). */
  garbageLines: number;
  /** stdout lines over the byte limit (dropped; the request they answered, when known, gets an error). */
  overlongLines: number;
  /** Requests refused because the child's input queue for the session was full, or too many ran. */
  refusedBusy: number;
  /** Shared mode: child messages no single session could be found for (dropped or refused). */
  unroutable: number;
  /** Shared mode: restarts of the shared child. */
  restarts: number;
}

export function newGatewayStats(): GatewayStats {
  return { spawned: 0, exited: 0, failed: 0, killedAfterGrace: 0, garbageLines: 0, overlongLines: 0, refusedBusy: 0, unroutable: 0, restarts: 0 };
}

export type ModeHandlers = Pick<ChildHandlers, 'message' | 'overlong' | 'exit'>;

export class GatewayRuntime {
  readonly children = new Set<StdioChild>();

  constructor(
    readonly opts: ResolvedGatewayOptions,
    readonly log: Logger,
    readonly stats: GatewayStats,
  ) {}

  /** Starts a child; `log` carries the session (or "shared") it serves. */
  spawn(handlers: ModeHandlers, log: Logger): StdioChild {
    const o = this.opts;
    let garbage = 0;
    let clog = log;
    const child: StdioChild = new StdioChild(
      { command: o.command, args: o.args, env: o.env, cwd: o.cwd, killGraceMs: o.killGraceMs, maxLineBytes: o.maxLineBytes, stderrLines: o.stderrLines },
      {
        message: handlers.message,
        garbage: (line) => {
          this.stats.garbageLines++;
          if (worthLogging(++garbage)) clog.warn({ count: garbage, line: preview(line) }, 'server process wrote a line that is not JSON-RPC on stdout; dropped');
        },
        overlong: (line: OverlongLine) => {
          this.stats.overlongLines++;
          clog.warn({ bytes: line.bytes, limit: o.maxLineBytes }, 'server process wrote a message over the line limit (--max-line-bytes); dropped');
          handlers.overlong(line);
        },
        stderr: (line) => clog.info({ stderr: line }, 'server process stderr'),
        exit: (exit: ExitInfo) => {
          this.children.delete(child);
          this.stats.exited++;
          const fields = { exitCode: exit.code, signal: exit.signal, stderr: exit.stderr };
          if (!exit.stopped) {
            this.stats.failed++;
            clog.error(fields, `server process ${exitDescription(exit)}`);
          } else if (exit.killed) {
            this.stats.killedAfterGrace++;
            clog.warn(fields, `server process did not stop within ${o.killGraceMs} ms of SIGTERM; killed`);
          } else {
            clog.debug(fields, 'server process stopped');
          }
          handlers.exit(exit);
        },
      },
    );
    this.stats.spawned++;
    if (child.pid !== undefined) {
      clog = log.child({ childPid: child.pid });
      this.children.add(child);
      clog.debug({ command: o.command }, 'server process started');
    }
    return child;
  }
}
