// One MCP session: its plain-data record, its outgoing streams with their logs, and its backend.
// Every server→client message is routed to exactly one stream, logged there (getting its event id),
// and then written to whichever connection holds that stream, if any.
import type { Logger } from 'pino';
import type { Backend, BackendFactory, BackendHost, InboundExtra, SessionContext, Wire } from '../backend/types.js';
import { ErrorCode, type JSONRPCMessage, type ParsedMessage, type RequestId } from '../jsonrpc.js';
import type { EventStore, ReadResult, StreamLog } from '../store/types.js';
import { GET_TAG, LEGACY_TAG, formatEventId } from './event-id.js';
import { Queue } from './queue.js';
import { STREAM_END, type SseConnection, type StreamSink } from './sse-writer.js';
import type { Stats } from './stats.js';
import { MAX_SUBSCRIBED_CHARS, MAX_SUBSCRIPTIONS, TOO_MANY_SUBSCRIPTIONS } from './subscription-limits.js';

export interface SessionDeps {
  store: EventStore;
  stats: Stats;
  log: Logger;
  backendFactory: BackendFactory;
  retryMs: number;
  /** Finished POST streams kept for resumption, per session. */
  retainFinishedStreams: number;
  finishedStreamTtlMs: number;
  onEnded(session: Session, reason: string): void;
  onDetached(session: Session): void;
}

export class OutStream {
  sink: StreamSink | undefined;
  /** Cursor of the last event written to a connection: a fresh GET starts after it. */
  delivered: string;
  /** Requests of this POST whose response (or, when cancelled, the stream's end) is not logged yet. */
  pending = 0;
  /**
   * Requests of this POST with no response sent and not cancelled. The message that brings this to
   * 0 is logged as the stream's last, whatever is still on its way to the log: with an asynchronous
   * store the answers of a batch are all sent before the first is logged.
   */
  unanswered = 0;
  finished = false;
  finishedAt = 0;
  /** JSON-response mode: only responses are written here. */
  json = false;

  constructor(
    readonly tag: string,
    readonly log: StreamLog,
  ) {
    this.delivered = log.initialCursor;
  }

  /** A request whose answer goes here. */
  expect(): void {
    this.pending++;
    this.unanswered++;
  }
}

export type AttachOutcome = 'attached' | 'expired' | 'unknown' | 'complete' | 'gone';
/** 'in-use': a request of the POST is still running in the session (a cluster finds this only in Redis). */
export type ReceiveOutcome = 'ok' | 'gone' | 'in-use';

/** Where a connection attaching to a stream starts reading. */
export type ResumeFrom = 'undelivered' | 'start' | { after: string };

/**
 * What a held sink calls when it closes. Made by a module function on purpose, not inside a `Session`
 * method: measured under load on /mcp (canned replies, Node 20), a closure made inside the method and
 * capturing the sink, which reaches Node's response and request, had every request survive the young
 * collections until the next full one (1.8 MB promoted per scavenge against 0.4, what the engine keeps
 * for resumption; scavenges of 4 ms against 1.5; a quarter more CPU per call); made here, the same
 * closure leaves them to die young. What in V8 tells the two apart was not found: keep closures that
 * reach a connection out of methods on the per-request path (the benchmark's canned-engine row shows
 * a regression).
 */
function whenClosed(session: Session, stream: OutStream, sink: StreamSink): () => void {
  return () => {
    if (stream.sink === sink) stream.sink = undefined;
    session.connectionClosed();
  };
}

