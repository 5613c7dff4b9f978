// A session with several instances over Redis. Any instance can take a client's HTTP request (the
// ingress), hold a client's stream (the holder) or run the session's server (the owner); each
// instance has one of these objects for the sessions it plays a part in.
//   client → server: ingress appends to the session's inbox in Redis (durable before 202), then the
//     owner delivers it (at once when the owner is the ingress, after a doorbell otherwise);
//   server → client: the owner appends to a stream log in Redis, then the holder writes it, after a
//     doorbell when the holder is elsewhere; a gap in the `prev` chain makes the holder re-read.
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { batchesAllowed, ErrorCode, messageKind, type ParsedMessage, type RequestId } from '../jsonrpc.js';
import type { InboundExtra, SessionContext, Wire } from '../backend/types.js';
import { compareIds, INITIAL_CURSOR, RedisStreamLog, requestIdOfKey, requestKey } from '../store/redis.js';
import type { ReadResult } from '../store/types.js';
import type { Cluster, SessionRecord } from './cluster.js';
import { GET_TAG, LEGACY_TAG } from './event-id.js';
import {
  Session,
  type AttachOutcome,
  type OutStream,
  type ReceiveOutcome,
  type ResumeFrom,
  type SessionDeps,
} from './session.js';
import type { SseConnection, StreamSink } from './sse-writer.js';

interface RemoteEvent {
  id: string;
  prev: string;
  fin: boolean;
  data: string;
}

const INBOX_PAGE = 256;

export class ClusteredSession extends Session {
  /** Whether this instance runs the session's server, at which epoch, and who does otherwise. */
  owned: boolean;
  epoch: string;
  owner: string;
  private inboxCursor = INITIAL_CURSOR;
  private draining = false;
  private drainAgain = false;
  private acquiring: Promise<void> | undefined;
  /** A takeover asked for again once a lease that outlived its owner has lapsed (one at a time). */
  private askAgain: NodeJS.Timeout | undefined;
  /** After a takeover: the requests of the inbox backlog that were already answered with owner_lost. */
  private failed: Set<string> | undefined;
  /** Doorbell events held per stream while its replay runs, or before its connection is attached. */
  private readonly buffered = new Map<string, RemoteEvent[]>();

  constructor(
    id: string,
    wire: Wire,
    principal: string | undefined,
    context: SessionContext,
    deps: SessionDeps,
    private readonly cluster: Cluster,
    origin: { owned: boolean; epoch: string; owner: string; record?: SessionRecord },
  ) {
    super(id, wire, principal, context, deps);
    this.owned = origin.owned;
    this.epoch = origin.epoch;
    this.owner = origin.owner;
    if (origin.record) this.load(origin.record);
  }

  /** The negotiated version and initialize params, read again from the record (see SessionManager.resolve). */
  async reloadVersion(): Promise<void> {
    const r = await this.cluster.lookup(this.id).catch(() => undefined);
    if (r && this.protocolVersion === undefined) this.loadHandshake(r);
  }

  private loadHandshake(r: SessionRecord): void {
    if (r.pv) this.protocolVersion = r.pv;
    if (r.ip) this.initializeParams = JSON.parse(r.ip) as unknown;
  }

  private load(r: SessionRecord): void {
    this.loadHandshake(r);
    if (r.ll) this.logLevel = r.ll;
    this.subscriptions.clear();
    if (r.sb) for (const uri of JSON.parse(r.sb) as string[]) this.subscriptions.add(uri);
    this.inboxCursor = r.ic || INITIAL_CURSOR;
  }

  // ── client → server ──────────────────────────────────────────────────────────────────────────

  override async receive(messages: ParsedMessage[], extra: InboundExtra, tag: string | undefined, accepted: () => void): Promise<ReceiveOutcome> {
    this.lastActive = Date.now();
    let r;
    try {
      // Requests are named where Redis must know which run: legacy ones, and those of a session that may batch.
      const named = this.wire === 'legacy' || batchesAllowed(this.protocolVersion);
      r = await this.cluster.ingress(this.id, this.principal, messages, extra, tag, named, tag !== undefined && this.streams.get(tag)?.json === true);
    } catch (err) {
      // The POST is refused (503): the stream opened for its answers will never be used.
      if (tag) this.dropUnused(tag);
      throw err;
    }
    if (r.state === 'gone') {
      this.end('ended on another instance');
      return 'gone';
    }
    if (r.state === 'busy') {
      this.dropUnused(tag!);
      return 'in-use';
    }
    accepted();
    this.owner = r.owner;
    const me = this.cluster.me;
    if (r.state === 'live' && r.owner === me && this.owned) {
      if (r.prev === this.inboxCursor && !this.draining) {
        this.inboxCursor = r.last;
        this.deliver(messages, extra, tag);
        this.cluster.persistInboxCursor(this.id, r.last);
      } else {
        void this.drain();
      }
    } else if (r.state === 'hib' || !r.ownerAlive || r.owner === me) {
      void this.takeOver(r.state === 'hib' ? '' : r.owner);
    }
    return 'ok';
  }

