// One stdio server process: spawned in its own process group under a lifeline, framed as
// newline-delimited JSON-RPC, written to with a per-writer byte bound, and stopped (the whole group)
// with SIGTERM, then SIGKILL after a grace period.
//
// Children must not outlive the gateway, even a `kill -9` of it. The command is started through a
// tiny `sh` supervisor that forks a watcher and then execs the command (so the command keeps the pid
// Node knows, and its exit code). The watcher blocks reading a pipe (fd 3) whose only writer is the
// gateway; when the gateway dies by any means, the kernel closes that pipe, the read returns, and the
// watcher sends SIGTERM and, after the grace period, SIGKILL to the whole group. The command itself
// does not hold the pipe (`3<&-`). On POSIX only; on Windows the command is spawned directly.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { messageKind, type JSONRPCMessage, type MessageKind } from '../jsonrpc.js';
import type { MaybePromise } from '../store/types.js';
import { LineFramer, type OverlongLine } from './line-framer.js';

export interface ChildSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  killGraceMs: number;
  maxLineBytes: number;
  /** stderr lines kept for the exit report. */
  stderrLines: number;
}

export interface ChildHandlers {
  /** A JSON-RPC message on stdout. A promise pauses stdout until it settles (the outbound is busy). */
  message(message: JSONRPCMessage, kind: MessageKind): MaybePromise<void>;
  /** A stdout line that is not JSON, or not a JSON-RPC message: dropped. */
  garbage(line: string): void;
  overlong(line: OverlongLine): void;
  stderr(line: string): void;
  exit(info: ExitInfo): void;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last stderr lines, oldest first. */
  stderr: string[];
  /** The gateway asked it to stop. */
  stopped: boolean;
  /** It had to be killed with SIGKILL after the grace period. */
  killed: boolean;
  /** It could not be spawned at all. */
  spawnError?: string;
  /** Why the gateway stopped it as failed (it closed its stdout and ran on; it never answered initialize). */
  failure?: string;
}

/** Bytes a writer (a session) has handed to the child's stdin that the child has not yet read. */
export class WriteAccount {
  queued = 0;
  constructor(readonly limit: number) {}
}

export type WriteResult = 'ok' | 'full' | 'closed';

const STDERR_LINE_CHARS = 1_000;
/** How long to wait, after the exit, for the last stdout bytes before giving up on them. */
const OUTPUT_AFTER_EXIT_MS = 2_000;
/** How long a child may run on after closing its stdout (as it does when exiting) before it is stopped. */
const RUN_AFTER_OUTPUT_MS = 1_000;

const SUPERVISOR = [
  `(trap '' TERM INT HUP; read -r _ <&3; kill -TERM 0; sleep "$1"; kill -KILL 0) </dev/null >/dev/null 2>&1 &`,
  'shift',
  'exec "$@" 3<&-',
].join('\n');

const live = new Set<StdioChild>();
let exitHookInstalled = false;

