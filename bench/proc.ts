// Servers under test as pinned child processes, and what the kernel says they cost: CPU time from
// /proc/<pid>/task/*/schedstat (nanoseconds on CPU, per thread), RSS from /proc/<pid>/status.
// A server's cost includes its descendants' (a gateway's stdio children).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

export const SERVER_CPU = '0';
export const LOADGEN_CPU = '1';

/** Pins this process (every thread of it) to the load generator's core. */
export function pinSelf(): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', LOADGEN_CPU, String(process.pid)], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error('bench: taskset could not pin the load generator (is util-linux installed?)');
}

export function descendants(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0 && out.length < 10_000) {
    const p = stack.pop()!;
    out.push(p);
    for (const tid of safeReaddir(`/proc/${p}/task`)) {
      const kids = safeRead(`/proc/${p}/task/${tid}/children`).trim();
      if (kids !== '') for (const k of kids.split(' ')) stack.push(Number(k));
    }
  }
  return out;
}

/** Nanoseconds on CPU of the process tree under `pid`, or of `pid` alone (exited threads not counted). */
export function cpuNs(pid: number, tree = true): number {
  let ns = 0;
  for (const p of tree ? descendants(pid) : [pid]) {
    for (const tid of safeReaddir(`/proc/${p}/task`)) {
      const s = safeRead(`/proc/${p}/task/${tid}/schedstat`);
      if (s !== '') ns += Number(s.slice(0, s.indexOf(' ')));
    }
  }
  return ns;
}

/** Resident set size in KiB of `pid` alone, or of its whole tree. */
export function rssKiB(pid: number, tree = false): number {
  let kib = 0;
  for (const p of tree ? descendants(pid) : [pid]) {
    const m = /VmRSS:\s+(\d+) kB/.exec(safeRead(`/proc/${p}/status`));
    if (m) kib += Number(m[1]);
  }
  return kib;
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export interface RunningServer {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Last lines of its stderr, for the report when it fails. */
  stderr(): string;
  stop(): Promise<void>;
}

export interface ServerSpec {
  name: string;
  /** argv after `node`; `{port}` is replaced by the port. */
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** How to tell it is up: the bench servers print `listening <port>`; others are probed. */
  ready: 'stdout' | 'probe';
}

/** Starts `node <args>` pinned to the server core and waits until it accepts connections. */
export async function startServer(spec: ServerSpec, port: number, timeoutMs = 30_000): Promise<RunningServer> {
  const args = spec.args.map((a) => a.replaceAll('{port}', String(port)));
  const child = spawn('taskset', ['-c', SERVER_CPU, process.execPath, ...args], {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    err = (err + c).slice(-4_000);
  });
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => {
    if (out.length < 4_000) out += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  let up = false;
  while (!up && Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    await new Promise((r) => setTimeout(r, 100));
    up = spec.ready === 'stdout' ? out.includes('listening') : await probe(port);
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const tree = descendants(child.pid!);
    child.kill('SIGTERM');
    const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
    for (const p of gone ? tree.slice(1) : tree) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
  };
  if (!up) {
    await stop();
    throw new Error(`${spec.name} did not start on port ${port}: ${err.trim().split('\n').slice(-5).join(' | ')}`);
  }
  return { name: spec.name, port, pid: child.pid!, child, stderr: () => err, stop };
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A free TCP port below the ephemeral range, so that thousands of client sockets never collide with it. */
export async function freePort(from: number): Promise<number> {
  const { createServer } = await import('node:net');
  for (let port = from; port < from + 500; port++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error(`bench: no free port in ${from}…${from + 499}`);
}

export function ephemeralRange(): [number, number] {
  const [lo, hi] = safeRead('/proc/sys/net/ipv4/ip_local_port_range').trim().split(/\s+/).map(Number);
  return [lo ?? 32768, hi ?? 60999];
}

export function loadAverage(): number {
  return Number(safeRead('/proc/loadavg').split(' ')[0]);
}

/** Share (0–1) of both cores busy over `ms`, from /proc/stat: between runs, that is other work. */
export async function machineBusy(ms: number): Promise<number> {
  const read = () => {
    const f = safeRead('/proc/stat').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0;
}

/**
 * Waits (at most `maxWaitMs`) until other work leaves the machine nearly idle, so that a run is not
 * measured beside someone else's; returns the busy share seen last.
 */
export async function waitForQuiet(maxWaitMs: number, threshold = 0.1): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  let busy = await machineBusy(500);
  while (busy > threshold && Date.now() < deadline) busy = await machineBusy(1_000);
  return busy;
}
