// Streamable HTTP at 2026-07-28: every POST stands alone. Requests that passed the era checks
// (era.ts) are run against a backend built for them alone (backend/stateless-run.ts) and answered
// with JSON, or with an SSE stream once a related notification comes first; closing that stream
// cancels the request. `server/discover` describes the server; `subscriptions/listen` opens a
// listen stream (listen.ts). Nothing here touches the session store: no session exists.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { RequestStateSigner } from '../backend/request-state.js';
import { StatelessRun, type RunOutcome, type ServerDescription } from '../backend/stateless-run.js';
import type { BackendFactory, SessionContext } from '../backend/types.js';
import { sendError, sendJson } from '../http/responses.js';
import { ErrorCode, type JSONRPCMessage } from '../jsonrpc.js';
import { SseConnection, type SseConnections } from '../session/sse-writer.js';
import type { Bus, ChangeEvent } from '../store/types.js';
import { META, MODERN_PROTOCOL_VERSIONS, ModernErrorCode, type Era, type ModernRequest } from './era.js';
import type { WireContext } from './inbound.js';
import { honored, ListenHub, parseFilter, type ListenFilter, type ListenLimits } from './listen.js';
import { headerSpecsOf, paramHeaderProblem, type HeaderSpec } from './param-headers.js';

/** How long the `x-mcp-header` annotations read from a tools/list are trusted (a tool-list change drops them at once). */
const TOOL_HEADERS_TTL_MS = 60_000;
const TOOL_HEADERS_MAX_PRINCIPALS = 1_000;
const TOOL_LIST_MAX_PAGES = 20;

export interface StatelessSettings {
  backend: BackendFactory;
  bus: Bus;
  connections: SseConnections;
  log: Logger;
  /** Publishes a change a backend announced, to both eras (the engine's `publish`). */
  publish(event: ChangeEvent): void | Promise<void>;
  /** 2026 requests running at once on this instance; more get 503. */
  maxInFlight: number;
  listen: ListenLimits;
  /** Signs requestState; give every instance the same secret so a retry may land on any of them. */
  stateSecret: string | undefined;
  stateTtlMs: number;
  inputSettleMs: number;
}

export class StatelessEndpoint {
  readonly listens: ListenHub;
  private readonly signer: RequestStateSigner;
  private readonly running = new Set<StatelessRun>();
  private draining = false;
  /** Per principal: the tools' `Mcp-Param-*` annotations, read from the backend's tools/list. */
  private readonly toolHeaders = new Map<string, { at: number; tools: Map<string, HeaderSpec[]> }>();
  private readonly unsubscribe: () => void;

  constructor(private readonly s: StatelessSettings) {
    this.listens = new ListenHub(s.bus, s.connections, s.listen);
    this.signer = new RequestStateSigner(s.stateSecret, s.stateTtlMs);
    this.unsubscribe = s.bus.subscribe((e) => {
      if (e.kind === 'tools_list_changed') this.toolHeaders.clear();
    });
  }

  /** Signs and checks requestState with a secret shared by every instance from now on. */
  useStateSecret(secret: string): void {
    this.signer.useSecret(secret);
  }

  get inFlight(): number {
    return this.running.size;
  }

  /** Answers a POST the era check did not leave to the 2025 machinery. */
  async handle(ctx: WireContext, era: Exclude<Era, { era: 'legacy' }>): Promise<void> {
    const { res } = ctx;
    if (era.era === 'refused') {
      sendError(res, era.status, era.code, era.message, undefined, era.data, era.id);
      return;
    }
    if (era.era === 'modern-notification') {
      // No client→server notification means anything over 2026-07-28 HTTP: accepted, dropped.
      res.writeHead(202, { 'Content-Length': 0 });
      res.end();
      return;
    }
    const request = era.request;
    const busy = this.refusal();
    if (busy) {
      this.refuseBusy(res, busy, request.id);
      return;
    }
    let filter: ListenFilter | undefined;
    if (request.method === 'subscriptions/listen') {
      const parsed = parseFilter(request.params.notifications, this.listens.limits.maxResourceSubscriptions);
      if (typeof parsed === 'string') {
        sendJson(res, 200, { jsonrpc: '2.0', id: request.id, error: { code: ErrorCode.InvalidParams, message: parsed } });
        return;
      }
      // The place is taken now, before the listen's server starts: listens arriving together would all see room.
      const full = this.listens.reserve(ctx.principal);
      if (full) {
        this.refuseBusy(res, full, request.id);
        return;
      }
      filter = parsed;
    }
    const run = this.newRun(ctx, request);
    this.running.add(run);
    let kept = false;
    try {
      kept = await this.serve(ctx, request, run, filter);
    } finally {
      this.running.delete(run);
      if (!kept) {
        void run.close();
        if (filter) this.listens.unreserve(ctx.principal);
      }
    }
  }

