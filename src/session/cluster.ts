// Several instances over Redis: this instance's lease, its doorbell channel, and the Redis side of
// every session operation (create, ingress, attach, ownership, hibernation, end, change fan-out).
// Heartbeats, connections and subscriptions cost O(instances), never O(sessions).
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { InboundExtra } from '../backend/types.js';
import type { ParsedMessage } from '../jsonrpc.js';
import { ACQUIRE, ATTACH, CREATE, END, HIBERNATE, INBOX_DONE, INGRESS, RELEASE, TOUCH } from '../store/redis-scripts.js';
import type { RedisPort } from '../store/redis-port.js';
import { INITIAL_CURSOR, parseEntries, RedisEventStore, RedisKeys, requestKey, type Entry, type RedisLogSettings } from '../store/redis.js';
import { broadcastLogLevel, changeNotification, levelPasses } from '../store/change.js';
import type { ChangeEvent } from '../store/types.js';
import type { ClusteredSession } from './clustered-session.js';
import type { Stats } from './stats.js';

export interface ClusterSettings extends RedisLogSettings {
  /** How long an instance's lease lasts without renewal; a dead instance's sessions move after it. */
  leaseMs: number;
  log: Logger;
  stats: Stats;
}

export interface IngressResult {
  /** 'busy': a request of the POST still runs (it names the POST's stream, or runs in a batch); nothing was taken. */
  state: 'live' | 'hib' | 'gone' | 'busy';
  owner: string;
  epoch: string;
  ownerAlive: boolean;
  /** The inbox id before the first appended message, and the last appended one. */
  prev: string;
  last: string;
}

export interface AttachInfo {
  state: 'live' | 'hib';
  owner: string;
  ownerAlive: boolean;
  finished: boolean;
  /** What the last connection of this stream received ('' if none). */
  delivered: string;
  /** The epoch at which this POST stream was opened ('' if never: an unknown stream). */
  opened: string;
}

export type AcquireResult =
  | { status: 'ok'; epoch: string; record: Record<string, string>; streams: Record<string, string>; fromState: string }
  | { status: 'mine' | 'alive' | 'moved' | 'gone'; owner: string };

/** The session record as plain data, as another instance needs it. */
export type SessionRecord = Record<string, string>;

/** How long the name of a change announced once stays claimed: longer than instances can lag behind each other. */
const ANNOUNCED_TTL_MS = 60_000;

/**
 * What instances write to Redis (keys, record fields, entries, scripts' contracts). Bumped whenever an
 * instance of the previous format would misread what this one writes: instances of two formats never
 * share a prefix.
 */
export const STORAGE_FORMAT = '1';

/** Redis already holds another storage format under this prefix: mixing versions would corrupt sessions. */
export class StorageFormatError extends Error {
  constructor(prefix: string, found: string) {
    super(
      `mcpwire: the Redis key prefix '${prefix}' is in use by instances writing storage format ${found}, and this version writes format ${STORAGE_FORMAT}; ` +
        'they cannot share sessions. Stop the other instances first, or give this deployment another prefix (--redis-prefix).',
    );
    this.name = 'StorageFormatError';
  }
}

