// One 2026-07-28 request run against a 2025-era backend (a fresh SDK server, a stdio child): the
// backend gets an initialize built from the request's `_meta` (capabilities, client info, the newest
// 2025 revision), then the request; its answer is adapted to what 2026-07-28 requires. A request the
// backend sends the client (elicitation, sampling, roots) cannot travel on a 2026 stream: it becomes
// an `input_required` result, and the client's retry runs the backend again from the start with the
// answers given back to it (multi round-trip requests), earlier rounds' answers riding in a signed
// `requestState`.
import { randomUUID } from 'node:crypto';
import { ErrorCode, type JSONRPCMessage, type RequestId } from '../jsonrpc.js';
import { LOG_SEVERITY } from '../store/change.js';
import type { ChangeEvent } from '../store/types.js';
import { META, ModernErrorCode, type ModernRequest } from '../wire/era.js';
import { digestOf, nestedDeeper, type RequestStateSigner, type StateBinding } from './request-state.js';
import type { Backend, BackendFactory, BackendHost, InboundExtra, SessionContext } from './types.js';

/** The 2025 revision the synthetic initialize asks for. */
export const BACKEND_PROTOCOL_VERSION = '2025-11-25';

/**
 * A server that wants to name the key of an input request (instead of `elicitation-0`, …) puts it in
 * the request's `_meta` under this key; it is taken off before the request reaches the client.
 */
export const INPUT_KEY_META = 'io.mcpwire/inputKey';

/** What `initialize` told about the backend: what discover, listen and every result's `_meta` need. */
export interface ServerDescription {
  capabilities: Record<string, unknown>;
  serverInfo: { name: string; version: string } & Record<string, unknown>;
  instructions?: string;
}

/** The final message for the client, and the HTTP status it goes with when sent as JSON. */
export interface RunOutcome {
  message: Record<string, unknown>;
  status: number;
}

/** Why the backend could not be opened: the HTTP status and message of the error to answer. */
export interface OpenFailure {
  failed: true;
  status: number;
  message: string;
}

export interface StatelessRunOptions {
  factory: BackendFactory;
  context: SessionContext;
  extra: InboundExtra;
  /** A change the backend announced (a list changed, a resource was updated). */
  onChange(event: ChangeEvent): void;
  signer: RequestStateSigner;
  principal: string | undefined;
  /** How long to wait for more input requests after the first one before answering input_required. */
  inputSettleMs: number;
}

const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);
/** The requests on which 2026-07-28 lets a server ask the client for input. */
const INPUT_CAPABLE = new Set(['tools/call', 'prompts/get', 'resources/read']);
const INPUT_CAPABILITY: Record<string, 'elicitation' | 'sampling' | 'roots'> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};
const CHANGES: Record<string, Exclude<ChangeEvent['kind'], 'notification'>> = {
  'notifications/tools/list_changed': 'tools_list_changed',
  'notifications/prompts/list_changed': 'prompts_list_changed',
  'notifications/resources/list_changed': 'resources_list_changed',
  'notifications/resources/updated': 'resource_updated',
};
/** Input requests one run may make; a backend asking more gets errors for the rest. */
const MAX_INPUT_REQUESTS = 100;
/** How deep the client's answers may nest (far more than any elicitation or sampling result needs). */
const MAX_ANSWER_DEPTH = 256;