  private refusal(): string | undefined {
    if (this.draining) return 'the server is shutting down; retry against another instance';
    if (this.running.size >= this.s.maxInFlight) return 'the server is running its maximum of requests; retry later';
    // The backend's own limits (a gateway's children) are its factory's to apply: it may have room
    // for a stateless request where it has none for a new session.
    return undefined;
  }

  private refuseBusy(res: ServerResponse, why: string, id: ModernRequest['id']): void {
    sendError(res, 503, ErrorCode.ServerError, `Service Unavailable: ${why}`, this.retryAfter(), undefined, id);
  }

  private retryAfter(): Record<string, string> {
    return { 'Retry-After': this.draining ? '1' : '5' };
  }

  private newRun(ctx: WireContext, request: ModernRequest): StatelessRun {
    const { protocolVersion, clientCapabilities, clientInfo } = request.meta;
    const context: SessionContext = {
      sessionId: randomUUID(),
      wire: 'streamable',
      headers: ctx.req.headers,
      stateless: { protocolVersion, clientCapabilities, clientInfo, principal: ctx.principal },
    };
    if (ctx.authInfo) context.authInfo = ctx.authInfo;
    const extra = ctx.authInfo ? { requestInfo: { headers: ctx.req.headers }, authInfo: ctx.authInfo } : { requestInfo: { headers: ctx.req.headers } };
    return new StatelessRun({
      factory: this.s.backend,
      context,
      extra,
      onChange: (e) => {
        Promise.resolve()
          .then(() => this.s.publish(e))
          .catch((err: unknown) => this.s.log.warn({ err }, 'a change announced during a 2026-07-28 request could not be published'));
      },
      signer: this.signer,
      principal: ctx.principal,
      inputSettleMs: this.s.inputSettleMs,
    });
  }

  /** Serves one request on `run`; true when a listen stream took the run (its backend) for its lifetime. */
  private async serve(ctx: WireContext, request: ModernRequest, run: StatelessRun, filter: ListenFilter | undefined): Promise<boolean> {
    const { res } = ctx;
    let gone = false;
    const onClose = () => {
      if (res.writableFinished) return;
      gone = true;
      // A closed response stream is a cancellation (2026-07-28): the backend is told and closed.
      run.cancel('the client closed the response stream');
    };
    res.once('close', onClose);
    const opened = await run.open(request.meta);
    if (gone) return false;
    if ('failed' in opened) {
      const busy = opened.status === 503;
      sendError(res, opened.status, busy ? ErrorCode.ServerError : ErrorCode.InternalError, opened.message, busy ? this.retryAfter() : undefined, undefined, request.id);
      return false;
    }
    if (request.method === 'server/discover') {
      sendJson(res, 200, { jsonrpc: '2.0', id: request.id, result: discoverResult(opened) });
      return false;
    }
    if (filter) {
      res.off('close', onClose);
      this.listen(ctx, request, honored(filter, opened.capabilities), opened, run);
      return true;
    }
    if (request.method === 'tools/call') {
      const tools = await this.toolHeaderSpecs(ctx.principal, run);
      if (gone) return false;
      const problem = paramHeaderProblem(tools.get(String(request.params.name)) ?? [], request.params.arguments, ctx.req.headers);
      if (problem) {
        res.off('close', onClose);
        sendError(res, 400, ModernErrorCode.HeaderMismatch, `Header mismatch: ${problem}`, undefined, undefined, request.id);
        return false;
      }
    }
    const out = new ResponseOut(res, this.s.connections);
    const outcome = await run.call(request, (m) => out.notify(m));
    if (gone) return false;
    res.off('close', onClose);
    out.finish(outcome);
    return false;
  }