export class Cluster {
  /** Random per process start, never host:pid (two workers must never share one). */
  readonly me = randomBytes(8).toString('hex');
  readonly keys: RedisKeys;
  readonly store: RedisEventStore;
  private sessions: Map<string, ClusteredSession> = new Map();
  private heartbeat: NodeJS.Timeout | undefined;
  private cursorWrites = new Map<string, string>();
  private cursorTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly port: RedisPort,
    readonly settings: ClusterSettings,
  ) {
    this.keys = new RedisKeys(port.prefix);
    this.store = new RedisEventStore(
      port,
      this.keys,
      settings,
      (sid) => ({ me: this.me, epoch: this.sessions.get(sid)?.epoch ?? '' }),
      (sid) => this.sessions.get(sid)?.fenced(),
    );
  }

  get leaseKey(): string {
    return this.keys.leasePrefix() + this.me;
  }

  /** Connects, takes the lease, listens on the doorbell channel. */
  async start(sessions: Map<string, ClusteredSession>): Promise<void> {
    this.sessions = sessions;
    await this.port.connect();
    const found = await this.claimFormat();
    if (found !== STORAGE_FORMAT) throw new StorageFormatError(this.port.prefix, found);
    await this.renewLease();
    await this.port.subscribe(this.keys.channelPrefix() + this.me, (m) => this.doorbell(m));
    // Doorbells rung while the subscriber was away are lost: every held stream re-reads its log.
    this.port.onResubscribed(() => this.catchUpAll());
    const every = Math.max(50, Math.floor(this.settings.leaseMs / 3));
    this.heartbeat = setInterval(() => void this.tick(), every);
    this.heartbeat.unref();
  }

  /**
   * Marks the prefix with this instance's storage format unless it is marked already, and returns the
   * mark. It lives as long as a session's keys and is renewed while any instance runs.
   */
  private async claimFormat(): Promise<string> {
    const key = this.keys.format();
    const ttl = String(this.settings.ttlMs);
    await this.port.command(['SET', key, STORAGE_FORMAT, 'NX', 'PX', ttl]);
    const found = await this.port.command<string | null>(['GET', key]);
    if (found === STORAGE_FORMAT) await this.port.command(['PEXPIRE', key, ttl]);
    return found ?? STORAGE_FORMAT;
  }

  private async renewLease(): Promise<void> {
    const sentAt = Date.now();
    await this.port.command(['SET', this.leaseKey, String(process.pid), 'PX', String(this.settings.leaseMs)]);
    this.leaseSentAt = sentAt;
  }

  /** When the last renewal that Redis took was sent: the lease surely lasts until leaseMs after it. */
  private leaseSentAt = 0;

  /**
   * Whether this instance's lease may have lapsed (the process was paused, or Redis was away): its
   * sessions may have been taken over meanwhile, so an owner checks before it delivers anything.
   */
  get leaseInDoubt(): boolean {
    return Date.now() - this.leaseSentAt >= this.settings.leaseMs;
  }

  /** Whether this instance still owns the session at `epoch`. */
  async stillOwns(sid: string, epoch: string): Promise<boolean> {
    const [own, ep] = await this.port.command<Array<string | null>>(['HMGET', this.keys.session(sid), 'own', 'ep']);
    return own === this.me && ep === epoch;
  }

  private ticks = 0;
  private touchedAt = 0;
  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.renewLease();
      // Four times per TTL: sessions whose streams are held here stay alive without messages.
      const now = Date.now();
      if (now - this.touchedAt >= this.settings.ttlMs / 4) {
        this.touchedAt = now;
        void this.claimFormat().then(
          (found) => {
            if (found !== STORAGE_FORMAT) this.settings.log.error({ found, mine: STORAGE_FORMAT }, 'another storage format took over this Redis prefix');
          },
          () => {},
        );
        void this.touchHeld(now).catch(() => {});
      }
      // Every lease period: sessions whose streams are held here but whose owner's lease is gone.
      if (++this.ticks % 3 === 0) await this.checkOwners();
    } catch {
      // Redis is down: the port reports it; leases of every instance lapse alike.
    }
  }

  /**
   * A listener may send nothing for longer than the idle timeout: its held stream is what keeps the
   * session in use, wherever the stream is held (the owner's sweeper reads the activity stamped here).
   */
  private async touchHeld(now: number): Promise<void> {
    const k = this.keys;
    const ttl = String(this.settings.ttlMs);
    const uris = new Set<string>();
    await Promise.all(
      [...this.sessions.values()].map(async (s) => {
        const tags = s.ended ? [] : s.heldTags();
        if (tags.length === 0) return;
        const keys = [k.session(s.id), k.inbox(s.id), k.streamsMeta(s.id), k.finished(s.id), k.index()];
        const subscribed = await this.port.script<string | null>(TOUCH, keys, [s.id, String(now), ttl, k.streamPrefix(s.id), ...tags]).catch(() => null);
        if (subscribed) for (const uri of JSON.parse(subscribed) as string[]) uris.add(uri);
      }),
    );
    // A listener's subscriptions live as long as it does (each set is shared by its URI's subscribers),
    // and the index of live sessions (list_changed goes to its members) as long as any instance does.
    const shared = [...[...uris].map((uri) => k.subscriptionPrefix() + sha1(uri)), k.index()];
    await Promise.all(shared.map((key) => this.port.command(['PEXPIRE', key, ttl]).catch(() => {})));
  }

  private async checkOwners(): Promise<void> {
    const byOwner = new Map<string, ClusteredSession[]>();
    for (const s of this.sessions.values()) {
      if (s.owned || s.ended || s.owner === '' || s.attachedStreams === 0) continue;
      const list = byOwner.get(s.owner) ?? [];
      list.push(s);
      byOwner.set(s.owner, list);
    }
    for (const [owner, list] of byOwner) {
      const alive = await this.port.command<number>(['EXISTS', this.keys.leasePrefix() + owner]);
      if (alive === 0) for (const s of list) void s.takeOver(owner);
    }
  }

  /** Takeover waits until Redis has answered for a whole lease: after a Redis restart, leases come back first. */
  get mayTakeOver(): boolean {
    return this.port.upForMs >= this.settings.leaseMs;
  }

  private doorbell(message: string): void {
    const bar = message.indexOf('|');
    const kind = message.slice(0, bar);
    if (kind === 'ev') {
      // ev|S|tag|id|prev|fin|data
      const [[, sid, tag, id, prev, fin], data] = splitHead(message, 6);
      this.sessions.get(sid!)?.remoteEvent(tag!, id!, prev!, fin === '1', data);
      return;
    }
    if (kind === 'eg') {
      const [, sid, tag, id] = message.split('|');
      this.sessions.get(sid!)?.remoteEvent(tag!, id!, '', false, '');
      return;
    }
    if (kind === 'im') {
      // im|S|id|prev|tag|x\nm
      const [[, sid, id, prev, tag], rest] = splitHead(message, 5);
      const nl = rest.indexOf('\n');
      this.sessions.get(sid!)?.inboxMessage(id!, prev!, tag!, rest.slice(0, nl), rest.slice(nl + 1));
      return;
    }
    // in|S · ow|S|owner · dt|S|tag · end|S
    const [, sid, arg] = message.split('|');
    const session = this.sessions.get(sid!);
    if (!session) return;
    if (kind === 'in') void session.drain();
    // A holder learns who owns the session now: should that owner die, the holder's check notices.
    else if (kind === 'ow') session.owner = arg!;
    else if (kind === 'dt') session.letGo(arg!);
    else if (kind === 'end') session.end('ended on another instance');
  }

  private catchUpAll(): void {
    for (const s of this.sessions.values()) s.catchUpAfterOutage();
  }

  // ── per-session operations ──────────────────────────────────────────────────────────────────

  async create(sid: string, principal: string | undefined, wire: string): Promise<void> {
    const k = this.keys;
    await this.port.script(CREATE, [k.session(sid), k.inbox(sid), k.streamsMeta(sid), k.index()], [sid, this.me, principal ?? '', wire, Date.now(), this.settings.ttlMs]);
  }

  async lookup(sid: string): Promise<SessionRecord | undefined> {
    const flat = await this.port.command<unknown>(['HGETALL', this.keys.session(sid)]);
    const record = toRecord(flat);
    if (!record.st || record.st === 'del') return undefined;
    return record;
  }

  /**
   * `named`: each request goes with its id, for Redis to know which run (legacy sessions, and sessions
   * that may batch). `json`: the POST's answers go in a JSON body (its stream takes responses only).
   */
  async ingress(sid: string, principal: string | undefined, messages: ParsedMessage[], extra: InboundExtra, tag: string | undefined, named: boolean, json: boolean): Promise<IngressResult> {
    const k = this.keys;
    const x = JSON.stringify({ headers: extra.requestInfo?.headers, authInfo: extra.authInfo, j: json ? 1 : undefined });
    const args: Array<string | number> = [sid, this.me, principal ?? '', Date.now(), this.settings.ttlMs, tag ?? '', k.leasePrefix(), k.channelPrefix(), messages.length];
    for (const p of messages) {
      const id = (p.message as { id?: string | number }).id;
      args.push(JSON.stringify(p.message), x, named && p.kind === 'request' && id !== undefined ? requestKey(id) : '');
    }
    const r = await this.port.script<string[]>(INGRESS, [k.session(sid), k.inbox(sid), k.streamsMeta(sid), k.finished(sid), tag ? k.stream(sid, tag) : k.session(sid)], args);
    if (r[0] === 'gone' || r[0] === 'busy') return { state: r[0], owner: '', epoch: '', ownerAlive: false, prev: '', last: '' };
    return { state: r[0] as 'live' | 'hib', owner: r[1]!, epoch: r[2]!, ownerAlive: Number(r[3]) === 1, prev: r[4]!, last: r[5]! };
  }

  async attach(sid: string, principal: string | undefined, tag: string): Promise<AttachInfo | 'gone'> {
    const k = this.keys;
    const r = await this.port.script<string[]>(ATTACH, [k.session(sid), k.streamsMeta(sid)], [sid, this.me, principal ?? '', tag, Date.now(), this.settings.ttlMs, k.leasePrefix(), k.channelPrefix()]);
    if (r[0] === 'gone') return 'gone';
    return { state: r[0] as 'live' | 'hib', owner: r[1]!, ownerAlive: Number(r[2]) === 1, finished: r[4] === '1', delivered: r[5]!, opened: r[7] ?? '' };
  }

  release(sid: string, tag: string, delivered: string): void {
    this.port.script(RELEASE, [this.keys.streamsMeta(sid)], [this.me, tag, delivered]).catch(() => {});
  }

  async acquire(sid: string, expectedOwner: string): Promise<AcquireResult> {
    const k = this.keys;
    const r = await this.port.script<string[]>(ACQUIRE, [k.session(sid), k.streamsMeta(sid)], [this.me, expectedOwner, k.leasePrefix(), Date.now(), this.settings.ttlMs, sid, k.channelPrefix()]);
    if (r[0] !== 'ok') return { status: r[0] as 'mine' | 'alive' | 'moved' | 'gone', owner: r[1] ?? '' };
    const bar = r.indexOf('|');
    return { status: 'ok', epoch: r[1]!, fromState: r[2]!, record: toRecord(r.slice(3, bar)), streams: toRecord(r.slice(bar + 1)) };
  }

  async hibernate(sid: string, epoch: string, inboxCursor: string): Promise<boolean> {
    const k = this.keys;
    return (await this.port.script<number>(HIBERNATE, [k.session(sid), k.inbox(sid)], [this.me, epoch, inboxCursor])) === 1;
  }

  async end(sid: string): Promise<void> {
    const k = this.keys;
    await this.port.script(END, [k.session(sid), k.inbox(sid), k.streamsMeta(sid), k.index(), k.finished(sid)], [sid, this.me, k.streamPrefix(sid), k.channelPrefix(), k.subscriptionPrefix()]);
  }

  async subscribed(sid: string, tag: string, uri: string, on: boolean): Promise<void> {
    const key = this.keys.subscriptionPrefix() + sha1(uri);
    if (on) {
      await this.port.command(['SADD', key, `${sid}|${tag}`]);
      await this.port.command(['PEXPIRE', key, String(this.settings.ttlMs)]);
    } else {
      await this.port.command(['SREM', key, `${sid}|${tag}`]);
    }
  }

  async readInbox(sid: string, after: string, count: number): Promise<Entry[]> {
    const start = after === INITIAL_CURSOR ? '-' : `(${after}`;
    return parseEntries(await this.port.command(['XRANGE', this.keys.inbox(sid), start, '+', 'COUNT', String(count)]));
  }

  /**
   * An inbox entry taken while the owner was not listening is about to be delivered: its request is
   * in this instance's hands from now on, so a later takeover must fail it as lost, not run it again.
   */
  async claimUnheard(sid: string, mark: string): Promise<void> {
    await this.port.command(['HDEL', this.keys.streamsMeta(sid), mark]);
  }

  /** The owner's processed inbox position, written at most every 50 ms per session. */
  persistInboxCursor(sid: string, cursor: string): void {
    this.cursorWrites.set(sid, cursor);
    this.cursorTimer ??= setTimeout(() => {
      this.cursorTimer = undefined;
      const writes = [...this.cursorWrites];
      this.cursorWrites.clear();
      for (const [s, c] of writes) this.port.script(INBOX_DONE, [this.keys.session(s), this.keys.inbox(s)], [c]).catch(() => {});
    }, 50);
  }

  /** Ends the connection holding a stream, wherever it is (SSE polling / closeSSEStream). */
  async closeHolder(sid: string, tag: string): Promise<void> {
    const holder = await this.port.command<string | null>(['HGET', this.keys.streamsMeta(sid), `h:${tag}`]);
    if (!holder) return;
    if (holder === this.me) this.sessions.get(sid)?.letGo(tag);
    else await this.port.command(['PUBLISH', this.keys.channelPrefix() + holder, `dt|${sid}|${tag}`]);
  }

  /** Rings an owner whose inbox has messages it may not have been told about. */
  async ring(owner: string, sid: string): Promise<void> {
    await this.port.command(['PUBLISH', this.keys.channelPrefix() + owner, `in|${sid}`]);
  }

  /**
   * Whether this instance is the first to announce the change named `name` (several instances may
   * each see the same change, as when they watch one folder). The name is kept for a minute.
   */
  async claim(name: string): Promise<boolean> {
    return (await this.port.command<string | null>(['SET', this.keys.announced(sha1(name)), '1', 'NX', 'PX', String(ANNOUNCED_TTL_MS)])) === 'OK';
  }

  /**
   * A change, delivered cluster-wide without waking anyone: appended straight to the GET (or legacy)
   * stream of every session it concerns, hibernated or not, whichever instance owns it.
   */
  async fanOut(event: ChangeEvent): Promise<void> {
    const data = JSON.stringify(changeNotification(event));
    let targets: string[];
    if (event.kind === 'resource_updated') {
      targets = await this.port.command<string[]>(['SMEMBERS', this.keys.subscriptionPrefix() + sha1(event.uri)]);
    } else {
      const level = broadcastLogLevel(event);
      const sids = await this.port.command<string[]>(['ZRANGE', this.keys.index(), '0', '-1']);
      const records = await Promise.all(sids.map((sid) => this.port.command<Array<string | null>>(['HMGET', this.keys.session(sid), 'w', 'pv', 'll'])));
      targets = sids.flatMap((sid, i) => {
        const [wire, pv, logLevel] = records[i] ?? [];
        return wire && pv && levelPasses(level, logLevel) ? [`${sid}|${wire === 'legacy' ? 'l' : 'g'}`] : [];
      });
      // Sessions whose keys expired (their owner died and nobody touched them since) leave the index here.
      const gone = sids.filter((_sid, i) => !records[i]?.[0]);
      if (gone.length > 0) await this.port.command(['ZREM', this.keys.index(), ...gone]);
    }
    await Promise.all(
      targets.map((t) => {
        const [sid, tag] = t.split('|') as [string, string];
        return this.store.append(sid, tag, data, false, '', true).catch(() => {
          // The session is gone: forget it in the subscription set.
          if (event.kind === 'resource_updated') void this.port.command(['SREM', this.keys.subscriptionPrefix() + sha1(event.uri), t]).catch(() => {});
        });
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.cursorTimer) clearTimeout(this.cursorTimer);
    await this.port.command(['DEL', this.leaseKey]).catch(() => {});
    await this.port.close();
  }
}

/** A doorbell's first `n` fields, and the rest of it (a payload, which may itself hold '|'). */
function splitHead(message: string, n: number): [string[], string] {
  const head = message.split('|', n);
  return [head, message.slice(head.reduce((at, field) => at + field.length + 1, 0))];
}

function sha1(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}

/** A flat [field, value, …] reply (or a RESP3 map) as a record. */
export function toRecord(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(flat)) for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  else if (flat && typeof flat === 'object') for (const [k, v] of Object.entries(flat)) out[k] = String(v);
  return out;
}
