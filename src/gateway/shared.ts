// Shared mode (`--shared`): one child for every session, for servers that keep no per-client state.
// Each session's request ids (and progress tokens) are rewritten to ids unique upstream and mapped
// back on the answer, so two sessions using the same ids never see each other's answers. The
// handshake is done once: the first initialize goes to the child, later ones are answered from its
// cached result. `resources/updated` goes only to sessions that subscribed to the URI; list changes
// go to every session. A child message that names no request goes to a session only when exactly
// one session has requests running; otherwise it is dropped (or, for a request, refused), never
// guessed: data must not cross between clients.
import type { Logger } from 'pino';
import type { Backend, BackendHost, InboundExtra } from '../backend/types.js';
import { ErrorCode, type JSONRPCMessage, type MessageKind, type RequestId } from '../jsonrpc.js';
import type { MaybePromise } from '../store/types.js';
import { WriteAccount, type ExitInfo, type StdioChild } from './child.js';
import type { OverlongLine } from './line-framer.js';
import {
  GatewayError,
  QUEUE_FULL,
  SERVER_GONE,
  TOO_MANY_IN_FLIGHT,
  errorResponse,
  exitDescription,
  exitError,
  answeredIdOf,
  overlongError,
  progressTokenOf,
  type Msg,
  type ProgressToken,
} from './messages.js';
import type { GatewayRuntime, RestartPolicy } from './runtime.js';

/** A client request forwarded upstream under a rewritten id. */
interface Upstream {
  session: SharedSession;
  clientId: RequestId;
  method: string;
  token: ProgressToken | undefined;
  uri: string | undefined;
  pollTimer: NodeJS.Timeout | undefined;
}

/** Requests of the child to clients that are waiting for an answer. */
const MAX_SERVER_REQUESTS = 1_000;
const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A child that ran this long before exiting resets the restart backoff. */
const STABLE_MS = 30_000;

export type SharedState = 'up' | 'restarting' | 'down' | 'closed';

export class SharedUpstream {
  state: SharedState = 'down';
  lastExit: (ExitInfo & { at: string }) | undefined;
  private child: StdioChild | undefined;
  private startedAt = 0;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly sessions = new Set<SharedSession>();
  /** Sessions with at least one request running. */
  private readonly busy = new Set<SharedSession>();
  private readonly upstream = new Map<number, Upstream>();
  private nextId = 0;
  private internalId = 0;
  /** The child's own requests to clients, by the child's id: who was asked. */
  private readonly serverRequests = new Map<RequestId, SharedSession>();
  private readonly subscribers = new Map<string, Set<SharedSession>>();
  private init = newInit();
  /** The gateway's own messages (cancellations, unsubscriptions) have their own bound. */
  private readonly ownAccount: WriteAccount;
  private readonly log: Logger;

  /** `restart` overrides the gateway's policy (the stateless pool's children are never restarted). */
  constructor(
    private readonly rt: GatewayRuntime,
    private readonly restart: RestartPolicy = rt.opts.restart,
  ) {
    this.log = rt.log.child({ shared: true });
    this.ownAccount = new WriteAccount(rt.opts.maxQueuedBytes);
    this.start();
  }