/** Requests whose effect on the session record is applied when they succeed. */
const RECORDED_METHODS = new Set(['initialize', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);

/** Marks the requests a rehydrated server is replayed, so an application can tell them apart. */
export const REHYDRATED_META = 'io.mcpwire/rehydrated';

export class Session {
  readonly createdAt = Date.now();
  lastActive = this.createdAt;
  ended = false;
  /** What another process would need to rebuild this session: plain data, kept current. */
  protocolVersion: string | undefined;
  initializeParams: unknown;
  logLevel: string | undefined;
  readonly subscriptions = new Set<string>();

  protected readonly streams = new Map<string, OutStream>();
  protected readonly pending = new Map<RequestId, OutStream>();
  // The sets and maps below are empty in an idle session, and each costs ~150 bytes even empty: they
  // are made when first needed (a hibernated session is plain data, and there may be 19,000 of them).
  /** Requests whose response is sent and on its way to the log: a cancellation comes too late. */
  private answering: Set<RequestId> | undefined;
  private finishedQueue: Queue<OutStream> | undefined;
  protected recorded: Map<RequestId, { method: string; params: Record<string, unknown> | undefined }> | undefined;
  /** Server→client requests still waiting for the client's answer: the backend must stay awake. */
  protected serverRequests: Set<RequestId> | undefined;
  /** Responses of the requests replayed into a rehydrated backend, which no client asked for. */
  private replayIds: Set<RequestId> | undefined;
  /**
   * The finished POST stream that carried initialize. A client that says it is initialized has read
   * its answer and will not resume it: it is let go then, not kept for finishedStreamTtlMs.
   */
  private handshakeStream: OutStream | undefined;
  protected backend: Backend | undefined;
  private backendStarting: Promise<Backend> | undefined;
  /** Counts backends: a backend that was put to sleep can no longer end the session. */
  private incarnation = 0;
  /** Timer that ends a legacy session whose stream went away and did not come back. */
  graceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly wire: Wire,
    readonly principal: string | undefined,
    protected readonly context: SessionContext,
    protected readonly deps: SessionDeps,
  ) {}

  get pendingRequests(): number {
    return this.pending.size;
  }

  get attachedStreams(): number {
    return this.heldTags().length;
  }

  /** The tags of the streams a connection holds right now. */
  heldTags(): string[] {
    const tags: string[] = [];
    for (const s of this.streams.values()) if (s.sink && !s.sink.closed) tags.push(s.tag);
    return tags;
  }

  hasPending(id: RequestId): boolean {
    return this.pending.has(id);
  }

  /** Whether initialize has been answered in this session, or is running. */
  get handshakeBegun(): boolean {
    if (this.protocolVersion !== undefined) return true;
    if (this.recorded) for (const r of this.recorded.values()) if (r.method === 'initialize') return true;
    return false;
  }

  /** Whether the stream `tag` exists here and has not ended. */
  streamRunning(tag: string): boolean {
    const stream = this.streams.get(tag);
    return stream !== undefined && !stream.finished;
  }

  /** Whether a live backend (SDK server, child) is held for this session right now. */
  get awake(): boolean {
    return this.backend !== undefined || this.backendStarting !== undefined;
  }

  // ── client → server ──────────────────────────────────────────────────────────────────────────

  /**
   * Opens the response stream of a POST carrying requests; the first request's id names it (its
   * `requestTag`). The caller attaches the sink (an SSE connection or a JSON collector) right after,
   * then calls `receive` with the same tag.
   */
  openRequestStream(tag: string, json: boolean): void {
    this.pruneFinished();
    const stream = new OutStream(tag, this.deps.store.open(this.id, tag));
    stream.json = json;
    this.streams.set(tag, stream);
  }

  /**
   * Client messages arriving at this instance; the requests' responses go to the stream `tag`.
   * `accepted` runs once the messages are safely taken (with several instances: in Redis) and before
   * any of them is processed: that is where the caller answers 202 or opens the response stream.
   * Resolves to 'gone' when the session no longer exists (another instance ended it).
   */
  receive(
    messages: ParsedMessage[],
    extra: InboundExtra,
    tag: string | undefined,
    accepted: () => void,
  ): ReceiveOutcome | Promise<ReceiveOutcome> {
    accepted();
    this.deliver(messages, extra, tag);
    return 'ok';
  }

  /** Delivers client messages to the backend, starting (or waking) it when needed. */
  protected deliver(messages: ParsedMessage[], extra: InboundExtra, tag?: string): void {
    this.lastActive = Date.now();
    this.deps.stats.messagesIn += messages.length;
    let refused: RequestId[] | undefined;
    for (const p of messages) {
      if (p.kind === 'response') {
        this.forgetServerRequest((p.message as { id: RequestId }).id);
        continue;
      }
      if (p.kind !== 'request') {
        const n = p.message as { method?: string; params?: { requestId?: RequestId } };
        if (n.method === 'notifications/cancelled' && n.params?.requestId !== undefined) this.cancelled(n.params.requestId);
        else if (n.method === 'notifications/initialized') this.letGoOfHandshake();
        continue;
      }
      const req = p.message as { id: RequestId; method: string; params?: Record<string, unknown> };
      // Legacy responses all go to the one stream; pending still counts in-flight work for drain.
      const stream = this.wire === 'legacy' ? this.standalone(LEGACY_TAG) : this.requestStream(tag);
      this.pending.set(req.id, stream);
      stream.expect();
      if (req.method === 'initialize' && stream.tag.startsWith('r.')) this.handshakeStream = stream;
      if (req.method === 'resources/subscribe' && !this.roomFor(req.params?.uri)) {
        (refused ??= []).push(req.id);
        continue;
      }
      if (RECORDED_METHODS.has(req.method)) (this.recorded ??= new Map()).set(req.id, { method: req.method, params: req.params });
    }
    if (refused) {
      const ids = new Set<RequestId>(refused);
      messages = messages.filter((p) => p.kind !== 'request' || !ids.has((p.message as { id: RequestId }).id));
      for (const id of refused) void this.send({ jsonrpc: '2.0', id, error: { code: ErrorCode.ServerError, message: TOO_MANY_SUBSCRIPTIONS } });
      if (messages.length === 0) return;
    }
    const backend = this.backend;
    if (backend) {
      for (const p of messages) this.handOver(backend, p, extra);
      return;
    }
    this.backendStarting ??= this.startBackend();
    this.backendStarting.then(
      (b) => {
        if (!this.ended && this.backend === b) for (const p of messages) this.handOver(b, p, extra);
      },
      (err: unknown) => this.backendFailed(messages, err),
    );
  }

  /** Whether the session may subscribe to one more URI (one it has already costs nothing). */
  private roomFor(uri: unknown): boolean {
    if (typeof uri !== 'string' || this.subscriptions.has(uri)) return true;
    if (this.subscriptions.size >= MAX_SUBSCRIPTIONS) return false;
    // Summed when asked (a subscribe is rare, the set bounded) rather than kept beside the set.
    let chars = uri.length;
    for (const u of this.subscriptions) chars += u.length;
    return chars <= MAX_SUBSCRIBED_CHARS;
  }

  /**
   * Gives the backend one message. A request it cannot take (a gateway child cannot be sent a value
   * nested too deep to serialize) is answered with an error, not left in flight for good.
   */
  private handOver(backend: Backend, p: ParsedMessage, extra: InboundExtra): void {
    try {
      backend.receive(p.message, extra);
    } catch (err) {
      this.deps.log.warn({ err, sessionId: this.id }, 'the server could not be given a message');
      if (p.kind !== 'request') return;
      const id = (p.message as { id: RequestId }).id;
      void this.send({ jsonrpc: '2.0', id, error: { code: ErrorCode.InternalError, message: 'Internal error: the request could not be passed to the server' } });
    }
  }

  /**
   * The client cancelled a request: its server gets the notification and sends no response (a
   * receiver should not), so the request stops counting as in flight and a POST's stream waiting
   * for nothing else ends. `initialize` cannot be cancelled; a response that comes anyway is dropped.
   */
  private cancelled(id: RequestId): void {
    const stream = this.pending.get(id);
    if (!stream || this.answering?.has(id) || this.recorded?.get(id)?.method === 'initialize') return;
    this.pending.delete(id);
    this.forgetRecorded(id);
    if (!stream.tag.startsWith('r.')) return;
    if (--stream.unanswered > 0) {
      stream.pending--; // another request's answer will end the stream
      return;
    }
    // Logged like a last response, so that whichever instance holds the stream ends it too.
    const ended = (cursor: string) => {
      this.writeLogged(stream, cursor, STREAM_END, false);
      this.settled(stream);
    };
    const cursor = stream.log.append(STREAM_END, true);
    if (typeof cursor === 'string') ended(cursor);
    else cursor.then(ended, (err: unknown) => this.deps.log.warn({ err, sessionId: this.id }, 'could not end the stream of a cancelled request'));
  }

  /** The stream a POST's requests answer on (opened by `openRequestStream`, or by another instance). */
  protected requestStream(tag: string | undefined): OutStream {
    if (tag === undefined) throw new Error('a Streamable HTTP request needs its response stream');
    let stream = this.streams.get(tag);
    if (!stream || stream.finished) {
      stream = new OutStream(tag, this.deps.store.open(this.id, tag));
      this.streams.set(tag, stream);
    }
    return stream;
  }

  private async startBackend(): Promise<Backend> {
    const incarnation = ++this.incarnation;
    const host: BackendHost = {
      sessionId: this.id,
      wire: this.wire,
      send: (message, relatedRequestId) => this.send(message, relatedRequestId),
      backendClosed: (reason) => {
        if (this.incarnation === incarnation) void this.terminate(reason);
      },
    };
    const backend = await this.deps.backendFactory(host, this.context);
    if (this.ended || this.incarnation !== incarnation) {
      await backend.close();
      throw new Error('session ended while its server was starting');
    }
    this.backend = backend;
    if (this.protocolVersion !== undefined) this.rehydrate(backend);
    return backend;
  }

  /**
   * A backend built for a session that already went through initialize (after hibernation, or on a
   * new owner) is given the session's recorded state first: initialize, initialized, the log level
   * and every subscription, each marked as a replay; their responses go nowhere.
   */
  private rehydrate(backend: Backend): void {
    const extra: InboundExtra = { requestInfo: { headers: this.context.headers } };
    if (this.context.authInfo) extra.authInfo = this.context.authInfo;
    const _meta = { [REHYDRATED_META]: true };
    let n = 0;
    const request = (method: string, params: Record<string, unknown>) => {
      const id = `mcpwire-rehydrate-${this.incarnation}-${n++}`;
      (this.replayIds ??= new Set()).add(id);
      backend.receive({ jsonrpc: '2.0', id, method, params: { ...params, _meta } }, extra);
    };
    request('initialize', (this.initializeParams ?? {}) as Record<string, unknown>);
    backend.receive({ jsonrpc: '2.0', method: 'notifications/initialized', params: { _meta } }, extra);
    if (this.logLevel !== undefined) request('logging/setLevel', { level: this.logLevel });
    for (const uri of this.subscriptions) request('resources/subscribe', { uri });
    this.deps.stats.rehydrations++;
  }

  /**
   * Drops the backend of an idle session, keeping the session as plain data (its record, its
   * streams); the next message builds a new backend and replays the record into it.
   */
  hibernate(): boolean {
    const backend = this.backend;
    if (!backend || !this.canHibernate()) return false;
    this.backend = undefined;
    this.backendStarting = undefined;
    this.incarnation++;
    this.deps.stats.hibernations++;
    Promise.resolve()
      .then(() => backend.close())
      .catch((err: unknown) => this.deps.log.warn({ err, sessionId: this.id }, 'closing a hibernating session server failed'));
    return true;
  }

  private backendFailed(messages: ParsedMessage[], err: unknown): void {
    if (this.ended) return;
    this.deps.log.error({ err, sessionId: this.id }, 'could not start the server for a session');
    for (const p of messages) {
      if (p.kind !== 'request') continue;
      const id = (p.message as { id: RequestId }).id;
      void this.send({ jsonrpc: '2.0', id, error: { code: ErrorCode.InternalError, message: 'Internal error: the server for this session could not be started' } });
    }
    void this.terminate('backend failed to start');
  }

  /** Nothing is in flight either way, and the backend can be rebuilt. */
  protected canHibernate(): boolean {
    return this.pending.size === 0 && !this.serverRequests?.size && this.deps.backendFactory.movable !== false;
  }

  /** The sweeper found the session idle since `idleBefore`: it ends (with several instances, if idle everywhere). */
  expire(_idleBefore: number): void {
    void this.terminate('idle');
  }

  // ── server → client ──────────────────────────────────────────────────────────────────────────

  /** `data` is `message` already serialized (a broadcast, serialized once for every session). */
  send(message: JSONRPCMessage, relatedRequestId?: RequestId, data?: string): void | Promise<void> {
    if (this.ended) return;
    const m = message as { id?: RequestId; method?: string; result?: Record<string, unknown>; params?: { requestId?: RequestId } };
    const responseId = m.method === undefined && m.id !== undefined ? m.id : undefined;
    if (responseId !== undefined && this.replayIds?.delete(responseId)) {
      if (this.replayIds.size === 0) this.replayIds = undefined;
      return;
    }
    if (m.method !== undefined && m.id !== undefined) (this.serverRequests ??= new Set()).add(m.id);
    // The server gave up on one of its requests (a timeout): no answer is awaited any more.
    else if (m.method === 'notifications/cancelled' && m.params?.requestId !== undefined) this.forgetServerRequest(m.params.requestId);
    let stream: OutStream;
    if (this.wire === 'legacy') {
      stream = this.standalone(LEGACY_TAG);
    } else if (responseId !== undefined) {
      const s = this.pending.get(responseId);
      if (!s) {
        this.deps.stats.orphanResponses++;
        return;
      }
      stream = s;
    } else if (relatedRequestId !== undefined) {
      const s = this.pending.get(relatedRequestId);
      // JSON responses carry only the response: related messages take the GET stream, not the bin.
      stream = s && !s.json ? s : this.standalone(GET_TAG);
    } else {
      stream = this.standalone(GET_TAG);
    }
    data ??= JSON.stringify(message);
    this.deps.stats.messagesOut++;
    this.deps.stats.bytesOut += Buffer.byteLength(data);
    const last = responseId !== undefined && --stream.unanswered === 0 && stream.tag.startsWith('r.');
    const recorded = responseId !== undefined && m.result !== undefined ? this.recorded?.get(responseId) : undefined;
    const cursor = stream.log.append(data, last, responseId, recorded && this.recordFields(recorded.method, recorded.params, m.result!));
    if (typeof cursor === 'string') {
      this.logged(stream, cursor, data, responseId, m.result);
      return;
    }
    if (responseId === undefined) return cursor.then((c) => this.logged(stream, c, data, undefined, undefined));
    const answering = (this.answering ??= new Set());
    answering.add(responseId);
    const answered = () => {
      if (answering.delete(responseId) && answering.size === 0 && this.answering === answering) this.answering = undefined;
    };
    return cursor.then(
      (c) => {
        answered();
        this.logged(stream, c, data, responseId, m.result);
      },
      (err: unknown) => {
        answered();
        throw err;
      },
    );
  }

  protected logged(stream: OutStream, cursor: string, data: string, responseId: RequestId | undefined, result: unknown): void {
    this.writeLogged(stream, cursor, data, responseId !== undefined);
    if (responseId === undefined) return;
    // Idle counts answers too: a long request's answer restarts the idle and sleep clocks.
    this.lastActive = Date.now();
    if (this.pending.get(responseId) === stream) this.pending.delete(responseId);
    const recorded = this.recorded?.get(responseId);
    if (recorded) {
      this.forgetRecorded(responseId);
      if (result !== undefined) this.record(recorded.method, recorded.params, result as Record<string, unknown>);
      else if (recorded.method === 'initialize') queueMicrotask(() => void this.terminate('initialize failed'));
    }
    this.settled(stream);
  }

  private forgetRecorded(id: RequestId): void {
    if (this.recorded?.delete(id) && this.recorded.size === 0) this.recorded = undefined;
  }

  private forgetServerRequest(id: RequestId): void {
    if (this.serverRequests?.delete(id) && this.serverRequests.size === 0) this.serverRequests = undefined;
  }

  /** One of a POST stream's requests is answered (or ended) in its log: the stream ends after the last. */
  private settled(stream: OutStream): void {
    if (stream.tag.startsWith('r.') && --stream.pending === 0 && !stream.finished) this.finish(stream);
  }

  /** Writes an event just logged to the connection holding its stream, if one does. */
  protected writeLogged(stream: OutStream, cursor: string, data: string, isResponse: boolean): void {
    const sink = stream.sink;
    if (!sink || sink.closed) return;
    sink.write(this.eventId(stream.tag, cursor), data, isResponse);
    stream.delivered = cursor;
  }

  /** What a shared store keeps of a recorded request's success, written with its answer (see StreamLog.append). */
  protected recordFields(_method: string, _params: Record<string, unknown> | undefined, _result: Record<string, unknown>): Record<string, string> | undefined {
    return undefined;
  }

  protected record(method: string, params: Record<string, unknown> | undefined, result: Record<string, unknown>): void {
    switch (method) {
      case 'initialize':
        this.initializeParams = params;
        if (typeof result.protocolVersion === 'string') this.protocolVersion = result.protocolVersion;
        break;
      case 'logging/setLevel':
        if (typeof params?.level === 'string') this.logLevel = params.level;
        break;
      case 'resources/subscribe':
        if (typeof params?.uri === 'string') this.subscriptions.add(params.uri);
        break;
      case 'resources/unsubscribe':
        if (typeof params?.uri === 'string') this.subscriptions.delete(params.uri);
        break;
    }
  }

  protected finish(stream: OutStream): void {
    stream.finished = true;
    stream.finishedAt = Date.now();
    (this.finishedQueue ??= new Queue()).push(stream);
    const sink = stream.sink;
    stream.sink = undefined;
    if (sink) {
      sink.onClosed = undefined;
      sink.finish();
    }
  }

  /** Lets go of finished POST streams past the retained count or older than their TTL (also from the sweeper). */
  pruneFinished(): void {
    const q = this.finishedQueue;
    if (!q || q.length === 0) return;
    const oldest = Date.now() - this.deps.finishedStreamTtlMs;
    while (q.length > 0 && (q.length > this.deps.retainFinishedStreams || q.peek()!.finishedAt < oldest)) {
      const s = q.shift()!;
      if (this.streams.get(s.tag) === s) this.streams.delete(s.tag);
      void s.log.drop();
    }
    if (q.length === 0) this.finishedQueue = undefined;
  }

  private letGoOfHandshake(): void {
    const s = this.handshakeStream;
    this.handshakeStream = undefined;
    if (!s?.finished) return;
    this.finishedQueue?.remove(s);
    if (this.streams.get(s.tag) === s) this.streams.delete(s.tag);
    void s.log.drop();
  }

  protected standalone(tag: string): OutStream {
    let s = this.streams.get(tag);
    if (!s) {
      s = new OutStream(tag, this.deps.store.open(this.id, tag));
      this.streams.set(tag, s);
    }
    return s;
  }

  protected eventId(tag: string, cursor: string): string {
    return this.wire === 'legacy' ? formatEventId(tag, cursor, this.id) : formatEventId(tag, cursor);
  }

  // ── connections ──────────────────────────────────────────────────────────────────────────────

  /** Attaches the JSON collector or SSE connection of a POST to the stream just opened for it. */
  attachFresh(tag: string, sink: StreamSink): void {
    const stream = this.streams.get(tag)!;
    this.hold(stream, sink);
  }

  /** The event id a fresh stream's priming event carries: "replay from the start". */
  primingId(tag: string): string {
    const stream = this.streams.get(tag) ?? this.standalone(tag);
    return this.eventId(tag, stream.log.initialCursor);
  }

  /**
   * Attaches a connection to a stream, replaying what it missed: the events after the client's
   * Last-Event-ID cursor, the whole stream, or what no connection has received yet. `start` opens
   * the connection (status, headers, a priming event with the given id) once the outcome is known
   * to be good. A connection already holding the stream is replaced: a reconnect never gets a 409.
   */
  attach(tag: string, from: ResumeFrom, start: (primingId: string) => SseConnection): AttachOutcome | Promise<AttachOutcome> {
    let stream = this.streams.get(tag);
    if (!stream) {
      if (tag !== GET_TAG && tag !== LEGACY_TAG) {
        this.deps.stats.resumeMisses++;
        return 'unknown';
      }
      stream = this.standalone(tag);
    }
    const s = stream;
    this.displace(s);
    const after = from === 'start' ? s.log.initialCursor : from === 'undelivered' ? s.delivered : from.after;
    const resuming = typeof from === 'object';
    const read = s.log.readAfter(after);
    const go = (r: ReadResult): AttachOutcome => this.replay(s, r, after, resuming, start);
    return read instanceof Promise ? read.then(go) : go(read);
  }

  protected replay(
    stream: OutStream,
    r: ReadResult,
    after: string,
    resuming: boolean,
    start: (primingId: string) => SseConnection,
  ): AttachOutcome {
    if (this.ended) return 'unknown';
    if (r.invalid) {
      this.deps.stats.resumeMisses++;
      return 'unknown';
    }
    if (r.expired) {
      this.deps.stats.eventsDropped += r.missed;
      if (resuming) {
        this.deps.stats.resumeMisses++;
        return 'expired';
      }
    }
    if (stream.finished && r.events.length === 0) return 'complete';
    const conn = start(this.eventId(stream.tag, after));
    if (resuming) this.deps.stats.replays++;
    this.deps.stats.eventsReplayed += r.events.length;
    for (const e of r.events) conn.write(this.eventId(stream.tag, e.cursor), e.data);
    // The connection has everything up to `after` and what was replayed: an event's predecessor is
    // checked against this (with several instances), so it must not lag behind what the client has.
    stream.delivered = r.events.length > 0 ? r.events[r.events.length - 1]!.cursor : after;
    if (stream.finished) {
      conn.finish();
    } else {
      this.hold(stream, conn);
    }
    return 'attached';
  }

  /** A new connection takes the stream: the one holding it is let go with a `retry:` hint (never a 409). */
  protected displace(stream: OutStream): void {
    const old = stream.sink;
    if (!old || old.closed) return;
    this.deps.stats.takeovers++;
    stream.sink = undefined;
    old.onClosed = undefined;
    old.close(this.deps.retryMs);
  }

  protected hold(stream: OutStream, sink: StreamSink): void {
    stream.sink = sink;
    sink.onClosed = whenClosed(this, stream, sink);
  }

  /** A connection holding one of this session's streams has closed. */
  connectionClosed(): void {
    this.lastActive = Date.now();
    this.deps.onDetached(this);
  }

  /** Ends the connection of a request's SSE stream (SSE polling); the stream itself goes on. */
  closeConnectionOf(requestId: RequestId): void {
    const stream = this.pending.get(requestId);
    if (stream?.sink && !stream.json) stream.sink.close(this.deps.retryMs);
  }

  /** Ends the connection of the session's GET stream (SSE polling); the client reopens it and resumes. */
  closeStandaloneConnection(): void {
    this.streams.get(GET_TAG)?.sink?.close(this.deps.retryMs);
  }

  /** Sends `retry:` and ends every connection (drain), leaving the streams resumable. */
  closeConnections(retryMs: number | undefined): void {
    for (const s of this.streams.values()) {
      const sink = s.sink;
      if (sink && !sink.closed) sink.close(retryMs);
    }
  }

  // ── end ──────────────────────────────────────────────────────────────────────────────────────

  /** Messages logged for a stream that no connection ever received are lost with the session. */
  private countUndelivered(s: OutStream): void {
    const count = (r: ReadResult) => {
      if (!r.invalid) this.deps.stats.eventsDropped += r.missed + r.events.length;
    };
    const r = s.log.readAfter(s.delivered);
    if (r instanceof Promise) r.then(count, () => {});
    else count(r);
  }

  /**
   * Ends the session for good (DELETE, idle TTL, a legacy stream that did not come back, a server
   * that closed). With several instances this ends it on every one of them.
   */
  terminate(reason: string): void | Promise<void> {
    this.end(reason);
  }

  /** This instance is shutting down: its part of the session ends (elsewhere it may live on). */
  shutdown(): void | Promise<void> {
    this.end('server shutdown');
  }

  /** Ends this instance's part of the session: connections, logs, backend. Idempotent. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    for (const s of this.streams.values()) {
      const sink = s.sink;
      s.sink = undefined;
      if (sink) {
        sink.onClosed = undefined;
        sink.finish();
      } else {
        this.countUndelivered(s);
      }
      void s.log.drop();
    }
    this.streams.clear();
    this.pending.clear();
    this.answering = this.recorded = this.serverRequests = this.replayIds = undefined;
    this.handshakeStream = undefined;
    this.finishedQueue = undefined;
    const backend = this.backend;
    this.backend = undefined;
    this.backendStarting = undefined;
    // The backend's own "I closed" is no news now: it must not end the session anywhere else.
    this.incarnation++;
    if (backend) {
      Promise.resolve()
        .then(() => backend.close())
        .catch((err: unknown) => this.deps.log.warn({ err, sessionId: this.id }, 'closing a session server failed'));
    }
    this.deps.onEnded(this, reason);
  }
}
