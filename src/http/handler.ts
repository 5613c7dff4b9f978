// The node:http entry: routing, Host/Origin checks, CORS, auth, health; then the wire modules.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { ErrorCode } from '../jsonrpc.js';
import type { ResolvedOptions } from '../options.js';
import type { SessionManager } from '../session/manager.js';
import type { WireContext } from '../wire/inbound.js';
import { handleMessagesPost, handleSseGet } from '../wire/legacy-sse.js';
import { handleDelete, handleGet, handlePost } from '../wire/streamable-http.js';
import { Cors } from './cors.js';
import { healthReport, type HealthCheck } from './health.js';
import { sendError, sendJson } from './responses.js';
import { BearerAuth, HostCheck, OriginCheck } from './security.js';
import { StoreUnavailableError } from '../store/redis-port.js';

export type Next = (err?: unknown) => void;

/** A request that passed the Host, Origin and auth checks. */
export interface AuthorizedRequest {
  req: IncomingMessage;
  res: ServerResponse;
  authInfo: AuthInfo | undefined;
  principal: string | undefined;
  query: string;
}

export type RouteHandler = (r: AuthorizedRequest) => void | Promise<void>;

/** One finished (or aborted) request on a routed path, for metrics; `route` is the routed path. */
export interface RequestObservation {
  route: string;
  method: string;
  status: number;
  durationMs: number;
}

const PRM_PATH = '/.well-known/oauth-protected-resource';

type Route =
  | { kind: 'mcp' | 'sse' | 'messages' | 'health' | 'prm' }
  | { kind: 'custom'; handler: RouteHandler; methods: string[]; auth: boolean };

export class HttpFront {
  readonly healthChecks: HealthCheck[] = [];
  private readonly routes = new Map<string, Route>();
  private readonly hosts: HostCheck;
  private readonly origins: OriginCheck;
  private readonly cors: Cors | undefined;
  private readonly auth: BearerAuth | undefined;
  private readonly resourceMetadataUrl: string | undefined;
  private isReady = false;
  private readonly observers = new Set<(o: RequestObservation) => void>();

  constructor(
    private readonly opts: ResolvedOptions,
    readonly engine: SessionManager,
    private readonly ready: Promise<void>,
  ) {
    void ready.then(() => (this.isReady = true), () => {});
    this.hosts = new HostCheck(opts.allowedHosts);
    this.origins = new OriginCheck(opts.allowedOrigins, opts.cors);
    this.cors = opts.cors ? new Cors(opts.cors) : undefined;
    const auth = opts.auth ? new BearerAuth(opts.auth) : undefined;
    this.auth = auth?.enabled ? auth : undefined;
    this.routes.set(opts.mcpPath, { kind: 'mcp' });
    this.routes.set(opts.ssePath, { kind: 'sse' });
    this.routes.set(opts.messagesPath, { kind: 'messages' });
    this.routes.set(opts.healthPath, { kind: 'health' });
    const prm = opts.auth?.resourceMetadata;
    if (prm) {
      this.routes.set(PRM_PATH, { kind: 'prm' });
      this.routes.set(PRM_PATH + opts.mcpPath, { kind: 'prm' });
      this.resourceMetadataUrl = new URL(PRM_PATH + opts.mcpPath, prm.resource).href;
    }
  }

  /** Adds a route behind the same Host/Origin checks (and auth, unless `auth: false`). */
  addRoute(path: string, handler: RouteHandler, options: { methods?: string[]; auth?: boolean } = {}): void {
    if (this.routes.has(path)) throw new Error(`mcpwire: the path ${path} is already routed`);
    this.routes.set(path, { kind: 'custom', handler, methods: options.methods ?? ['GET'], auth: options.auth ?? true });
  }

  /** Calls `listener` when each routed request's response closes; returns the unsubscriber. */
  observe(listener: (o: RequestObservation) => void): () => void {
    this.observers.add(listener);
    return () => this.observers.delete(listener);
  }

