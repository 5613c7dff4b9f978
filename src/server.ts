// The library's entry points: a (req, res, next) handler to mount anywhere, and `serve()`.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sdkServerBackend } from './backend/sdk-server.js';
import type { BackendFactory } from './backend/types.js';
import { HttpFront, type Next, type RequestObservation, type RouteHandler } from './http/handler.js';
import { healthReport, type HealthCheck, type HealthReport } from './http/health.js';
import { LOOPBACK_HOSTS, resolveOptions, type McpWireOptions, type ResolvedOptions } from './options.js';
import { SessionManager } from './session/manager.js';
import { newStats, type Stats } from './session/stats.js';
import { Cluster } from './session/cluster.js';
import { MAX_SUBSCRIPTIONS } from './session/subscription-limits.js';
import { LOG_SEVERITY } from './store/change.js';
import { MemoryBus, MemoryEventStore } from './store/memory.js';
import type { ChangeEvent } from './store/types.js';
import { RedisPort } from './store/redis-port.js';
import { RedisBus } from './store/redis-bus.js';
import { sharedSecret } from './backend/request-state.js';
import { attachStateless, StatelessEndpoint } from './wire/stateless.js';

export interface AnnounceOptions {
  /**
   * A name for this change that every instance seeing it would give it (a file's version, say): with
   * several instances (Redis), only the first to announce a name does, so subscribers hear it once.
   */
  once?: string;
}

export interface McpHandler {
  (req: IncomingMessage, res: ServerResponse, next?: Next): void;
  /** Resolves once the handler serves (with Redis: once connected); requests wait for it. */
  readonly ready: Promise<void>;
  readonly sessions: SessionManager;
  readonly stats: Stats;
  readonly options: ResolvedOptions;
  /** Tells every session subscribed to `uri` that the resource changed. */
  notifyResourceUpdated(uri: string, options?: AnnounceOptions): void | Promise<void>;
  /** Tells every initialized session that a list changed. */
  notifyListChanged(list: 'tools' | 'prompts' | 'resources', options?: AnnounceOptions): void | Promise<void>;
  /**
   * Sends a notification to every initialized session, on every instance, serialized once (not once
   * per session's SDK server, and without waking hibernated ones). A log message
   * (`notifications/message`) goes only to sessions whose `logging/setLevel` lets its level through.
   * Throws a TypeError for what is not a notification.
   */
  broadcast(notification: { method: string; params?: Record<string, unknown> }, options?: AnnounceOptions): void | Promise<void>;
  health(): HealthReport;
  addHealthCheck(check: HealthCheck): void;
  addRoute(path: string, handler: RouteHandler, options?: { methods?: string[]; auth?: boolean }): void;
  /** Calls `listener` as each request on a routed path completes (metrics); returns the unsubscriber. */
  observeRequests(listener: (o: RequestObservation) => void): () => void;
  /**
   * A key for signing what every instance must accept (the dashboard's passes), one per `purpose`:
   * derived from the secret the instances share (`requestStateSecret`, or with Redis the one kept
   * there), else from this process's own.
   */
  signingKey(purpose: string): Buffer;
  /** Stops taking sessions, lets in-flight requests finish for up to `drainMs`, then ends every session. */
  close(options?: { drainMs?: number }): Promise<void>;
}

