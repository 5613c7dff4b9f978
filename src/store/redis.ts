// Stream logs in Redis Streams: each server→client message is in Redis before any socket sees it,
// with its id minted by XADD inside the append script and chained to its predecessor (`p`), so a
// reader detects any gap instead of skipping it.
import type { ReadResult, StoredEvent, StreamLog } from './types.js';
import { APPEND } from './redis-scripts.js';
import { StoreUnavailableError, type RedisPort } from './redis-port.js';

export const INITIAL_CURSOR = '0-0';

/** Orders two Redis stream ids (`ms-seq`). */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

export class RedisKeys {
  constructor(readonly prefix: string) {}
  session(sid: string): string {
    return `${this.prefix}{${sid}}`;
  }
  inbox(sid: string): string {
    return `${this.prefix}{${sid}}:in`;
  }
  streamsMeta(sid: string): string {
    return `${this.prefix}{${sid}}:om`;
  }
  finished(sid: string): string {
    return `${this.prefix}{${sid}}:of`;
  }
  stream(sid: string, tag: string): string {
    return `${this.prefix}{${sid}}:o:${tag}`;
  }
  /** Stream keys of a session are this plus the tag (the END script deletes them by it). */
  streamPrefix(sid: string): string {
    return `${this.prefix}{${sid}}:o:`;
  }
  index(): string {
    return `${this.prefix}ss`;
  }
  leasePrefix(): string {
    return `${this.prefix}i:`;
  }
  channelPrefix(): string {
    return `${this.prefix}b:`;
  }
  subscriptionPrefix(): string {
    return `${this.prefix}rs:`;
  }
  /** A change announced once for the cluster (`Cluster.claim`), by the hash of its name. */
  announced(nameHash: string): string {
    return `${this.prefix}once:${nameHash}`;
  }
  bus(): string {
    return `${this.prefix}bus`;
  }
  /** The storage format the instances sharing this prefix write (see Cluster.claimFormat). */
  format(): string {
    return `${this.prefix}format`;
  }
}

/** The append was refused: another instance owns the session now (this one was paused or cut off). */
export class FencedError extends Error {
  constructor() {
    super('this instance no longer owns the session');
    this.name = 'FencedError';
  }
}

export class SessionGoneError extends Error {
  constructor() {
    super('the session no longer exists');
    this.name = 'SessionGoneError';
  }
}

export interface RedisLogSettings {
  maxEvents: number;
  ttlMs: number;
  finishedTtlMs: number;
  /** Finished POST streams kept per session for resumption; older ones go with their metadata. */
  retainFinished: number;
  /** How long appends wait for Redis to come back before they fail. */
  maxOutageMs: number;
  /** Appends that may wait for Redis at once; more fail at once. */
  maxBacklog: number;
}

/** Who may append to a session's logs: this instance, at its epoch of ownership ('' = unfenced). */
export type Fence = (sessionId: string) => { me: string; epoch: string };

/** An appended event's id, and the id before it in its log (whoever appended that one). */
export interface Appended {
  id: string;
  prev: string;
}

interface Waiting {
  args: Array<string | number>;
  keys: string[];
  deadline: number;
  resolve: (appended: Appended) => void;
  reject: (err: Error) => void;
}

export class RedisEventStore {
  /** Appends waiting for Redis to return, in order; undefined while Redis answers. */
  private backlog: Waiting[] | undefined;

  constructor(
    private readonly port: RedisPort,
    readonly keys: RedisKeys,
    private readonly settings: RedisLogSettings,
    private readonly fence: Fence,
    private readonly onFenced: (sessionId: string) => void,
  ) {}

  open(sessionId: string, tag: string): StreamLog {
    return new RedisStreamLog(this, sessionId, tag);
  }

  /**
   * `answers` names the request this message answers (its in-flight mark goes); `unfenced`
   * appends without being the owner (change notifications from any instance); `record`: fields of
   * the session's hash written with the message.
   */
  append(sid: string, tag: string, data: string, last: boolean, answers = '', unfenced = false, record?: Record<string, string>): Promise<Appended> {
    const f = this.fence(sid);
    const keys = [this.keys.session(sid), this.keys.stream(sid, tag), this.keys.streamsMeta(sid), this.keys.finished(sid)];
    const s = this.settings;
    const args = [sid, f.me, unfenced ? '' : f.epoch, tag, data, last ? '1' : '0', s.ttlMs, s.finishedTtlMs, s.maxEvents, this.keys.channelPrefix(), answers, s.retainFinished, this.keys.streamPrefix(sid)];
    if (record) for (const [field, value] of Object.entries(record)) args.push(field, value);
    if (this.backlog) return this.wait(keys, args);
    return this.run(keys, args).catch((err: unknown) => {
      if (!(err instanceof StoreUnavailableError)) throw err;
      return this.wait(keys, args);
    });
  }

  private async run(keys: string[], args: Array<string | number>): Promise<Appended> {
    const r = await this.port.script<string[]>(APPEND, keys, args);
    if (r[0] === 'fenced') {
      this.onFenced(String(args[0]));
      throw new FencedError();
    }
    if (r[0] === 'gone') throw new SessionGoneError();
    return { id: r[0]!, prev: r[1]! };
  }

