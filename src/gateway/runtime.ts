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
  spareChildren: number;
  restart: RestartPolicy;
  killGraceMs: number;
  initTimeoutMs: number;
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

/** Whom a child's output goes to: a spare's is rebound when it is handed out. */
interface Binding {
  handlers: ModeHandlers;
  log: Logger;
}

export class GatewayRuntime {
  readonly children = new Set<StdioChild>();
  /** Started ahead of need (--spare-children), so a new session does not wait for a process start. */
  private readonly spares: StdioChild[] = [];
  private readonly bindings = new WeakMap<StdioChild, Binding>();
  private closed = false;

  constructor(
    readonly opts: ResolvedGatewayOptions,
    readonly log: Logger,
    readonly stats: GatewayStats,
  ) {}

  /** True when a new session cannot get a child: the cap is reached and no spare is left to hand out. */
  get full(): boolean {
    return this.children.size - this.spares.length >= this.opts.maxChildren;
  }

  get spareCount(): number {
    return this.spares.length;
  }

  /** A child for `handlers` (a spare when one is ready); `log` carries the session (or "shared") it serves. */
  spawn(handlers: ModeHandlers, log: Logger): StdioChild {
    const spare = this.spares.shift();
    const child = spare ?? this.start({ handlers, log });
    if (spare) this.bindings.get(spare)!.handlers = handlers;
    const binding = this.bindings.get(child);
    if (binding) binding.log = child.pid === undefined ? log : log.child({ childPid: child.pid });
    this.refill();
    return child;
  }

  /** Tops the spares up to --spare-children, within --max-children. Called when one is taken, never on exits. */
  refill(): void {
    while (!this.closed && this.spares.length < this.opts.spareChildren && this.children.size < this.opts.maxChildren) {
      const binding: Binding = {
        handlers: {
          message: () => {},
          overlong: () => {},
          exit: () => {
            const at = this.spares.indexOf(child);
            if (at >= 0) this.spares.splice(at, 1);
          },
        },
        log: this.log.child({ spare: true }),
      };
      const child: StdioChild = this.start(binding);
      if (child.pid === undefined) return;
      binding.log = binding.log.child({ childPid: child.pid });
      this.spares.push(child);
    }
  }

  /** No more spares; the caller stops the children. */
  close(): void {
    this.closed = true;
  }


  private start(binding: Binding): StdioChild {
    const o = this.opts;
    let garbage = 0;
    const child: StdioChild = new StdioChild(
      { command: o.command, args: o.args, env: o.env, cwd: o.cwd, killGraceMs: o.killGraceMs, maxLineBytes: o.maxLineBytes, stderrLines: o.stderrLines },
      {
        message: (m, kind) => binding.handlers.message(m, kind),
        garbage: (line) => {
          this.stats.garbageLines++;
          if (worthLogging(++garbage)) binding.log.warn({ count: garbage, line: preview(line) }, 'server process wrote a line that is not JSON-RPC on stdout; dropped');
        },
        overlong: (line: OverlongLine) => {
          this.stats.overlongLines++;
          binding.log.warn({ bytes: line.bytes, limit: o.maxLineBytes }, 'server process wrote a message over the line limit (--max-line-bytes); dropped');
          binding.handlers.overlong(line);
        },
        stderr: (line) => binding.log.info({ stderr: line }, 'server process stderr'),
        exit: (exit: ExitInfo) => {
          this.children.delete(child);
          this.stats.exited++;
          const fields = { exitCode: exit.code, signal: exit.signal, stderr: exit.stderr };
          if (!exit.stopped) {
            this.stats.failed++;
            binding.log.error(fields, `server process ${exitDescription(exit)}`);
          } else if (exit.killed) {
            this.stats.killedAfterGrace++;
            binding.log.warn(fields, `server process did not stop within ${o.killGraceMs} ms of SIGTERM; killed`);
          } else {
            binding.log.debug(fields, 'server process stopped');
          }
          binding.handlers.exit(exit);
        },
      },
    );
    this.bindings.set(child, binding);
    this.stats.spawned++;
    if (child.pid !== undefined) {
      this.children.add(child);
      binding.log.debug({ command: o.command }, 'server process started');
    }
    return child;
  }
}
