// 2026-07-28 requests in isolated mode: there is no session to give a child to, and a child per
// request would cost a process start each time. Requests are routed instead by who sends them and
// what they declare (principal + client capabilities): each such key gets one child, shared by its
// requests the way --shared shares one (ids rewritten, one handshake), kept while used and stopped
// after `idleMs` without requests. Different principals never share a child.
import type { Backend, BackendHost, StatelessContext } from '../backend/types.js';
import { digestOf } from '../backend/request-state.js';
import type { GatewayRuntime } from './runtime.js';
import { SharedUpstream } from './shared.js';

interface Entry {
  upstream: SharedUpstream;
  attached: number;
  lastUsed: number;
}

export class StatelessPool {
  private readonly entries = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly rt: GatewayRuntime,
    private readonly idleMs: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * A backend for one stateless request, on the child of its key (started when there is none). At the
   * cap, an idle child is stopped first, and the new one starts once it has exited: a child that is
   * stopping still counts, so the cap holds however fast requests with new keys come.
   */
  async attach(host: BackendHost, ctx: StatelessContext): Promise<Backend> {
    const key = `${ctx.principal ?? ''}|${digestOf(ctx.clientCapabilities)}`;
    for (;;) {
      if (this.closed) throw new Error('mcpwire gateway: the gateway is shutting down');
      const found = this.entries.get(key);
      if (found && found.upstream.state !== 'up') void this.drop(key, found);
      else if (found) return this.join(found, host);
      if (!this.rt.full) break;
      const stopped = this.evictIdle();
      if (!stopped) {
        throw new Error(`mcpwire gateway: the gateway is running its maximum of ${this.rt.opts.maxChildren} server processes (--max-children); retry later`);
      }
      await stopped;
    }
    const entry: Entry = { upstream: new SharedUpstream(this.rt, 'never'), attached: 0, lastUsed: Date.now() };
    this.entries.set(key, entry);
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(1_000, Math.min(this.idleMs, 10_000)));
    this.sweeper.unref();
    return this.join(entry, host);
  }

  private join(e: Entry, host: BackendHost): Backend {
    const session = e.upstream.attach(host);
    e.attached++;
    e.lastUsed = Date.now();
    let open = true;
    return {
      receive: (message, extra) => session.receive(message, extra),
      close: () => {
        if (!open) return;
        open = false;
        session.close();
        e.attached--;
        e.lastUsed = Date.now();
      },
    };
  }

  /** Stops the least recently used child no request holds; resolves once it has exited. Undefined when every child is busy. */
  private evictIdle(): Promise<void> | undefined {
    let oldest: [string, Entry] | undefined;
    for (const kv of this.entries) if (kv[1].attached === 0 && (!oldest || kv[1].lastUsed < oldest[1].lastUsed)) oldest = kv;
    return oldest && this.drop(oldest[0], oldest[1]);
  }

  private sweep(): void {
    const before = Date.now() - this.idleMs;
    for (const [key, e] of this.entries) if (e.attached === 0 && e.lastUsed < before) void this.drop(key, e);
    if (this.entries.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private drop(key: string, e: Entry): Promise<void> {
    this.entries.delete(key);
    return e.upstream.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.upstream.close()));
  }
}
