// The small port through which mcpwire talks to Redis (node-redis v6): three connections per instance
// (commands, pub/sub, blocking reads), never one per session; scripts by EVALSHA; up/down tracking.
import { createHash } from 'node:crypto';
import type { createClient } from 'redis';
import type { Logger } from 'pino';

type Client = ReturnType<typeof createClient>;
interface Connections {
  commands: Client;
  pubsub: Client;
  /** Blocking reads must not share the command connection; its queue would stall behind them. */
  reader: Client;
}

export interface RedisPortOptions {
  url: string;
  /** Key and channel prefix, so several deployments (or tests) share one Redis. */
  prefix: string;
  commandTimeoutMs: number;
  /** How long `connect` waits for Redis to answer before it fails (0: for ever). */
  startTimeoutMs?: number;
  log: Logger;
}

/** Redis did not answer at start-up: the instance does not start. Names the host only (the URL may hold a password). */
export class RedisUnreachableError extends Error {
  constructor(
    readonly host: string,
    waitedMs: number,
    readonly why: string,
  ) {
    super(`mcpwire: Redis at ${host} did not answer within ${waitedMs} ms (${why})`);
    this.name = 'RedisUnreachableError';
  }
}

/** Thrown when Redis cannot be reached: callers answer 503, never 404. */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the session store (Redis) is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StoreUnavailableError';
  }
}

export class RedisPort {
  readonly prefix: string;
  /** Made by `connect`, which loads node-redis: an instance without Redis never loads it (8–10 MiB of RSS). */
  private connections: Connections | undefined;
  private readonly shas = new Map<string, string>();
  private readonly listeners = new Set<(up: boolean) => void>();
  private upSince = 0;
  private closed = false;
  /** Commands sent and not answered yet, oldest first (a Set keeps insertion order). */
  private readonly waiting = new Set<{ since: number; fail: (err: Error) => void }>();
  private watchdog: NodeJS.Timeout | undefined;
  /** Why the last connection attempt failed, for the start-up error. */
  private lastError = 'no answer';

  constructor(private readonly opts: RedisPortOptions) {
    this.prefix = opts.prefix;
  }

  private get clients(): Connections {
    if (!this.connections) throw new Error('mcpwire: the Redis port was used before connect()');
    return this.connections;
  }