export function createHandler(options: McpWireOptions): McpHandler {
  const backend: BackendFactory | undefined =
    options.backend ?? (options.createServer ? sdkServerBackend(options.createServer) : undefined);
  if (!backend) throw new TypeError('mcpwire: give createServer (a new SDK server per session) or backend');
  const opts = resolveOptions(options, backend);
  const stats = newStats();
  const cluster = opts.redis
    ? new Cluster(
        new RedisPort({ ...opts.redis, log: opts.logger }),
        {
          leaseMs: opts.redis.leaseMs,
          maxOutageMs: opts.redis.maxOutageMs,
          maxBacklog: 10_000,
          maxEvents: opts.eventLogMaxEvents,
          ttlMs: opts.sessionIdleMs > 0 ? opts.sessionIdleMs : 24 * 3_600_000,
          finishedTtlMs: opts.finishedStreamTtlMs,
          retainFinished: opts.retainFinishedStreams,
          log: opts.logger,
          stats,
        },
      )
    : undefined;
  // With Redis, changes reach 2026-07-28 listen streams on every instance through a Redis stream.
  const redisBus = cluster && !opts.bus ? new RedisBus(cluster.port, { maxLen: 10_000, ttlMs: 3_600_000, blockMs: 5_000, log: opts.logger }) : undefined;
  const bus = opts.bus ?? redisBus ?? new MemoryBus();
  const engine = new SessionManager({
    cluster,
    store: opts.eventStore ?? new MemoryEventStore({ maxEvents: opts.eventLogMaxEvents, maxBytes: opts.eventLogMaxBytes }),
    bus,
    stats,
    log: opts.logger,
    backendFactory: backend,
    maxSessions: opts.maxSessions,
    maxSessionsPerPrincipal: opts.maxSessionsPerPrincipal,
    sessionIdleMs: opts.sessionIdleMs,
    hibernateAfterMs: opts.hibernateAfterMs,
    legacyReconnectGraceMs: opts.legacyReconnectGraceMs,
    keepAliveMs: opts.keepAliveMs,
    retryMs: opts.retryMs,
    sse: { maxBufferedBytes: opts.maxBufferedBytes, stallTimeoutMs: opts.stallTimeoutMs },
    retainFinishedStreams: opts.retainFinishedStreams,
    finishedStreamTtlMs: opts.finishedStreamTtlMs,
  });
  const stateless = new StatelessEndpoint({
    backend,
    bus,
    connections: engine.connections,
    log: opts.logger,
    publish: (e) => engine.publish(e),
    maxInFlight: opts.maxSessions,
    listen: { maxStreams: opts.maxListenStreams, maxPerPrincipal: opts.maxListenStreamsPerPrincipal, maxResourceSubscriptions: MAX_SUBSCRIPTIONS },
    stateSecret: opts.requestStateSecret,
    stateTtlMs: 30 * 60_000,
    inputSettleMs: 10,
  });
  attachStateless(engine, stateless);
  let secretRefresh: NodeJS.Timeout | undefined;
  let baseSecret: string | Buffer = opts.requestStateSecret ?? randomBytes(32);
  const useSharedSecret = (s: string) => {
    baseSecret = s;
    stateless.useStateSecret(s);
  };
  const ready = engine.start().then(async () => {
    await redisBus?.start();
    if (cluster && opts.requestStateSecret === undefined) {
      useSharedSecret(await sharedSecret(cluster.port));
      secretRefresh = setInterval(() => {
        sharedSecret(cluster.port).then(useSharedSecret, () => {});
      }, 3600_000);
      secretRefresh.unref();
    }
  });
  const front = new HttpFront(opts, engine, ready);
  if (cluster) front.healthChecks.push({ name: 'redis', check: () => ({ ok: cluster.port.up, instance: cluster.me }) });
  const handler = ((req: IncomingMessage, res: ServerResponse, next?: Next) => front.handle(req, res, next)) as McpHandler;
  Object.assign(handler, {
    ready,
    sessions: engine,
    stats,
    options: opts,
    notifyResourceUpdated: (uri: string, o?: AnnounceOptions) => engine.publish({ kind: 'resource_updated', uri }, o?.once),
    notifyListChanged: (list: 'tools' | 'prompts' | 'resources', o?: AnnounceOptions) => engine.publish({ kind: `${list}_list_changed` }, o?.once),
    broadcast: (n: { method: string; params?: Record<string, unknown> }, o?: AnnounceOptions) => engine.publish(broadcastEvent(n), o?.once),
    health: () => healthReport(engine, front.healthChecks),
    addHealthCheck: (check: HealthCheck) => front.healthChecks.push(check),
    addRoute: front.addRoute.bind(front),
    observeRequests: front.observe.bind(front),
    signingKey: (purpose: string) => createHmac('sha256', baseSecret).update(`mcpwire:${purpose}`).digest(),
    close: async (o?: { drainMs?: number }) => {
      const drainMs = o?.drainMs ?? 0;
      const deadline = Date.now() + drainMs;
      engine.draining = true;
      clearInterval(secretRefresh);
      await stateless.close(drainMs);
      redisBus?.stop();
      await engine.close(Math.max(0, deadline - Date.now()));
    },
  });
  return handler;
}

/** A broadcast notification as a change event, or a TypeError saying why it is not one. */
function broadcastEvent(n: { method: string; params?: Record<string, unknown> }): ChangeEvent {
  const { method, params } = n as { method?: unknown; params?: unknown; id?: unknown };
  if (typeof method !== 'string' || method === '') throw new TypeError('mcpwire broadcast: a notification needs a method');
  if ('id' in n) throw new TypeError('mcpwire broadcast: a notification has no id (requests cannot be broadcast)');
  if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
    throw new TypeError('mcpwire broadcast: params must be an object');
  }
  if (method === 'notifications/message' && !LOG_SEVERITY.includes(String((params as { level?: unknown } | undefined)?.level))) {
    throw new TypeError(`mcpwire broadcast: notifications/message needs params.level, one of ${LOG_SEVERITY.join(', ')}`);
  }
  return params === undefined ? { kind: 'notification', method } : { kind: 'notification', method, params: params as Record<string, unknown> };
}

export interface ServeOptions extends McpWireOptions {
  /** Port to listen on (0 for a free one). Default 3000. */
  port?: number;
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
  /** Allow a non-loopback bind without auth. */
  insecure?: boolean;
}

export interface McpWireServer {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly handler: McpHandler;
  readonly httpServer: Server;
  close(options?: { drainMs?: number }): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function serve(options: ServeOptions): Promise<McpWireServer> {
  const host = options.host ?? '127.0.0.1';
  const loopback = isLoopback(host);
  const hasAuth = Boolean(options.auth?.tokens?.length || options.auth?.verifyToken);
  if (!loopback && !hasAuth && !options.insecure) {
    throw new Error(
      `mcpwire: refusing to listen on ${host} without auth; give a token (auth.tokens / --token) or say insecure (--insecure)`,
    );
  }
  const handler = createHandler({
    ...options,
    allowedHosts: options.allowedHosts ?? (loopback ? LOOPBACK_HOSTS : false),
  });
  try {
    await handler.ready;
  } catch (err) {
    // Refused to start (Redis unreachable, another storage format): let go of what was opened.
    await handler.close().catch(() => {});
    throw err;
  }
  const httpServer = createHttpServer({ requireHostHeader: false }, handler);
  // Longer than the usual proxy idle timeouts, so a proxy never reuses a socket the server just closed.
  httpServer.keepAliveTimeout = 65_000;
  httpServer.headersTimeout = 66_000;
  httpServer.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy(err);
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port ?? 3000, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const port = (httpServer.address() as AddressInfo).port;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    host,
    handler,
    httpServer,
    close(o?: { drainMs?: number }): Promise<void> {
      closing ??= (async () => {
        await handler.close(o);
        await new Promise<void>((resolve) => {
          httpServer.close(() => resolve());
          httpServer.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
