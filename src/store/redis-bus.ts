// The Bus across instances: each change is appended to one capped Redis stream (with a TTL) and
// every instance reads that stream with one blocking XREAD on its RedisPort's reader connection.
// A change published here reaches this instance's listeners at once; its own entries are skipped on
// read-back, so every listener hears each change exactly once. At most once: 2026 listen streams have
// no replay, and 2025 sessions get their copy through the cluster's own fan-out.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { parseEntries } from './redis.js';
import type { RedisPort } from './redis-port.js';
import type { Bus, ChangeEvent } from './types.js';

export interface RedisBusSettings {
  /** Entries kept in the stream (approximately): readers that fall this far behind lose changes. */
  maxLen: number;
  /** The stream key expires this long after the last change. */
  ttlMs: number;
  /** How long one XREAD blocks (never forever: a dead Redis must not hang the reader). */
  blockMs: number;
  log: Logger;
}

const APPEND = `redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'o', ARGV[2], 'e', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`;

const KINDS = new Set<ChangeEvent['kind']>(['tools_list_changed', 'prompts_list_changed', 'resources_list_changed', 'resource_updated']);

export class RedisBus implements Bus {
  private readonly listeners = new Set<(event: ChangeEvent) => void>();
  /** Marks this instance's entries, to skip them on read-back. */
  private readonly me = randomBytes(8).toString('hex');
  private readonly key: string;
  private lastId = '0-0';
  private running = false;

  constructor(
    private readonly port: RedisPort,
    private readonly s: RedisBusSettings,
  ) {
    this.key = port.key('changes');
  }

  publish(event: ChangeEvent): Promise<void> {
    this.deliver(event);
    return this.port
      .script(APPEND, [this.key], [this.s.maxLen, this.me, JSON.stringify(event), this.s.ttlMs])
      .then(() => undefined);
  }

  subscribe(listener: (event: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts reading after the newest entry now in the stream (the port must be connected). */
  async start(): Promise<void> {
    if (this.running) return;
    const newest = await this.port.command<unknown>(['XREVRANGE', this.key, '+', '-', 'COUNT', '1']);
    const entries = parseEntries(newest);
    if (entries.length > 0) this.lastId = entries[0]!.id;
    this.running = true;
    void this.read();
  }

  /** Stops reading; a read blocked in Redis ends when the port closes. */
  stop(): void {
    this.running = false;
  }

  private async read(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const reply = await this.port.blockingRead(['XREAD', 'COUNT', '100', 'BLOCK', String(this.s.blockMs), 'STREAMS', this.key, this.lastId]);
        failures = 0;
        for (const e of parseEntries(entriesOf(reply, this.key))) {
          this.lastId = e.id;
          if (e.fields.o === this.me || !this.running) continue;
          const event = parseEvent(e.fields.e);
          if (event) this.deliver(event);
        }
      } catch (err) {
        if (!this.running) return;
        if (failures++ === 0) this.s.log.warn({ err: (err as Error).message }, 'reading changes from Redis failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** Math.min(failures, 5), 1_000)));
      }
    }
  }

  private deliver(event: ChangeEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.s.log.error({ err }, 'a change listener failed');
      }
    }
  }
}

/** The entries of `key` in an XREAD reply, whether RESP2 (`[[key, entries]]`) or RESP3 (a map). */
function entriesOf(reply: unknown, key: string): unknown {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply)) {
    for (const item of reply) if (Array.isArray(item) && String(item[0]) === key) return item[1];
    return [];
  }
  if (reply instanceof Map) return reply.get(key) ?? [];
  if (typeof reply === 'object') return (reply as Record<string, unknown>)[key] ?? [];
  return [];
}

function parseEvent(raw: string | undefined): ChangeEvent | undefined {
  if (raw === undefined) return undefined;
  try {
    const e = JSON.parse(raw) as ChangeEvent;
    if (!KINDS.has(e.kind)) return undefined;
    if (e.kind === 'resource_updated' && typeof e.uri !== 'string') return undefined;
    return e;
  } catch {
    return undefined;
  }
}