  /** The owner delivers the inbox in order, from where it stopped. */
  async drain(): Promise<void> {
    if (!this.owned || this.ended) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    try {
      // A paused process wakes with doorbells it was rung before its lease lapsed: the session may be another's.
      if (this.cluster.leaseInDoubt && !(await this.cluster.stillOwns(this.id, this.epoch))) {
        if (this.owned && !this.ended) this.fenced();
        return;
      }
      do {
        this.drainAgain = false;
        for (;;) {
          const entries = await this.cluster.readInbox(this.id, this.inboxCursor, INBOX_PAGE);
          for (const e of entries) {
            if (e.fields.n) {
              await this.cluster.claimUnheard(this.id, e.fields.n);
              if (!this.owned || this.ended) return;
            }
            this.inboxCursor = e.id;
            this.deliverEntry(e.fields.m, e.fields.x, e.fields.t);
          }
          if (entries.length < INBOX_PAGE || this.ended) break;
        }
      } while (this.drainAgain && !this.ended);
      this.cluster.persistInboxCursor(this.id, this.inboxCursor);
    } catch (err) {
      this.deps.log.warn({ err, sessionId: this.id }, 'reading a session inbox failed; it is read again on the next message');
    } finally {
      this.draining = false;
    }
  }

  /**
   * A doorbell carrying the one message just put in the inbox: delivered as it is when it follows
   * what this owner delivered last; otherwise the inbox is read from there.
   */
  inboxMessage(id: string, prev: string, tag: string, x: string, m: string): void {
    if (!this.owned || this.ended) return;
    if (this.draining || prev !== this.inboxCursor || this.cluster.leaseInDoubt) {
      void this.drain();
      return;
    }
    this.inboxCursor = id;
    this.deliverEntry(m, x, tag);
    this.cluster.persistInboxCursor(this.id, id);
  }

  private deliverEntry(m = '', x = '{}', t = ''): void {
    let message: unknown;
    try {
      message = JSON.parse(m);
    } catch {
      return;
    }
    const kind = messageKind(message);
    if (!kind) return;
    const tag = t || undefined;
    if (kind === 'request' && this.failed) {
      const id = (message as { id: RequestId }).id;
      if ((tag && this.failed.has(tag)) || this.failed.has(`q:${requestKey(id)}`)) return;
    }
    const { headers, authInfo, j } = JSON.parse(x) as { headers?: IncomingHttpHeaders; authInfo?: AuthInfo; j?: 1 };
    const extra: InboundExtra = { requestInfo: { headers: headers ?? {} } };
    if (authInfo) extra.authInfo = authInfo;
    // The instance holding the POST says how it answers: the owner routes a JSON body's other messages to the GET stream.
    if (tag && j) this.requestStream(tag).json = true;
    else if (tag) extra.closeSSEStream = () => void this.cluster.closeHolder(this.id, tag).catch(() => {});
    if (tag) extra.closeStandaloneSSEStream = () => this.closeStandaloneConnection();
    this.deliver([{ message: message as ParsedMessage['message'], kind }], extra, tag);
  }

  // ── ownership ────────────────────────────────────────────────────────────────────────────────

  /**
   * Becomes the owner: of a hibernated session (expected ''), or of one whose owner's lease is gone.
   * Requests that were in flight on a dead owner are answered with a retryable owner_lost error.
   */
  takeOver(expected: string, again = true): Promise<void> {
    if (this.ended || (this.owned && expected !== this.cluster.me)) return Promise.resolve();
    this.acquiring ??= this.acquire(expected, again)
      .catch((err: unknown) => this.deps.log.warn({ err, sessionId: this.id }, 'taking over a session failed'))
      .finally(() => (this.acquiring = undefined));
    return this.acquiring;
  }