/** On any exit of the gateway that Node sees, the children's groups go first (no waiting). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.killNow();
  });
}

export class StdioChild {
  readonly pid: number | undefined;
  readonly exited: Promise<ExitInfo>;
  private readonly proc: ChildProcess;
  private readonly stdin: Writable;
  private readonly ring: string[] = [];
  private stopping = false;
  private killed = false;
  private done = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private outputTimer: NodeJS.Timeout | undefined;
  private failure: string | undefined;
  private busy = 0;
  private resolveExit!: (info: ExitInfo) => void;

  constructor(
    private readonly spec: ChildSpec,
    private readonly on: ChildHandlers,
  ) {
    this.exited = new Promise((r) => (this.resolveExit = r));
    const posix = process.platform !== 'win32';
    this.proc = posix
      ? spawn('/bin/sh', ['-c', SUPERVISOR, 'mcpwire-child', String(spec.killGraceMs / 1000), spec.command, ...spec.args], {
          stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
          detached: true,
          env: spec.env,
          cwd: spec.cwd,
        })
      : spawn(spec.command, spec.args, { stdio: ['pipe', 'pipe', 'pipe'], env: spec.env, cwd: spec.cwd, windowsHide: true });
    this.pid = this.proc.pid;
    this.stdin = this.proc.stdin!;
    // EPIPE and the like: the exit handler reports the child's end; pending writes get their callbacks.
    this.stdin.on('error', () => {});

    const stdout = this.proc.stdout!;
    const framer = new LineFramer(spec.maxLineBytes, (line) => this.line(line, stdout), (l) => this.on.overlong(l));
    stdout.on('data', (chunk: Buffer) => framer.push(chunk));
    stdout.on('end', () => {
      framer.end();
      this.outputTimer = setTimeout(() => this.ranOnWithoutOutput(), RUN_AFTER_OUTPUT_MS);
    });
    stdout.on('error', () => {});

    const stderr = this.proc.stderr!;
    const errFramer = new LineFramer(
      STDERR_LINE_CHARS,
      (line) => this.stderrLine(line),
      (l) => this.stderrLine(`${l.head}… (${l.bytes} bytes)`),
    );
    stderr.on('data', (chunk: Buffer) => errFramer.push(chunk));
    stderr.on('end', () => errFramer.end());
    stderr.on('error', () => {});

    const lifeline = this.proc.stdio[3] as Readable | null | undefined;
    lifeline?.on('error', () => {});
    lifeline?.resume();
    this.proc.once('exit', (code, signal) => this.exitedWith(code, signal, lifeline ? [stdout, stderr, lifeline] : [stdout, stderr]));
    this.proc.once('error', (err) => {
      if (this.pid === undefined) this.finish({ code: null, signal: null, spawnError: err.message });
    });
    if (this.pid !== undefined) {
      live.add(this);
      installExitHook();
    }
  }

  get alive(): boolean {
    return !this.done;
  }

  /** Hands one framed message to the child, unless the writer's bound is reached or the child is gone. */
  write(line: string, account: WriteAccount): WriteResult {
    if (this.done || this.stopping || !this.stdin.writable) return 'closed';
    const bytes = Buffer.byteLength(line) + 1;
    // One message always fits when nothing is queued, so a large request is slow, never impossible.
    if (account.queued > 0 && account.queued + bytes > account.limit) return 'full';
    account.queued += bytes;
    // Messages handed over in one turn of the event loop go to the child in one write: fewer
    // wake-ups and reads for the child, fewer syscalls for the gateway.
    if (!this.stdin.writableCorked) {
      this.stdin.cork();
      setImmediate(this.uncork);
    }
    this.stdin.write(line + '\n', () => {
      account.queued -= bytes;
    });
    return 'ok';
  }

  private readonly uncork = (): void => {
    this.stdin.uncork();
  };

  /** No answer can come from a child whose stdout is closed: it is stopped, and reported as failed. */
  private ranOnWithoutOutput(): void {
    this.fail('closed its stdout while running');
  }

  /** Stops a child that no longer does its job; its exit is reported as a failure, with `why`. */
  fail(why: string): void {
    if (this.done || this.stopping) return;
    this.failure = why;
    void this.stop();
  }

  /** SIGTERM to the group (and EOF on stdin), SIGKILL after the grace period; resolves on exit. */
  stop(): Promise<ExitInfo> {
    if (this.done || this.stopping) return this.exited;
    this.stopping = true;
    this.stdin.end();
    this.signal('SIGTERM');
    this.graceTimer = setTimeout(() => {
      this.killed = true;
      this.signal('SIGKILL');
    }, this.spec.killGraceMs);
    return this.exited;
  }

  /** SIGKILL to the group at once, synchronously (the gateway is exiting). */
  killNow(): void {
    if (this.done) return;
    this.stopping = true;
    this.killed = true;
    this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.pid;
    if (pid === undefined) return;
    try {
      if (process.platform === 'win32') this.proc.kill(sig);
      else process.kill(-pid, sig);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  private line(line: string, stdout: Readable): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.on.garbage(line);
      return;
    }
    const kind = messageKind(value);
    if (!kind) {
      this.on.garbage(line);
      return;
    }
    const r = this.on.message(value as JSONRPCMessage, kind);
    if (r instanceof Promise) {
      if (this.busy++ === 0) stdout.pause();
      const settle = () => {
        if (--this.busy === 0) stdout.resume();
      };
      r.then(settle, settle);
    }
  }

  private stderrLine(line: string): void {
    const l = line.length > STDERR_LINE_CHARS ? line.slice(0, STDERR_LINE_CHARS) + '…' : line;
    this.ring.push(l);
    if (this.ring.length > this.spec.stderrLines) this.ring.shift();
    this.on.stderr(l);
  }

  /**
   * The command exited. Its last output is read to the end, and whatever it left in its group (its own
   * children, the watcher) is killed: nothing talks to them any more. The lifeline's other end closes
   * when the watcher is gone, so the exit is reported once the whole group is.
   */
  private exitedWith(code: number | null, signal: NodeJS.Signals | null, streams: Readable[]): void {
    // The group id stays reserved while the watcher lives, so this cannot reach another group.
    this.signal('SIGKILL');
    if (this.graceTimer) clearTimeout(this.graceTimer);
    streams = streams.filter((s) => !s.readableEnded && !s.destroyed);
    let waiting = streams.length;
    if (waiting === 0) {
      this.finish({ code, signal });
      return;
    }
    const timer = setTimeout(() => {
      for (const s of streams) s.destroy();
      this.finish({ code, signal });
    }, OUTPUT_AFTER_EXIT_MS);
    for (const s of streams) {
      s.once('close', () => {
        if (--waiting > 0) return;
        clearTimeout(timer);
        this.finish({ code, signal });
      });
    }
  }

  private finish(info: { code: number | null; signal: NodeJS.Signals | null; spawnError?: string }): void {
    if (this.done) return;
    this.done = true;
    live.delete(this);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    if (this.outputTimer) clearTimeout(this.outputTimer);
    this.stdin.destroy();
    (this.proc.stdio[3] as Readable | null | undefined)?.destroy();
    const exit: ExitInfo = { ...info, stderr: [...this.ring], stopped: this.stopping && this.failure === undefined, killed: this.killed };
    if (this.failure !== undefined) exit.failure = this.failure;
    this.resolveExit(exit);
    this.on.exit(exit);
  }
}