export type Msg = { jsonrpc: '2.0'; id?: RequestId; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function errorOutcome(id: RequestId, code: number, message: string, status = 200, data?: unknown): RunOutcome {
  const error: Record<string, unknown> = { code, message };
  if (data !== undefined) error.data = data;
  return { status, message: { jsonrpc: '2.0', id, error } };
}

/**
 * A backend opened for one exchange: built, given initialize and initialized, then one request,
 * then closed. Also used alone (open, read the description, close) by discover and listen.
 */
export class StatelessRun {
  private backend: Backend | undefined;
  private closed = false;
  private closedWhy = '';
  private readonly prefix = `mcpwire-${randomUUID().slice(0, 8)}-`;
  /** mcpwire's own requests to the backend (initialize, tools/list), by id. */
  private readonly waiters = new Map<string, (m: Msg) => void>();
  private ownIds = 0;
  private finalWaiter: ((o: RunOutcome) => void) | undefined;
  private request: ModernRequest | undefined;
  private description: ServerDescription | undefined;
  private logLevel = -1;
  private progressToken: unknown;
  // Multi round-trip state of the request being run.
  private answers: Record<string, unknown> = {};
  private readonly used: Record<string, unknown> = {};
  private readonly asked: Record<string, unknown> = {};
  private inputCount = 0;
  private settleTimer: NodeJS.Timeout | undefined;
  private binding: StateBinding | undefined;
  private notify: (message: JSONRPCMessage) => void = () => {};
  private changed: (event: ChangeEvent) => void;
  private gone: () => void = () => {};

  constructor(private readonly o: StatelessRunOptions) {
    this.changed = o.onChange;
  }

  /** From now on, changes the backend announces go to `handler` (a listen keeps its backend to itself). */
  onChange(handler: (event: ChangeEvent) => void): void {
    this.changed = handler;
  }

  /** `handler` is called when the backend ends by itself (its server closed, its child died). */
  onBackendClosed(handler: () => void): void {
    this.gone = handler;
  }

  /** Builds the backend and does the handshake; resolves to what the backend said of itself. */
  async open(meta: ModernRequest['meta']): Promise<ServerDescription | OpenFailure> {
    const host: BackendHost = {
      sessionId: this.o.context.sessionId,
      wire: this.o.context.wire,
      send: (message) => this.fromBackend(message as Msg),
      backendClosed: () => this.backendClosed(),
    };
    try {
      this.backend = await this.o.factory(host, this.o.context);
    } catch (err) {
      return { failed: true, status: 503, message: `Service Unavailable: the server could not be started (${err instanceof Error ? err.message : String(err)})` };
    }
    // Closed while it started: only a shutdown is left to hear of it (a client that left hears nothing), so 503.
    if (this.closed) {
      void this.closeBackend();
      return { failed: true, status: 503, message: `Service Unavailable: ${this.closedWhy}` };
    }
    const m = await this.ask('initialize', {
      protocolVersion: BACKEND_PROTOCOL_VERSION,
      capabilities: meta.clientCapabilities,
      clientInfo: meta.clientInfo ?? { name: 'unnamed-2026-client', version: '0' },
    });
    if (this.closed) return { failed: true, status: 503, message: `Service Unavailable: ${this.closedWhy}` };
    if (!m.result) return { failed: true, status: 500, message: `Internal error: the server refused to start (${m.error?.message ?? 'no reason given'})` };
    const r = m.result;
    const serverInfo = isPlainObject(r.serverInfo) ? (r.serverInfo as ServerDescription['serverInfo']) : { name: 'unknown', version: '0' };
    this.description = { capabilities: isPlainObject(r.capabilities) ? r.capabilities : {}, serverInfo };
    if (typeof r.instructions === 'string') this.description.instructions = r.instructions;
    this.backend.receive({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage, this.o.extra);
    return this.description;
  }

  /** A request of mcpwire's own to the opened backend; resolves to its answer. */
  ask(method: string, params: Record<string, unknown>): Promise<Msg> {
    const id = `${this.prefix}${this.ownIds++}`;
    if (!this.backend) return Promise.resolve({ jsonrpc: '2.0', error: { code: ErrorCode.InternalError, message: 'the server closed' } });
    const answered = new Promise<Msg>((resolve) => this.waiters.set(id, resolve));
    if (!this.deliver({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage)) {
      this.waiters.delete(id);
      return Promise.resolve({ jsonrpc: '2.0', error: { code: ErrorCode.InternalError, message: 'the server could not be sent the request' } });
    }
    return answered;
  }

  /** Runs the request on the opened backend; resolves to the adapted final message. */
  call(request: ModernRequest, notify: (message: JSONRPCMessage) => void): Promise<RunOutcome> {
    // Closed while mcpwire read the tool list (a shutdown): the request is answered as failWaiters would have.
    if (this.closed) return Promise.resolve(errorOutcome(request.id, ErrorCode.InternalError, `Internal error: ${this.closedWhy}`));
    const backend = this.backend!;
    this.request = request;
    this.notify = notify;
    const params = request.params;
    if (INPUT_CAPABLE.has(request.method)) {
      const refused = this.takeInput(request);
      if (refused) return Promise.resolve(refused);
    }
    const level = request.meta.logLevel;
    if (level !== undefined) {
      this.logLevel = LOG_SEVERITY.indexOf(level);
      if (this.description?.capabilities.logging) {
        backend.receive({ jsonrpc: '2.0', id: `${this.prefix}level`, method: 'logging/setLevel', params: { level } } as JSONRPCMessage, this.o.extra);
      }
    }
    const meta = params._meta as Record<string, unknown> | undefined;
    this.progressToken = meta?.progressToken;
    const { inputResponses: _r, requestState: _s, ...forwarded } = params;
    const done = new Promise<RunOutcome>((resolve) => (this.finalWaiter = resolve));
    if (!this.deliver({ jsonrpc: '2.0', id: request.id, method: request.method, params: forwarded } as JSONRPCMessage)) {
      this.finish(errorOutcome(request.id, ErrorCode.InternalError, 'Internal error: the request could not be passed to the server', 500));
    }
    return done;
  }

  /**
   * Hands the backend a message; false when it threw (a gateway child cannot be sent a value nested
   * too deep to serialize). Thrown on, it would become a 500 without the request's id.
   */
  private deliver(message: JSONRPCMessage): boolean {
    try {
      this.backend!.receive(message, this.o.extra);
      return true;
    } catch {
      return false;
    }
  }

  /** The client went away: the backend is told, then closed; nothing more is reported. */
  cancel(reason: string): void {
    if (this.closed) return;
    if (this.request && this.finalWaiter && this.backend) {
      this.backend.receive({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: this.request.id, reason } } as JSONRPCMessage, this.o.extra);
    }
    void this.close(reason);
  }

  /** Closes the backend; whoever still waits on it is answered with an error saying `why`. */
  async close(why = 'the request ended'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closedWhy = why;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.failWaiters(why);
    await this.closeBackend();
  }

  private failWaiters(why: string): void {
    for (const w of this.waiters.values()) w({ jsonrpc: '2.0', error: { code: ErrorCode.InternalError, message: why } });
    this.waiters.clear();
    if (this.request) this.finish(errorOutcome(this.request.id, ErrorCode.InternalError, `Internal error: ${why}`));
  }

  private async closeBackend(): Promise<void> {
    const b = this.backend;
    this.backend = undefined;
    if (b) await Promise.resolve().then(() => b.close()).catch(() => {});
  }

  // ── multi round-trip input ───────────────────────────────────────────────────────────────────

  /** Checks and takes the client's answers to earlier input requests; an outcome when they are unusable. */
  private takeInput(request: ModernRequest): RunOutcome | undefined {
    const p = request.params;
    const target = typeof p.name === 'string' ? p.name : typeof p.uri === 'string' ? p.uri : '';
    this.binding = { principal: this.o.principal ?? '', method: request.method, target, argsDigest: digestOf(p.arguments ?? null) };
    const responses = p.inputResponses;
    if (responses !== undefined && !(isPlainObject(responses) && Object.values(responses).every(isPlainObject))) {
      return errorOutcome(request.id, ErrorCode.InvalidParams, 'Invalid params: inputResponses must map each input key to the result object for it');
    }
    // The answers are signed into requestState with JSON.stringify, which a deep enough value overflows.
    if (nestedDeeper(responses, MAX_ANSWER_DEPTH)) {
      return errorOutcome(request.id, ErrorCode.InvalidParams, `Invalid params: inputResponses nest more than ${MAX_ANSWER_DEPTH} levels deep`);
    }
    const state = p.requestState;
    if (state !== undefined) {
      if (typeof state !== 'string') return errorOutcome(request.id, ErrorCode.InvalidParams, 'Invalid params: requestState must be the string the server sent');
      const v = this.o.signer.verify(state, this.binding);
      if (!v.ok) return errorOutcome(request.id, ErrorCode.InvalidParams, `Invalid params: requestState was rejected: ${v.reason}`);
      this.answers = v.answers;
    }
    if (responses) this.answers = { ...this.answers, ...responses };
    return undefined;
  }

  private serverRequest(m: Msg): void {
    const backend = this.backend!;
    const answer = (reply: Record<string, unknown>) => backend.receive({ jsonrpc: '2.0', id: m.id, ...reply } as JSONRPCMessage, this.o.extra);
    if (m.method === 'ping') return answer({ result: {} });
    const cap = INPUT_CAPABILITY[m.method!];
    const request = this.request;
    if (!cap || !request || !INPUT_CAPABLE.has(request.method)) {
      return answer({ error: { code: ErrorCode.MethodNotFound, message: `${m.method} cannot reach a 2026-07-28 client while this request runs` } });
    }
    if (this.inputCount >= MAX_INPUT_REQUESTS) {
      return answer({ error: { code: ErrorCode.InternalError, message: `at most ${MAX_INPUT_REQUESTS} input requests per request` } });
    }
    const missing = this.missingCapability(cap, m.params);
    if (missing) {
      this.finish(errorOutcome(request.id, ModernErrorCode.MissingRequiredClientCapability, `Missing required client capability: ${Object.keys(missing)[0]}`, 400, { requiredCapabilities: missing }));
      return;
    }
    const params = { ...(m.params ?? {}) };
    const meta = isPlainObject(params._meta) ? { ...params._meta } : undefined;
    const hint = meta?.[INPUT_KEY_META];
    if (meta) {
      delete meta[INPUT_KEY_META];
      if (Object.keys(meta).length > 0) params._meta = meta;
      else delete params._meta;
    }
    const n = this.inputCount++;
    const key = typeof hint === 'string' && hint.length > 0 ? hint : `${cap}-${n}`;
    const given = this.answers[key];
    if (given !== undefined) {
      this.used[key] = given;
      return answer({ result: given as Record<string, unknown> });
    }
    this.asked[key] = { method: m.method, params };
    // Requests made together (Promise.all) go out together: answer once the backend has been quiet briefly.
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.inputRequired(), this.o.inputSettleMs);
  }

  private missingCapability(cap: 'elicitation' | 'sampling' | 'roots', params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
    const declared = this.request!.meta.clientCapabilities[cap];
    if (!isPlainObject(declared)) return { [cap]: {} };
    if (cap === 'elicitation' && params?.mode === 'url' && !isPlainObject(declared.url)) return { elicitation: { url: {} } };
    if (cap === 'sampling' && (params?.tools !== undefined || params?.toolChoice !== undefined) && !isPlainObject(declared.tools)) {
      return { sampling: { tools: {} } };
    }
    return undefined;
  }

  private inputRequired(): void {
    const request = this.request!;
    const requestState = this.o.signer.sign(this.binding!, { ...this.answers, ...this.used });
    this.finish({
      status: 200,
      message: { jsonrpc: '2.0', id: request.id, result: { resultType: 'input_required', inputRequests: this.asked, requestState, _meta: this.resultMeta() } },
    });
  }

  // ── backend → client ─────────────────────────────────────────────────────────────────────────

  private fromBackend(m: Msg): void {
    if (this.closed) return;
    if (m.method === undefined) {
      const w = typeof m.id === 'string' ? this.waiters.get(m.id) : undefined;
      if (w) {
        this.waiters.delete(m.id as string);
        w(m);
      } else if (this.request && m.id === this.request.id) {
        this.finish(this.adapt(m));
      }
      return;
    }
    if (m.id !== undefined) {
      this.serverRequest(m);
      return;
    }
    const change = CHANGES[m.method];
    if (change) {
      if (change === 'resource_updated') {
        if (typeof m.params?.uri === 'string') this.changed({ kind: change, uri: m.params.uri });
      } else {
        this.changed({ kind: change });
      }
      return;
    }
    if (!this.finalWaiter) return;
    if (m.method === 'notifications/progress') {
      if (this.progressToken !== undefined && m.params?.progressToken === this.progressToken) this.notify(m as JSONRPCMessage);
      return;
    }
    if (m.method === 'notifications/message') {
      // Without a log level the client asked for no log messages at all (2026-07-28).
      if (this.logLevel >= 0 && LOG_SEVERITY.indexOf(String(m.params?.level)) >= this.logLevel) this.notify(m as JSONRPCMessage);
    }
  }

  private backendClosed(): void {
    if (this.closed) return;
    this.failWaiters('the server closed before it answered');
    this.gone();
  }

  private finish(outcome: RunOutcome): void {
    const w = this.finalWaiter;
    if (!w) return;
    this.finalWaiter = undefined;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    w(outcome);
  }

  private resultMeta(extra?: unknown): Record<string, unknown> {
    const meta = isPlainObject(extra) ? { ...extra } : {};
    if (this.description) meta[META.serverInfo] = this.description.serverInfo;
    return meta;
  }

  /** The backend's answer as 2026-07-28 wants it. */
  private adapt(m: Msg): RunOutcome {
    const request = this.request!;
    if (m.error) {
      const e = m.error;
      // Resource not found is -32602 since 2026-07-28 (-32002 is retired), with the URI in data.
      if (e.code === -32002 || (e.code === ErrorCode.InvalidParams && request.method === 'resources/read')) {
        return errorOutcome(request.id, ErrorCode.InvalidParams, e.message, 200, { uri: request.params.uri, ...(isPlainObject(e.data) ? e.data : {}) });
      }
      const status = e.code === ErrorCode.MethodNotFound ? 404 : e.code === ModernErrorCode.MissingRequiredClientCapability ? 400 : 200;
      return errorOutcome(request.id, e.code, e.message, status, e.data);
    }
    const result: Record<string, unknown> = { ...m.result };
    if (result.resultType !== 'input_required' || !INPUT_CAPABLE.has(request.method)) result.resultType = 'complete';
    result._meta = this.resultMeta(result._meta);
    if (CACHEABLE.has(request.method)) {
      if (!(Number.isSafeInteger(result.ttlMs) && (result.ttlMs as number) >= 0)) result.ttlMs = 0;
      if (result.cacheScope !== 'public' && result.cacheScope !== 'private') result.cacheScope = 'private';
    }
    return { status: 200, message: { jsonrpc: '2.0', id: request.id, result } };
  }
}