  private async acquire(expected: string, again: boolean): Promise<void> {
    const wait = this.cluster.settings.leaseMs - this.cluster.port.upForMs;
    if (expected !== '' && wait > 0) await new Promise((r) => setTimeout(r, wait));
    const r = await this.cluster.acquire(this.id, expected);
    if (r.status === 'gone') {
      this.end('ended on another instance');
      return;
    }
    if (r.status !== 'ok') {
      this.owner = r.owner;
      if (r.status === 'mine') {
        this.owned = true;
        await this.drain();
      } else if (r.owner) {
        await this.cluster.ring(r.owner, this.id);
        // Its lease runs yet, though nobody heard the message (its process died): once that lease has
        // had time to lapse, try again, since nothing held here may prompt anyone else to.
        if (r.status === 'alive' && expected !== '' && again && !this.askAgain) {
          this.askAgain = setTimeout(() => {
            this.askAgain = undefined;
            void this.takeOver(expected, false);
          }, this.cluster.settings.leaseMs).unref();
        }
      }
      return;
    }
    this.owned = true;
    this.epoch = r.epoch;
    this.owner = this.cluster.me;
    this.load(r.record);
    if (r.fromState === 'live') {
      this.deps.stats.ownerTakeovers++;
      this.failed = this.failInFlight(r.streams);
      if (this.deps.backendFactory.movable === false) {
        await this.terminate('the process serving this session was lost with its instance');
        return;
      }
    } else {
      this.deps.stats.wakeups++;
    }
    await this.drain();
  }

  /** Answers every request the dead owner had in flight; returns what the inbox backlog must skip. */
  private failInFlight(streams: Record<string, string>): Set<string> {
    const failed = new Set<string>();
    // A batch's requests not yet answered, by the batch's stream: each gets its answer, not just the first.
    const batches = new Map<string, string[]>();
    for (const [field, tag] of Object.entries(streams)) {
      if (field.startsWith('k:')) batches.set(tag, [...(batches.get(tag) ?? []), field.slice(2)]);
    }
    for (const field of Object.keys(streams)) {
      let keys: string[];
      let stream: OutStream;
      // A request with a mark (n:…) was taken while the dead owner no longer listened: it never had it,
      // and the inbox backlog delivers it.
      if (field.startsWith('s:r.')) {
        const tag = field.slice(2);
        if (streams[`n:${tag}`]) continue;
        failed.add(tag);
        if (streams[`f:${tag}`] === '1') continue;
        keys = batches.get(tag) ?? [tag.slice(2)];
        stream = this.requestStream(tag);
      } else if (field.startsWith('q:')) {
        if (streams[`n:${field}`]) continue;
        failed.add(field);
        keys = [field.slice(2)];
        stream = this.standalone(LEGACY_TAG);
      } else {
        continue;
      }
      for (const key of keys) this.failLost(requestIdOfKey(key), stream);
    }
    return failed;
  }

  private failLost(id: RequestId, stream: OutStream): void {
    this.pending.set(id, stream);
    stream.expect();
    void Promise.resolve(
      this.send({
        jsonrpc: '2.0',
        id,
        error: {
          code: ErrorCode.InternalError,
          message: 'The instance running this request was lost; the request may or may not have run. Retry it.',
          data: { reason: 'owner_lost', retryable: true },
        },
      }),
    ).catch(() => {});
  }

  /** Another instance owns the session now (this one was paused or cut off): let go of it. */
  fenced(): void {
    this.deps.stats.fenced++;
    this.owned = false;
    this.end('fenced: another instance owns the session');
  }

  /** The owner writes the record with the answer: an instance the client turns to next reads it there. */
  protected override recordFields(method: string, params: Record<string, unknown> | undefined, result: Record<string, unknown>): Record<string, string> | undefined {
    if (!this.owned) return undefined;
    switch (method) {
      case 'initialize': {
        const fields: Record<string, string> = { ip: JSON.stringify(params ?? {}) };
        if (typeof result.protocolVersion === 'string') fields.pv = result.protocolVersion;
        return fields;
      }
      case 'logging/setLevel':
        return typeof params?.level === 'string' ? { ll: params.level } : undefined;
      case 'resources/subscribe':
        return typeof params?.uri === 'string' ? { 'sb+': params.uri } : undefined;
      case 'resources/unsubscribe':
        return typeof params?.uri === 'string' ? { 'sb-': params.uri } : undefined;
      default:
        return undefined;
    }
  }

  protected override record(method: string, params: Record<string, unknown> | undefined, result: Record<string, unknown>): void {
    super.record(method, params, result);
    const uri = params?.uri;
    if (this.owned && (method === 'resources/subscribe' || method === 'resources/unsubscribe') && typeof uri === 'string') {
      // The set of a URI's subscribers is not in the session's hash slot: it cannot go in the append's script.
      void this.cluster.subscribed(this.id, this.wire === 'legacy' ? 'l' : 'g', uri, method === 'resources/subscribe').catch(() => {});
    }
  }