  /** Redis is away: the append waits, in order behind the others, for at most maxOutageMs. */
  private wait(keys: string[], args: Array<string | number>): Promise<Appended> {
    const backlog = (this.backlog ??= []);
    if (backlog.length >= this.settings.maxBacklog) {
      return Promise.reject(new StoreUnavailableError('too many messages are waiting for Redis'));
    }
    return new Promise((resolve, reject) => {
      backlog.push({ keys, args, deadline: Date.now() + this.settings.maxOutageMs, resolve, reject });
      if (backlog.length === 1) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const backlog = this.backlog!;
    while (backlog.length > 0) {
      const head = backlog[0]!;
      try {
        head.resolve(await this.run(head.keys, head.args));
        backlog.shift();
      } catch (err) {
        if (err instanceof StoreUnavailableError) {
          if (Date.now() > head.deadline) {
            for (const w of backlog.splice(0)) w.reject(err);
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        backlog.shift();
        head.reject(err as Error);
      }
    }
    this.backlog = undefined;
  }

  /** Events after `cursor`; a first event whose predecessor is not the cursor means events are gone. */
  async readAfter(sid: string, tag: string, cursor: string): Promise<ReadResult & { finished?: boolean }> {
    const key = this.keys.stream(sid, tag);
    const count = String(this.settings.maxEvents * 2 + 16);
    const start = cursor === INITIAL_CURSOR ? '-' : `(${cursor}`;
    const range = async () => parseEntries(await this.port.command<unknown>(['XRANGE', key, start, '+', 'COUNT', count]));
    let entries = await range();
    if (entries.length === 0) {
      if (cursor === INITIAL_CURSOR) return { invalid: false, expired: false, missed: 0, events: [] };
      const last = parseEntries(await this.port.command<unknown>(['XREVRANGE', key, '+', '-', 'COUNT', '1']))[0];
      if (!last) return { invalid: false, expired: true, missed: 1, events: [] }; // the stream itself expired
      if (compareIds(last.id, cursor) < 0) return { invalid: true };
      if (last.id === cursor) return { invalid: false, expired: false, missed: 0, events: [], finished: last.fin };
      // Appended between the two reads: read again, or those events would be in neither the replay nor
      // the owner's live writes (which skip a connection still attaching).
      entries = await range();
      if (entries.length === 0) return { invalid: false, expired: true, missed: 1, events: [] }; // gone meanwhile
    }
    const events: StoredEvent[] = entries.map((e) => ({ cursor: e.id, data: e.data }));
    const expired = entries[0]!.prev !== cursor;
    return { invalid: false, expired, missed: expired ? 1 : 0, events, finished: entries[entries.length - 1]!.fin };
  }
}

export class RedisStreamLog implements StreamLog {
  readonly initialCursor = INITIAL_CURSOR;
  /** The predecessor of each event appended here whose delivery has not yet looked at it (see takePrev). */
  private readonly prevs = new Map<string, string>();

  constructor(
    private readonly store: RedisEventStore,
    private readonly sid: string,
    private readonly tag: string,
  ) {}

  append(data: string, last: boolean, responseId?: string | number, record?: Record<string, string>): Promise<string> {
    // A response clears its request's in-flight mark (legacy requests, and a batch's).
    const answers = responseId !== undefined && this.tag !== 'g' ? requestKey(responseId) : '';
    return this.store.append(this.sid, this.tag, data, last, answers, false, record).then((a) => {
      this.prevs.set(a.id, a.prev);
      return a.id;
    });
  }

  /**
   * The id before `id` in the log, once, for the event just appended: when it is not what the stream's
   * connection has, another instance appended in between (a change fanned out) and the log is re-read.
   */
  takePrev(id: string): string | undefined {
    const prev = this.prevs.get(id);
    this.prevs.delete(id);
    return prev;
  }

  readAfter(cursor: string): Promise<ReadResult & { finished?: boolean }> {
    return this.store.readAfter(this.sid, this.tag, cursor);
  }

  /** The keys go with the session (END) or by their TTL. */
  drop(): void {}
}

/** How a request id is named in Redis fields (the same encoding as a POST stream's tag). */
export function requestKey(id: string | number): string {
  return Buffer.from(JSON.stringify(id)).toString('base64url');
}

export function requestIdOfKey(key: string): string | number {
  return JSON.parse(Buffer.from(key, 'base64url').toString('utf8')) as string | number;
}

export interface Entry {
  id: string;
  data: string;
  prev: string;
  fin: boolean;
  fields: Record<string, string>;
}

/** XRANGE replies (RESP2 or RESP3 shapes) as entries. */
export function parseEntries(reply: unknown): Entry[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((raw) => {
    const [id, list] = raw as [string, string[] | Record<string, string>];
    const fields: Record<string, string> = {};
    if (Array.isArray(list)) for (let i = 0; i < list.length; i += 2) fields[String(list[i])] = String(list[i + 1]);
    else Object.assign(fields, list);
    return { id: String(id), data: fields.d ?? '', prev: fields.p ?? INITIAL_CURSOR, fin: fields.f === '1', fields };
  });
}