  handle(req: IncomingMessage, res: ServerResponse, next?: Next): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const route = this.routes.get(path);
    if (!route) {
      if (next) next();
      else sendError(res, 404, ErrorCode.ServerError, 'Not Found');
      return;
    }
    if (this.observers.size > 0) this.timeRequest(path, req, res);
    this.dispatch(route, req, res, q === -1 ? '' : url.slice(q + 1)).catch((err: unknown) => {
      this.engine.stats.httpErrors++;
      if (err instanceof StoreUnavailableError) {
        // Fail closed, never 404: the session is not gone, the store is away for a while.
        sendError(res, 503, ErrorCode.ServerError, 'Service Unavailable: the session store is unavailable; retry shortly', { 'Retry-After': '1' }, { reason: 'session_store_unavailable' });
        return;
      }
      this.opts.logger.error({ err }, 'request failed');
      sendError(res, 500, ErrorCode.InternalError, 'Internal error');
    });
  }

  private timeRequest(route: string, req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    // 'close' rather than 'finish': an SSE stream the client drops never finishes.
    res.once('close', () => {
      // No answer sent: the client left first (499, as proxies log it), whatever statusCode defaults to.
      const o = { route, method: req.method ?? 'GET', status: res.headersSent ? res.statusCode : 499, durationMs: performance.now() - start };
      for (const fn of this.observers) fn(o);
    });
  }

  private async dispatch(route: Route, req: IncomingMessage, res: ServerResponse, query: string): Promise<void> {
    if (!this.isReady) await this.ready;
    const method = req.method ?? 'GET';
    if (route.kind === 'health') {
      if (!this.allowMethod(res, method, ['GET'])) return;
      const report = healthReport(this.engine, this.healthChecks);
      sendJson(res, report.status === 'ok' ? 200 : 503, report, { 'Cache-Control': 'no-store' });
      return;
    }
    if (route.kind === 'prm') {
      if (!this.allowMethod(res, method, ['GET'])) return;
      const m = this.opts.auth!.resourceMetadata!;
      sendJson(res, 200, {
        resource: m.resource,
        authorization_servers: m.authorizationServers,
        ...(m.scopesSupported ? { scopes_supported: m.scopesSupported } : {}),
        bearer_methods_supported: ['header'],
      });
      return;
    }
    if (!this.hosts.allows(req.headers.host)) {
      this.refuse(res, 403, 'Forbidden: Host header not allowed');
      return;
    }
    if (!this.origins.allows(req.headers.origin, req.headers.host)) {
      this.refuse(res, 403, 'Forbidden: Origin not allowed');
      return;
    }
    if (method === 'OPTIONS' && this.cors) {
      this.cors.preflight(req, res);
      return;
    }
    this.cors?.apply(req, res);

    let authInfo: AuthInfo | undefined;
    let principal: string | undefined;
    if (this.auth && (route.kind !== 'custom' || route.auth)) {
      const r = await this.auth.check(req);
      if (!r.ok) {
        this.engine.stats.httpErrors++;
        sendError(res, 401, ErrorCode.ServerError, 'Unauthorized: a valid bearer token is required', {
          'WWW-Authenticate': this.auth.challenge(r.error, this.resourceMetadataUrl),
        });
        return;
      }
      authInfo = r.authInfo;
      principal = r.principal;
      // The client left while its token was checked: nothing to answer (and its body will never come).
      if (res.destroyed || req.socket.destroyed) return;
    }

    if (route.kind === 'custom') {
      if (!this.allowMethod(res, method, route.methods)) return;
      await route.handler({ req, res, authInfo, principal, query });
      return;
    }
    const ctx: WireContext = {
      req,
      res,
      engine: this.engine,
      opts: this.opts,
      principal,
      authInfo,
      basePath: (req as { baseUrl?: string }).baseUrl ?? '',
      query,
    };
    switch (route.kind) {
      case 'mcp':
        if (method === 'POST') return handlePost(ctx);
        if (method === 'GET') return handleGet(ctx);
        if (method === 'DELETE') return handleDelete(ctx);
        this.allowMethod(res, method, ['GET', 'POST', 'DELETE']);
        return;
      case 'sse':
        if (this.allowMethod(res, method, ['GET'])) return handleSseGet(ctx);
        return;
      case 'messages':
        if (this.allowMethod(res, method, ['POST'])) return handleMessagesPost(ctx);
        return;
    }
  }

  private allowMethod(res: ServerResponse, method: string, allowed: string[]): boolean {
    if (allowed.includes(method)) return true;
    this.engine.stats.httpErrors++;
    sendError(res, 405, ErrorCode.ServerError, 'Method Not Allowed', { Allow: allowed.join(', ') });
    return false;
  }

  private refuse(res: ServerResponse, status: number, message: string): void {
    this.engine.stats.httpErrors++;
    sendError(res, status, ErrorCode.ServerError, message);
  }
}