  /**
   * An event this owner just logged. A POST's stream has one writer (its owner), so its event goes out
   * unless a replay of the log sent it already (an append's reply can come back after a connection
   * attached and read the log). The GET and legacy streams also take changes appended by any instance:
   * there the event follows the chain like a doorbell's, so one appended in between is never skipped.
   */
  protected override writeLogged(stream: OutStream, cursor: string, data: string, isResponse: boolean): void {
    const prev = stream.log instanceof RedisStreamLog ? stream.log.takePrev(cursor) : undefined;
    if (prev === undefined || stream.tag.startsWith('r.')) {
      if (compareIds(cursor, stream.delivered) > 0) super.writeLogged(stream, cursor, data, isResponse);
      return;
    }
    this.chained(stream, { id: cursor, prev, fin: false, data });
  }

  override hibernate(): boolean {
    if (!this.owned || !this.backend || !this.canHibernate()) return false;
    // The server goes first; if the session could not be marked asleep (a message came in meanwhile),
    // the next message simply builds a new one here.
    super.hibernate();
    void this.cluster
      .hibernate(this.id, this.epoch, this.inboxCursor)
      .then((asleep) => {
        if (asleep && !this.backend) {
          this.owned = false;
          this.owner = '';
        }
      })
      .catch(() => {});
    return true;
  }

  override async terminate(reason: string): Promise<void> {
    await this.cluster.end(this.id);
    this.end(reason);
  }

  /** This instance stops: its sessions sleep in Redis, to wake wherever their next message lands. */
  override async shutdown(): Promise<void> {
    if (this.owned && this.canHibernate()) {
      await this.cluster.hibernate(this.id, this.epoch, this.inboxCursor).catch(() => false);
    }
    this.end('server shutdown');
  }

  /** Idle here is not idle everywhere: the session ends only when Redis has seen nothing either. */
  override expire(idleBefore: number): void {
    if (!this.owned) {
      if (this.attachedStreams === 0) this.end('idle here'); // a copy for streams: dropped locally only
      return;
    }
    this.cluster
      .lookup(this.id)
      .then((record) => {
        if (!record) this.end('expired');
        else if (Number(record.la) < idleBefore) void this.terminate('idle').catch(() => {});
        else this.lastActive = Number(record.la);
      })
      .catch(() => {});
  }

  // ── streams ──────────────────────────────────────────────────────────────────────────────────

  override openRequestStream(tag: string, json: boolean): void {
    // The same request's stream is open here: kept as it is until Redis says whether the request still
    // runs (the new POST then joins it; a batch is refused and leaves it be).
    const open = this.streams.get(tag);
    if (open && !open.finished) return;
    super.openRequestStream(tag, json);
    this.buffered.set(tag, []); // events may be rung before the connection is attached
  }

  /**
   * The POST of `tag` was not taken: the stream opened for it goes, unless it is the same request's
   * stream kept open here (it has a connection, or answers on their way).
   */
  private dropUnused(tag: string): void {
    const stream = this.streams.get(tag);
    if (!stream || stream.pending > 0 || stream.sink) return;
    this.buffered.delete(tag);
    this.streams.delete(tag);
  }

  override attachFresh(tag: string, sink: StreamSink): void {
    // A connection still held on a kept stream whose request ended (Redis said so) lets go.
    this.displace(this.streams.get(tag)!);
    super.attachFresh(tag, sink);
    this.applyBuffered(this.streams.get(tag)!);
  }

  protected override hold(stream: OutStream, sink: StreamSink): void {
    super.hold(stream, sink);
    sink.onClosed = releaseWhenClosed(this.cluster, this.id, stream, sink.onClosed);
  }

  override async attach(tag: string, from: ResumeFrom, start: (primingId: string) => SseConnection): Promise<AttachOutcome> {
    let s = this.streams.get(tag);
    if (!s || s.finished) {
      s = this.requestStreamOrStandalone(tag);
    }
    const stream = s;
    this.displace(stream);
    const release = this.holdEvents(tag);
    try {
      const info = await this.cluster.attach(this.id, this.principal, tag);
      if (info === 'gone') {
        this.end('ended on another instance');
        return 'gone';
      }
      this.owner = info.owner;
      if (tag.startsWith('r.') && info.opened === '') {
        this.dropUnused(tag);
        this.deps.stats.resumeMisses++;
        return 'unknown';
      }
      const after = from === 'start' ? INITIAL_CURSOR : from === 'undelivered' ? info.delivered || INITIAL_CURSOR : from.after;
      const r = (await stream.log.readAfter(after)) as ReadResult & { finished?: boolean };
      if (info.finished || r.finished) stream.finished = true;
      const outcome = this.replay(stream, r, after, typeof from === 'object', start);
      if (outcome === 'attached') {
        this.applyBuffered(stream);
        if (info.state === 'live' && !info.ownerAlive && !stream.finished) void this.takeOver(info.owner);
      }
      return outcome;
    } finally {
      release();
    }
  }