  get pid(): number | undefined {
    return this.child?.alive ? this.child.pid : undefined;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Why no session can be taken now, or undefined. */
  refusal(): string | undefined {
    if (this.state === 'up') return undefined;
    if (this.state === 'closed') return 'the gateway is shutting down';
    const why = this.lastExit ? `it ${exitDescription(this.lastExit)}` : 'it is not running';
    return this.state === 'restarting'
      ? `the shared server process is down (${why}) and restarting; retry shortly`
      : `the shared server process is down (${why}) and --restart does not restart it`;
  }

  attach(host: BackendHost): SharedSession {
    if (this.state !== 'up') throw new Error(`mcpwire gateway: ${this.refusal()}`);
    const s = new SharedSession(this, host, this.rt.opts.maxQueuedBytes);
    this.sessions.add(s);
    return s;
  }

  private start(): void {
    this.restartTimer = undefined;
    if (this.state === 'closed') return;
    this.startedAt = Date.now();
    this.state = 'up';
    this.child = this.rt.spawn(
      {
        message: (m, kind) => this.fromChild(m, kind),
        overlong: (line) => this.overlong(line),
        exit: (exit) => this.exited(exit),
      },
      this.log,
    );
  }

  // ── client → child ─────────────────────────────────────────────────────────────────────────────

  fromClient(s: SharedSession, m: Msg, extra: InboundExtra): void {
    if (m.method === undefined) {
      this.answerFromClient(s, m);
      return;
    }
    if (m.id === undefined || m.id === null) {
      this.notificationFromClient(s, m);
      return;
    }
    const id = m.id;
    if (this.state !== 'up') {
      void s.host.send(errorResponse(id, GatewayError.Refused, SERVER_GONE));
      return;
    }
    switch (m.method) {
      case 'initialize':
        if (this.init.state === 'done') {
          s.initialized = true;
          void s.host.send({ jsonrpc: '2.0', id, result: this.init.result! } as JSONRPCMessage);
          return;
        }
        if (this.init.state === 'pending') {
          if (this.init.waiters.some((w) => w.session === s)) {
            void s.host.send(errorResponse(id, GatewayError.Refused, 'Invalid Request: initialize is already running for this session'));
          } else {
            this.init.waiters.push({ session: s, id });
          }
          return;
        }
        this.init.upId = this.forward(s, m, id, extra);
        if (this.init.upId !== undefined) {
          this.init.state = 'pending';
          this.init.deadline = this.handshakeDeadline();
        }
        return;
      case 'resources/unsubscribe': {
        const uri = m.params?.uri;
        if (typeof uri === 'string' && (s.subscriptions.has(uri) ? this.unsubscribe(s, uri) : this.subscribers.has(uri))) {
          // Others still listen: the child keeps the subscription; this session just stops hearing it.
          void s.host.send({ jsonrpc: '2.0', id, result: {} } as JSONRPCMessage);
          return;
        }
        this.forward(s, m, id, extra);
        return;
      }
      default:
        this.forward(s, m, id, extra);
    }
  }

  /** Sends a client request upstream under a fresh id (returned); answers it with an error when it cannot. */
  private forward(s: SharedSession, m: Msg, clientId: RequestId, extra: InboundExtra): number | undefined {
    if (s.inFlight.has(clientId)) {
      void s.host.send(errorResponse(clientId, ErrorCode.InvalidRequest, 'Invalid Request: a request with this id is already running in this session'));
      return undefined;
    }
    if (s.inFlight.size >= this.rt.opts.maxInFlight) {
      this.rt.stats.refusedBusy++;
      void s.host.send(errorResponse(clientId, GatewayError.Refused, TOO_MANY_IN_FLIGHT));
      return undefined;
    }
    const upId = ++this.nextId;
    const token = progressTokenOf(m);
    const rewritten: Msg = { ...m, id: upId };
    if (token !== undefined) rewritten.params = { ...m.params, _meta: { ...m.params!._meta, progressToken: upId } };
    const r = this.child!.write(JSON.stringify(rewritten), s.account);
    if (r !== 'ok') {
      if (r === 'full') this.rt.stats.refusedBusy++;
      void s.host.send(errorResponse(clientId, GatewayError.Refused, r === 'full' ? QUEUE_FULL : SERVER_GONE));
      return undefined;
    }
    const close = extra.closeSSEStream;
    const ms = this.rt.opts.closeSseAfterMs;
    const pollTimer = ms > 0 && close ? setTimeout(close, ms) : undefined;
    pollTimer?.unref();
    const uri = typeof m.params?.uri === 'string' ? m.params.uri : undefined;
    this.upstream.set(upId, { session: s, clientId, method: m.method!, token, uri, pollTimer });
    s.inFlight.set(clientId, upId);
    this.busy.add(s);
    return upId;
  }

  private settle(upId: number): Upstream | undefined {
    const u = this.upstream.get(upId);
    if (!u) return undefined;
    this.upstream.delete(upId);
    if (u.pollTimer) clearTimeout(u.pollTimer);
    const s = u.session;
    if (s.inFlight.get(u.clientId) === upId) s.inFlight.delete(u.clientId);
    if (s.inFlight.size === 0) this.busy.delete(s);
    return u;
  }

  private notificationFromClient(s: SharedSession, m: Msg): void {
    if (this.state !== 'up') return;
    let out: Msg = m;
    switch (m.method) {
      case 'notifications/initialized':
        // Said once upstream, by the session whose initialize the child answered.
        if (this.init.state !== 'done' || this.init.announced) return;
        this.init.announced = true;
        break;
      case 'notifications/cancelled': {
        const upId = s.inFlight.get(m.params?.requestId as RequestId);
        // initialize cannot be cancelled (the spec says so): the child's answer is every session's handshake.
        if (upId === undefined || upId === this.init.upId) return;
        // The child need not answer a cancelled request: its mapping goes now.
        this.settle(upId);
        out = { ...m, params: { ...m.params, requestId: upId } };
        break;
      }
    }
    this.writeOrWarn(JSON.stringify(out), s.account, m.method!);
  }

  /** A client's answer to one of the child's requests: passed on only from the session asked. */
  private answerFromClient(s: SharedSession, m: Msg): void {
    const id = m.id as RequestId;
    if (this.serverRequests.get(id) !== s) {
      this.rt.stats.unroutable++;
      this.log.debug({ sessionId: s.host.sessionId }, 'a client answered a request it was not sent; dropped');
      return;
    }
    this.serverRequests.delete(id);
    this.writeOrWarn(JSON.stringify(m), s.account, 'response');
  }

  private writeOrWarn(line: string, account: WriteAccount, what: string): void {
    const r = this.child?.write(line, account) ?? 'closed';
    if (r !== 'ok') this.log.warn({ what }, `a message could not be passed on to the shared server process (${r}); dropped`);
  }

  /** Takes `uri` off the session's subscriptions; true when other sessions still subscribe to it. */
  private unsubscribe(s: SharedSession, uri: string): boolean {
    s.subscriptions.delete(uri);
    const set = this.subscribers.get(uri);
    if (!set) return false;
    set.delete(s);
    if (set.size > 0) return true;
    this.subscribers.delete(uri);
    return false;
  }

  /** The session is over: its requests, its subscriptions and the child's questions to it go. */
  detach(s: SharedSession): void {
    if (!this.sessions.delete(s)) return;
    this.busy.delete(s);
    const up = this.state === 'up';
    for (const upId of [...s.inFlight.values()]) {
      this.settle(upId);
      // initialize is never cancelled; its answer still fills the cache for the sessions waiting.
      if (up && upId !== this.init.upId) this.own({ method: 'notifications/cancelled', params: { requestId: upId, reason: 'the client session ended' } });
    }
    for (const [id, owner] of this.serverRequests) {
      if (owner !== s) continue;
      this.serverRequests.delete(id);
      if (up) this.ownAnswer(errorResponse(id, GatewayError.Refused, 'The client session ended'));
    }
    this.init.waiters = this.init.waiters.filter((w) => w.session !== s);
    for (const uri of [...s.subscriptions]) {
      if (!this.unsubscribe(s, uri) && up) {
        this.own({ id: `mcpwire:${++this.internalId}`, method: 'resources/unsubscribe', params: { uri } });
      }
    }
  }

  /** A message of the gateway's own; its answer (string id `mcpwire:N`) is dropped on return. */
  private own(m: Omit<Msg, 'jsonrpc'>): void {
    this.writeOrWarn(JSON.stringify({ jsonrpc: '2.0', ...m }), this.ownAccount, m.method!);
  }

  private ownAnswer(m: JSONRPCMessage): void {
    this.writeOrWarn(JSON.stringify(m), this.ownAccount, 'response');
  }

  // ── child → clients ────────────────────────────────────────────────────────────────────────────

  private fromChild(message: JSONRPCMessage, kind: MessageKind): MaybePromise<void> {
    const m = message as Msg;
    if (kind === 'response') return this.responseFromChild(m);
    if (kind === 'request') return this.requestFromChild(m);
    switch (m.method) {
      case 'notifications/progress': {
        const token = m.params?.progressToken;
        const u = typeof token === 'number' ? this.upstream.get(token) : undefined;
        if (!u || u.token === undefined) return this.unroutable(m);
        return u.session.host.send({ ...m, params: { ...m.params, progressToken: u.token } } as JSONRPCMessage, u.clientId);
      }
      case 'notifications/resources/updated': {
        const uri = m.params?.uri;
        const set = typeof uri === 'string' ? this.subscribers.get(uri) : undefined;
        return set ? fanOut(set, message) : undefined;
      }
      case 'notifications/cancelled': {
        const s = this.serverRequests.get(m.params?.requestId as RequestId);
        if (!s) return;
        this.serverRequests.delete(m.params!.requestId as RequestId);
        return s.host.send(message);
      }
    }
    if (m.method!.endsWith('/list_changed')) {
      return fanOut([...this.sessions].filter((s) => s.initialized), message);
    }
    const target = this.soleBusySession();
    if (!target) return this.unroutable(m);
    return target.host.send(message, target.soleRequest());
  }

  private responseFromChild(m: Msg): MaybePromise<void> {
    if (typeof m.id !== 'number') return; // the gateway's own requests (string ids), or nonsense
    const u = this.settle(m.id);
    if (m.id === this.init.upId) return this.initialized(u, m);
    if (!u) {
      this.log.debug({ id: m.id }, 'an answer for a request no session waits for any more; dropped');
      return;
    }
    const s = u.session;
    const ok = m.result !== undefined;
    if (u.method === 'resources/subscribe' && ok && u.uri !== undefined && this.sessions.has(s)) {
      s.subscriptions.add(u.uri);
      let set = this.subscribers.get(u.uri);
      if (!set) this.subscribers.set(u.uri, (set = new Set()));
      set.add(s);
    }
    return s.host.send({ ...m, id: u.clientId } as JSONRPCMessage);
  }

  /**
   * Every later session waits on the child's one handshake: a child that never answers it would
   * hold them all, so after `initTimeoutMs` it is stopped as failed (its exit answers them).
   */
  private handshakeDeadline(): NodeJS.Timeout | undefined {
    const ms = this.rt.opts.initTimeoutMs;
    if (ms <= 0) return undefined;
    const child = this.child;
    const timer = setTimeout(() => child?.fail(`did not answer initialize within ${ms} ms`), ms);
    timer.unref();
    return timer;
  }

  /** The child answered the handshake: that answer is every session's from now on. */
  private initialized(first: Upstream | undefined, m: Msg): MaybePromise<void> {
    clearTimeout(this.init.deadline);
    const asked = [...this.init.waiters];
    if (first && this.sessions.has(first.session)) asked.unshift({ session: first.session, id: first.clientId });
    this.init.waiters = [];
    this.init.upId = undefined;
    if (m.result !== undefined) {
      this.init.state = 'done';
      this.init.result = m.result;
      for (const w of asked) w.session.initialized = true;
    } else {
      this.init.state = 'none';
    }
    return fanOutEach(asked, (w) => w.session.host.send({ ...m, id: w.id } as JSONRPCMessage));
  }

  private requestFromChild(m: Msg): MaybePromise<void> {
    const id = m.id as RequestId;
    if (m.method === 'ping') {
      this.ownAnswer({ jsonrpc: '2.0', id, result: {} } as JSONRPCMessage);
      return;
    }
    const target = this.soleBusySession();
    if (!target || this.serverRequests.size >= MAX_SERVER_REQUESTS) {
      this.rt.stats.unroutable++;
      this.ownAnswer(
        errorResponse(
          id,
          GatewayError.Refused,
          target
            ? 'mcpwire gateway (shared mode): too many requests to clients are waiting'
            : 'mcpwire gateway (shared mode): cannot tell which client this request is for (several or no sessions have requests running)',
        ),
      );
      return;
    }
    this.serverRequests.set(id, target);
    return target.host.send(m as JSONRPCMessage, target.soleRequest());
  }

  /** The one session with requests running, if exactly one has. */
  private soleBusySession(): SharedSession | undefined {
    if (this.busy.size !== 1) return undefined;
    return this.busy.values().next().value;
  }

  private unroutable(m: Msg): void {
    const n = ++this.rt.stats.unroutable;
    if (n <= 10 || (n & (n - 1)) === 0) {
      this.log.info({ method: m.method, count: n }, 'a message of the shared server process names no session, and not exactly one session is busy; dropped');
    }
  }

  private overlong(line: OverlongLine): void {
    const id = answeredIdOf(line);
    if (typeof id !== 'number') return;
    // An answer to the handshake too long to pass on: every session waiting on it is told.
    if (id === this.init.upId) {
      void this.initialized(this.settle(id), overlongError(0, line, this.rt.opts.maxLineBytes) as Msg);
      return;
    }
    if (!this.upstream.has(id)) return;
    const u = this.settle(id)!;
    void u.session.host.send(overlongError(u.clientId, line, this.rt.opts.maxLineBytes));
  }

  // ── the child's life ───────────────────────────────────────────────────────────────────────────

  private exited(exit: ExitInfo): void {
    this.child = undefined;
    this.lastExit = { ...exit, at: new Date().toISOString() };
    const sessions = [...this.sessions];
    const sends = new Map<SharedSession, Array<MaybePromise<void>>>();
    for (const u of [...this.upstream.values()]) {
      const list = sends.get(u.session) ?? [];
      list.push(u.session.host.send(exitError(u.clientId, exit)));
      sends.set(u.session, list);
    }
    for (const w of this.init.waiters) void w.session.host.send(exitError(w.id, exit));
    clearTimeout(this.init.deadline);
    this.upstream.clear();
    this.busy.clear();
    this.serverRequests.clear();
    this.subscribers.clear();
    this.init = newInit();
    this.sessions.clear();
    for (const s of sessions) {
      s.inFlight.clear();
      s.subscriptions.clear();
      const end = () => s.host.backendClosed(`shared server process ${exitDescription(exit)}`);
      Promise.all(sends.get(s) ?? []).then(end, end);
    }
    if (this.state === 'closed') return;
    const policy = this.restart;
    const failed = exit.code !== 0 || exit.signal !== null || exit.spawnError !== undefined || exit.failure !== undefined;
    if (policy === 'never' || (policy === 'on-failure' && !failed)) {
      this.state = 'down';
      return;
    }
    if (Date.now() - this.startedAt >= STABLE_MS) this.failures = 0;
    const delay = Math.min(RESTART_FIRST_MS * 2 ** this.failures, RESTART_MAX_MS);
    this.failures++;
    this.state = 'restarting';
    this.log.warn({ inMs: delay }, 'restarting the shared server process');
    this.restartTimer = setTimeout(() => {
      this.rt.stats.restarts++;
      this.start();
    }, delay);
    this.restartTimer.unref();
  }

  async close(): Promise<void> {
    this.state = 'closed';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.child?.stop();
  }
}

function newInit(): {
  state: 'none' | 'pending' | 'done';
  /** The upstream id of the initialize the child is answering. */
  upId?: number | undefined;
  /** Stops a child that does not answer it in time. */
  deadline?: NodeJS.Timeout | undefined;
  result?: Record<string, unknown>;
  waiters: Array<{ session: SharedSession; id: RequestId }>;
  /** notifications/initialized was passed on. */
  announced: boolean;
} {
  return { state: 'none', waiters: [], announced: false };
}

function fanOut(sessions: Iterable<SharedSession>, message: JSONRPCMessage): MaybePromise<void> {
  return fanOutEach(sessions, (s) => s.host.send(message));
}

/** Sends to each; a promise (only) when some send is asynchronous, so stdout pauses just then. */
function fanOutEach<T>(items: Iterable<T>, send: (item: T) => MaybePromise<void>): MaybePromise<void> {
  const pending: Promise<void>[] = [];
  for (const item of items) {
    const r = send(item);
    if (r instanceof Promise) pending.push(r);
  }
  if (pending.length > 0) return Promise.all(pending).then(() => undefined);
}

/** One session's view of the shared child. */
export class SharedSession implements Backend {
  /** Client id → upstream id of this session's requests running. */
  readonly inFlight = new Map<RequestId, number>();
  readonly subscriptions = new Set<string>();
  readonly account: WriteAccount;
  initialized = false;

  constructor(
    private readonly upstream: SharedUpstream,
    readonly host: BackendHost,
    maxQueuedBytes: number,
  ) {
    this.account = new WriteAccount(maxQueuedBytes);
  }

  /** The one request of this session running, if exactly one is. */
  soleRequest(): RequestId | undefined {
    if (this.inFlight.size !== 1) return undefined;
    return this.inFlight.keys().next().value;
  }

  receive(message: JSONRPCMessage, extra: InboundExtra): void {
    this.upstream.fromClient(this, message as Msg, extra);
  }

  close(): void {
    this.upstream.detach(this);
  }
}