  private async createConnections(): Promise<Connections> {
    const { createClient } = await import('redis');
    const base = {
      url: this.opts.url,
      RESP: 3 as const,
      maintNotifications: 'disabled' as const,
      // A command that was sent when the socket dropped may have run: it is rejected, never resent.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 2_000,
        keepAlive: true,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 5), 1_000) + Math.floor(Math.random() * 100),
      },
    };
    // Command timeouts are ours (see `guard`): node-redis's own (on by default) arm a timer and an
    // AbortSignal per command, a tenth of an instance's CPU under load.
    const connections: Connections = {
      commands: createClient({ ...base, commandOptions: { timeout: 0 } }),
      pubsub: createClient(base),
      reader: createClient(base),
    };
    for (const [name, c] of Object.entries(connections)) {
      // Without an error listener node-redis would crash the process on the first connection error.
      c.on('error', (err: Error) => {
        this.lastError = err.message || err.name;
        this.opts.log.debug({ err: err.message, connection: name }, 'redis connection error');
      });
    }
    connections.commands.on('ready', () => this.setUp(true));
    connections.commands.on('end', () => this.setUp(false));
    connections.commands.on('reconnecting', () => this.setUp(false));
    return connections;
  }

  async connect(): Promise<void> {
    this.connections ??= await this.createConnections();
    // Closed while node-redis was loading: nothing is connected yet, and nothing may be now.
    if (this.closed) throw new StoreUnavailableError('the Redis port was closed while it connected');
    const all = Object.values(this.connections);
    const connected = Promise.all(all.map((c) => c.connect()));
    const ms = this.opts.startTimeoutMs ?? 0;
    if (ms > 0) {
      // node-redis retries for ever: a wrong URL or a Redis that never comes would hold start-up silently.
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
      const outcome = await Promise.race([connected.then(() => 'ok' as const), gaveUp]).finally(() => clearTimeout(timer));
      if (outcome === 'timeout') {
        connected.catch(() => {}); // rejected by the destroy below
        for (const c of all) if (c.isOpen) c.destroy();
        throw new RedisUnreachableError(new URL(this.opts.url).host || 'localhost', ms, this.lastError);
      }
    } else {
      await connected;
    }
    this.setUp(true);
  }

  get up(): boolean {
    return this.upSince > 0;
  }

  /** How long the command connection has been up without a break (0 when down). */
  get upForMs(): number {
    return this.upSince > 0 ? Date.now() - this.upSince : 0;
  }

  onStateChange(listener: (up: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setUp(up: boolean): void {
    if (this.closed) return;
    if (up === this.up) return;
    this.upSince = up ? Date.now() : 0;
    this.opts.log.info({ up }, up ? 'redis is up' : 'redis is down');
    for (const l of this.listeners) l(up);
  }

  key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  command<T = unknown>(args: string[]): Promise<T> {
    return this.guard(this.clients.commands.sendCommand(args)) as Promise<T>;
  }

  /**
   * Settles with the command's reply, or fails it once it has waited commandTimeoutMs (a Redis that
   * stopped answering): one watchdog timer for all commands, never a timer per command.
   */
  private guard(reply: Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const entry = { since: Date.now(), fail: reject };
      this.waiting.add(entry);
      reply.then(
        (v) => {
          this.waiting.delete(entry);
          resolve(v);
        },
        (err: unknown) => {
          this.waiting.delete(entry);
          reject(this.translate(err));
        },
      );
      if (!this.watchdog) {
        this.watchdog = setInterval(() => this.expire(), Math.max(10, Math.floor(this.opts.commandTimeoutMs / 4)));
        this.watchdog.unref();
      }
    });
  }

  private expire(): void {
    const before = Date.now() - this.opts.commandTimeoutMs;
    for (const e of this.waiting) {
      if (e.since > before) break;
      this.waiting.delete(e);
      e.fail(new StoreUnavailableError(`no reply within ${this.opts.commandTimeoutMs} ms`));
    }
    if (this.waiting.size === 0) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }

  /** Runs a Lua script by its digest, loading it on NOSCRIPT (after a Redis restart, say). */
  async script<T = unknown>(source: string, keys: string[], args: Array<string | number>): Promise<T> {
    let sha = this.shas.get(source);
    if (!sha) {
      sha = createHash('sha1').update(source).digest('hex');
      this.shas.set(source, sha);
    }
    const argv = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return (await this.guard(this.clients.commands.sendCommand(['EVALSHA', sha, ...argv]))) as T;
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return (await this.guard(this.clients.commands.sendCommand(['EVAL', source, ...argv]))) as T;
      throw err;
    }
  }

  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    await this.clients.pubsub.subscribe(channel, listener);
  }

  /** XREAD BLOCK on the dedicated connection (never BLOCK 0: a dead Redis must not hang it forever). */
  async blockingRead(args: string[]): Promise<unknown> {
    try {
      return await this.clients.reader.sendCommand(args);
    } catch (err) {
      throw this.translate(err);
    }
  }

  /** The subscriber connection is back after a break: doorbells may have been missed. */
  onResubscribed(listener: () => void): void {
    this.clients.pubsub.on('ready', listener);
  }

  private translate(err: unknown): Error {
    if (err instanceof Error && /^(ERR|WRONGTYPE|NOSCRIPT|BUSY)/.test(err.message)) return err;
    return new StoreUnavailableError(err);
  }

  /** Lets pending commands finish while Redis answers; a Redis that is away has no say in how long this takes. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    await Promise.all(Object.values(this.connections ?? {}).map((c) => this.closeClient(c)));
  }

  private async closeClient(c: Client): Promise<void> {
    if (c.isReady) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), this.opts.commandTimeoutMs)));
      const closed = await Promise.race([c.close().then(() => true, () => true), timedOut]);
      clearTimeout(timer);
      if (closed) return;
    }
    // Not connected (it would wait for a reconnect that may never come), or not closing in time.
    if (c.isOpen) c.destroy();
  }
}