  /** The `x-mcp-header` annotations of every tool, read with tools/list on `run` when not known. */
  private async toolHeaderSpecs(principal: string | undefined, run: StatelessRun): Promise<Map<string, HeaderSpec[]>> {
    const key = principal ?? '';
    const known = this.toolHeaders.get(key);
    if (known && Date.now() - known.at < TOOL_HEADERS_TTL_MS) return known.tools;
    const tools = new Map<string, HeaderSpec[]>();
    let cursor: unknown;
    for (let page = 0; page < TOOL_LIST_MAX_PAGES; page++) {
      const m = await run.ask('tools/list', cursor === undefined ? {} : { cursor });
      const list = m.result?.tools;
      // A listing that failed (or was cut short by the client leaving) is used for this call only:
      // remembered, it would let every call skip the checks of the tools it missed.
      if (!Array.isArray(list)) return tools;
      for (const t of list as Array<{ name?: unknown; inputSchema?: unknown }>) {
        const specs = headerSpecsOf(t.inputSchema);
        if (typeof t.name === 'string' && specs.length > 0) tools.set(t.name, specs);
      }
      cursor = m.result?.nextCursor;
      if (typeof cursor !== 'string') break;
    }
    this.toolHeaders.delete(key);
    if (this.toolHeaders.size >= TOOL_HEADERS_MAX_PRINCIPALS) this.toolHeaders.delete(this.toolHeaders.keys().next().value!);
    this.toolHeaders.set(key, { at: Date.now(), tools });
    return tools;
  }

  /**
   * Opens the listen stream. The backend stays with it, as a 2025 session's server does: it is told the
   * subscribed URIs (a gateway's child then subscribes upstream, and unsubscribes when the stream
   * closes), and what it announces goes to this stream.
   */
  private listen(ctx: WireContext, request: ModernRequest, filter: ListenFilter, description: ServerDescription, run: StatelessRun): void {
    const stream = this.listens.open(ctx.res, request.id, filter, ctx.principal, description.serverInfo, () => void run.close());
    run.onChange((e) => this.listens.deliverTo(stream, e));
    // Without its server (a child that died) the listen would stay open and hear nothing of its URIs: it ends, and the client opens another.
    run.onBackendClosed(() => this.listens.end(stream));
    for (const uri of filter.resourceSubscriptions) void run.ask('resources/subscribe', { uri });
  }

  /**
   * Stops taking 2026 requests, lets running ones finish for up to `drainMs`, then ends every listen
   * with its result and cancels what still runs.
   */
  async close(drainMs: number): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + drainMs;
    while (this.running.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    this.listens.closeAll();
    this.unsubscribe();
    for (const run of this.running) run.cancel('the server is shutting down');
  }
}

function discoverResult(d: ServerDescription): Record<string, unknown> {
  const result: Record<string, unknown> = {
    resultType: 'complete',
    supportedVersions: [...MODERN_PROTOCOL_VERSIONS],
    capabilities: d.capabilities,
    ttlMs: 0,
    cacheScope: 'private',
    _meta: { [META.serverInfo]: d.serverInfo },
  };
  if (d.instructions !== undefined) result.instructions = d.instructions;
  return result;
}

function reply(res: ServerResponse, outcome: RunOutcome): void {
  const body = JSON.stringify(outcome.message);
  res.writeHead(outcome.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The answer to one request: JSON, unless a related notification comes first (then an SSE stream, no event ids). */
class ResponseOut {
  private conn: SseConnection | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly connections: SseConnections,
  ) {}

  notify(message: JSONRPCMessage): void {
    const data = JSON.stringify(message);
    if (!this.conn) {
      this.conn = new SseConnection(this.res, this.connections);
      this.conn.start(undefined, `event: message\ndata: ${data}\n\n`);
      return;
    }
    this.conn.writeNamed('message', data);
  }

  finish(outcome: RunOutcome): void {
    if (!this.conn) {
      reply(this.res, outcome);
      return;
    }
    this.conn.writeNamed('message', JSON.stringify(outcome.message));
    this.conn.finish();
  }
}

const endpoints = new WeakMap<object, StatelessEndpoint>();

/** Serves the 2026-07-28 requests that reach this engine's 2025 endpoint (one per handler). */
export function attachStateless(engine: object, endpoint: StatelessEndpoint): void {
  endpoints.set(engine, endpoint);
}

export function statelessOf(engine: object): StatelessEndpoint | undefined {
  return endpoints.get(engine);
}
