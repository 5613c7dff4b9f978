// A real redis-server for the tests, on a free port, in a folder of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops it (SHUTDOWN: AOF flushed) and starts it again on the same port and data. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
  kill9(): void;
  /** SIGSTOP / SIGCONT: a Redis that keeps its connections but stops answering. */
  pause(): void;
  resume(): void;
  start(): Promise<void>;
  /** Runs one command with redis-cli semantics over a raw socket (for test assertions). */
  command(...args: string[]): Promise<unknown>;
  close(): Promise<void>;
}

/** A port free on 127.0.0.1 at the time of asking. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const HAS_SETPRIV = existsSync('/usr/bin/setpriv');

export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpwire-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
    // Dies with the test process, even one killed from outside (setpriv execs redis-server: same pid).
    child = HAS_SETPRIV
      ? spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'redis-server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve();
        if (out.includes('Address already in use')) reject(new Error('port in use'));
      };
      child!.stdout!.on('data', onData);
      child!.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out.slice(-500)}`)));
    });
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async restart(downMs = 0) {
      await stop();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop,
    start: launch,
    kill9() {
      child?.kill('SIGKILL');
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    command: (...args) => rawCommand(port, args),
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** A minimal RESP client: enough for the tests' SCAN / PTTL / XRANGE checks. */
function rawCommand(port: number, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const parsed = parse(buf, 0);
      if (parsed) {
        socket.end();
        resolve(parsed[0]);
      }
    });
    socket.on('error', reject);
    socket.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
  });
}

function parse(buf: Buffer, at: number): [unknown, number] | undefined {
  const end = buf.indexOf('\r\n', at);
  if (end === -1) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, end);
  const next = end + 2;
  switch (type) {
    case '+':
      return [line, next];
    case '-':
      return [new Error(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n === -1) return [null, next];
      if (buf.length < next + n + 2) return undefined;
      return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n === -1) return [null, next];
      const items: unknown[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, pos);
        if (!r) return undefined;
        items.push(r[0]);
        pos = r[1];
      }
      return [items, pos];
    }
    default:
      throw new Error(`unexpected RESP type ${type}`);
  }
}