  /**
   * Holds the events rung for `tag` while its log is read. The release ends this hold only: applying
   * what was held can start another read (a gap), whose own hold must last until that read is done.
   */
  private holdEvents(tag: string): () => void {
    const held: RemoteEvent[] = [];
    this.buffered.set(tag, held);
    return () => {
      if (this.buffered.get(tag) === held) this.buffered.delete(tag);
    };
  }

  private requestStreamOrStandalone(tag: string): OutStream {
    return tag.startsWith('r.') ? this.requestStream(tag) : this.standalone(tag);
  }

  /** A doorbell: an event of a stream this instance may hold (prev '' when only the log has its data). */
  remoteEvent(tag: string, id: string, prev: string, fin: boolean, data: string): void {
    const stream = this.streams.get(tag);
    if (stream) this.chained(stream, { id, prev, fin, data });
    else this.buffered.get(tag)?.push({ id, prev, fin, data });
  }

  /** An event for a held stream, in its chain: after a re-read of the log if one is under way. */
  private chained(stream: OutStream, e: RemoteEvent): void {
    const waiting = this.buffered.get(stream.tag);
    if (waiting) {
      waiting.push(e);
      return;
    }
    if (!stream.sink || stream.sink.closed) return;
    this.applyEvent(stream, e);
  }

  private applyBuffered(stream: OutStream): void {
    const waiting = this.buffered.get(stream.tag);
    this.buffered.delete(stream.tag);
    for (const e of waiting ?? []) this.applyEvent(stream, e);
  }

  private applyEvent(stream: OutStream, e: RemoteEvent): void {
    const sink = stream.sink;
    if (!sink || sink.closed) return;
    if (compareIds(e.id, stream.delivered) <= 0) return; // replayed already
    if (e.prev !== stream.delivered) {
      void this.catchUp(stream);
      return;
    }
    sink.write(this.eventId(stream.tag, e.id), e.data, stream.tag.startsWith('r.'));
    stream.delivered = e.id;
    if (e.fin) this.finish(stream);
  }

  /** A gap in the chain (a missed doorbell): re-read the log from what this connection has. */
  private async catchUp(stream: OutStream): Promise<void> {
    if (this.buffered.has(stream.tag)) return;
    const release = this.holdEvents(stream.tag);
    try {
      const r = (await stream.log.readAfter(stream.delivered)) as ReadResult & { finished?: boolean };
      const sink = stream.sink;
      if (r.invalid || !sink || sink.closed) return;
      if (r.expired) this.deps.stats.eventsDropped += r.missed;
      for (const e of r.events) {
        sink.write(this.eventId(stream.tag, e.cursor), e.data, stream.tag.startsWith('r.'));
        stream.delivered = e.cursor;
      }
      if (r.finished) this.finish(stream);
      else this.applyBuffered(stream);
    } catch {
      // Redis is away: the next doorbell or the reconnect catch-up tries again.
    } finally {
      release();
    }
  }

  /** The GET stream's connection ends wherever it is held. */
  override closeStandaloneConnection(): void {
    void this.cluster.closeHolder(this.id, GET_TAG).catch(() => {});
  }

  /** Another instance took this stream (or its owner asked to end the connection): let go of it. */
  letGo(tag: string): void {
    const stream = this.streams.get(tag);
    if (stream) this.displace(stream);
  }

  /** Redis came back: doorbells may have been lost while it was away. */
  catchUpAfterOutage(): void {
    for (const stream of this.streams.values()) if (stream.sink && !stream.sink.closed) void this.catchUp(stream);
    if (this.owned) void this.drain();
  }
}

/** Lets go of a stream in Redis when its connection closes; made outside the class as `whenClosed` is (see there). */
function releaseWhenClosed(cluster: Cluster, sid: string, stream: OutStream, then: (() => void) | undefined): () => void {
  return () => {
    cluster.release(sid, stream.tag, stream.delivered);
    then?.();
  };
}
