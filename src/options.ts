// The options of the server library, their defaults, and their resolution into engine settings.
import type { IncomingMessage } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { pino, type Logger } from 'pino';
import type { CreateServer } from './backend/sdk-server.js';
import type { BackendFactory } from './backend/types.js';
import type { Bus, EventStore, MaybePromise } from './store/types.js';

export interface AuthOptions {
  /** Static bearer tokens accepted on every endpoint. */
  tokens?: string[];
  /**
   * Verifies a bearer token; returns what the SDK calls `AuthInfo`, or `undefined` to refuse it.
   * The session is bound to `extra.sub` when present, else to `clientId`.
   */
  verifyToken?: (token: string, req: IncomingMessage) => MaybePromise<AuthInfo | undefined>;
  /**
   * OAuth 2.1 protected-resource metadata (RFC 9728), served at
   * `/.well-known/oauth-protected-resource[<mcpPath>]` and named in every 401.
   */
  resourceMetadata?: {
    resource: string;
    authorizationServers: string[];
    scopesSupported?: string[];
  };
}

export interface CorsOptions {
  /** Allowed browser origins (`scheme://host[:port]`), or `'*'` for any. */
  origins: string[] | '*';
  maxAgeS?: number;
}

export interface RedisOptions {
  url: string;
  /** Prefix of every key and channel (default `mcpw:`), so deployments can share a Redis. */
  prefix?: string;
  /** An instance's lease: its sessions move this long after it dies (default 3000 ms). */
  leaseMs?: number;
  /** How long server messages wait for Redis to come back before they fail (default 30 s). */
  maxOutageMs?: number;
  commandTimeoutMs?: number;
  /** How long start-up waits for Redis to answer before `serve()` (or `handler.ready`) fails; 0 waits for ever (default 10 s). */
  startTimeoutMs?: number;
}

export interface McpWireOptions {
  /** A fresh SDK `McpServer` (or low-level `Server`) for each MCP session. */
  createServer?: CreateServer;
  /** Instead of `createServer`: any backend (the gateway's stdio children use this). */
  backend?: BackendFactory;

  ssePath?: string;
  messagesPath?: string;
  mcpPath?: string;
  healthPath?: string;

  /**
   * Host names (optionally `name:port`) accepted in the `Host` header; `false` turns the check off.
   * Default: the loopback names (`localhost`, `127.0.0.1`, `[::1]`) on any port; `serve()` on a
   * non-loopback address turns it off unless given (auth is then required).
   */
  allowedHosts?: string[] | false;
  /** Origins accepted besides the request's own and the CORS origins (a present, other Origin gets 403). */
  allowedOrigins?: string[];
  auth?: AuthOptions;
  cors?: CorsOptions;

  /** Interval of `: keepalive` comments on every open stream, in ms (0 turns them off). */
  keepAliveMs?: number;
  /** The `retry:` hint sent on streams, in ms. */
  retryMs?: number;
  /** Largest accepted request body, enforced while it streams in. */
  maxBodyBytes?: number;
  maxSessions?: number;
  /** Sessions held at once on this instance by one authenticated principal; more get 429. */
  maxSessionsPerPrincipal?: number;
  /** A session with no request and no open stream for this long ends. */
  sessionIdleMs?: number;
  /**
   * Drop the SDK server (or other backend) of a session with no request for this long, keeping the
   * session as plain data; the next message builds a new server and replays initialize, the log level
   * and the subscriptions into it (each marked `_meta["io.mcpwire/rehydrated"]`). 0: never. State a
   * server keeps in its own closures is lost on hibernation: leave this off for such servers.
   */
  hibernateAfterMs?: number;
  /** How long a legacy session waits for its `/sse` stream to come back (with Last-Event-ID). */
  legacyReconnectGraceMs?: number;
  /**
   * SSE polling (2025-11-25): end each Streamable HTTP stream's connection after this many ms (with
   * `retry:`), for clients at 2025-11-25 or later, which resume with Last-Event-ID. 0: off.
   */
  ssePollMs?: number;
  /** How Streamable HTTP answers a POST carrying requests. */
  responseMode?: 'sse' | 'json';
  /** Requests a session may have in flight at once; more get 429. */
  maxPendingRequestsPerSession?: number;
  eventLogMaxEvents?: number;
  eventLogMaxBytes?: number;
  /** Bytes a stream's connection may have queued before the client is cut off (it can resume). */
  maxBufferedBytes?: number;
  /**
   * A connection that has not drained any queued byte for this long (a client that stopped reading
   * without closing) is closed; it can resume from the log. Checked on each keepalive tick.
   */
  stallTimeoutMs?: number;
  /** Finished POST streams kept per session for resumption, and for how long. */
  retainFinishedStreams?: number;
  finishedStreamTtlMs?: number;

  /** 2026-07-28 `subscriptions/listen` streams open at once on this instance; more get 503. */
  maxListenStreams?: number;
  /** Listen streams open at once per authenticated principal. */
  maxListenStreamsPerPrincipal?: number;
  /**
   * Key of the HMAC that protects the `requestState` of 2026-07-28 `input_required` results. Give
   * every instance the same one so a client's retry may land on any of them; by default each process
   * draws its own (with `redis`, the instances share one kept in Redis).
   */
  requestStateSecret?: string;

  /**
   * Several instances behind a plain load balancer, with Redis as the shared engine: a `redis://`
   * URL, or settings. Without it everything stays in this process.
   */
  redis?: string | RedisOptions;
  logger?: Logger;
  /** Shared stores (several instances); in-process ones by default. */
  eventStore?: EventStore;
  bus?: Bus;
}

export const DEFAULTS = {
  ssePath: '/sse',
  messagesPath: '/messages',
  mcpPath: '/mcp',
  healthPath: '/health',
  keepAliveMs: 15_000,
  retryMs: 1_000,
  maxBodyBytes: 4 * 1024 * 1024,
  maxSessions: 10_000,
  maxSessionsPerPrincipal: 1_000,
  sessionIdleMs: 30 * 60_000,
  hibernateAfterMs: 0,
  legacyReconnectGraceMs: 15_000,
  ssePollMs: 0,
  responseMode: 'sse',
  maxPendingRequestsPerSession: 1_000,
  eventLogMaxEvents: 1_000,
  eventLogMaxBytes: 1024 * 1024,
  maxBufferedBytes: 4 * 1024 * 1024,
  stallTimeoutMs: 30_000,
  retainFinishedStreams: 100,
  finishedStreamTtlMs: 5 * 60_000,
  maxListenStreams: 1_000,
  maxListenStreamsPerPrincipal: 100,
} as const;

export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

export type ResolvedOptions = Required<
  Omit<McpWireOptions, 'createServer' | 'backend' | 'auth' | 'cors' | 'allowedOrigins' | 'eventStore' | 'bus' | 'logger' | 'redis' | 'requestStateSecret'>
> & {
  requestStateSecret: string | undefined;
  redis: Required<RedisOptions> | undefined;
  backend: BackendFactory;
  auth: AuthOptions | undefined;
  cors: CorsOptions | undefined;
  allowedOrigins: string[];
  logger: Logger;
  eventStore: EventStore | undefined;
  bus: Bus | undefined;
};

export function resolveOptions(o: McpWireOptions, backend: BackendFactory): ResolvedOptions {
  const positive = (name: keyof typeof DEFAULTS, min = 0): number => {
    const v = (o as Record<string, unknown>)[name] ?? DEFAULTS[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new TypeError(`mcpwire: option ${name} must be a number ≥ ${min}`);
    return v;
  };
  const path = (name: 'ssePath' | 'messagesPath' | 'mcpPath' | 'healthPath'): string => {
    const v = o[name] ?? DEFAULTS[name];
    if (!v.startsWith('/') || v.includes('?')) throw new TypeError(`mcpwire: option ${name} must be a path starting with /`);
    return v;
  };
  if (o.responseMode !== undefined && o.responseMode !== 'sse' && o.responseMode !== 'json') {
    throw new TypeError("mcpwire: option responseMode must be 'sse' or 'json'");
  }
  return {
    backend,
    ssePath: path('ssePath'),
    messagesPath: path('messagesPath'),
    mcpPath: path('mcpPath'),
    healthPath: path('healthPath'),
    allowedHosts: o.allowedHosts ?? LOOPBACK_HOSTS,
    allowedOrigins: o.allowedOrigins ?? [],
    auth: o.auth,
    cors: o.cors,
    keepAliveMs: positive('keepAliveMs'),
    retryMs: positive('retryMs'),
    maxBodyBytes: positive('maxBodyBytes', 1),
    maxSessions: positive('maxSessions', 1),
    maxSessionsPerPrincipal: positive('maxSessionsPerPrincipal', 1),
    sessionIdleMs: positive('sessionIdleMs'),
    hibernateAfterMs: positive('hibernateAfterMs'),
    legacyReconnectGraceMs: positive('legacyReconnectGraceMs'),
    ssePollMs: positive('ssePollMs'),
    responseMode: o.responseMode ?? DEFAULTS.responseMode,
    maxPendingRequestsPerSession: positive('maxPendingRequestsPerSession', 1),
    eventLogMaxEvents: positive('eventLogMaxEvents'),
    eventLogMaxBytes: positive('eventLogMaxBytes'),
    maxBufferedBytes: positive('maxBufferedBytes', 1024),
    stallTimeoutMs: positive('stallTimeoutMs', 1),
    retainFinishedStreams: positive('retainFinishedStreams'),
    finishedStreamTtlMs: positive('finishedStreamTtlMs'),
    maxListenStreams: positive('maxListenStreams'),
    maxListenStreamsPerPrincipal: positive('maxListenStreamsPerPrincipal'),
    requestStateSecret: resolveSecret(o.requestStateSecret),
    logger: o.logger ?? pino({ level: process.env.MCPWIRE_LOG_LEVEL ?? 'warn' }),
    redis: o.redis === undefined ? undefined : resolveRedis(typeof o.redis === 'string' ? { url: o.redis } : o.redis),
    eventStore: o.eventStore,
    bus: o.bus,
  };
}

function resolveRedis(r: RedisOptions): Required<RedisOptions> {
  if (!/^rediss?:\/\//.test(r.url)) throw new TypeError('mcpwire: option redis must be a redis:// or rediss:// URL');
  if (r.startTimeoutMs !== undefined && !(Number.isSafeInteger(r.startTimeoutMs) && r.startTimeoutMs >= 0)) {
    throw new TypeError('mcpwire: option redis.startTimeoutMs must be a whole number of milliseconds (0: wait for ever)');
  }
  return { prefix: 'mcpw:', leaseMs: 3_000, maxOutageMs: 30_000, commandTimeoutMs: 2_000, startTimeoutMs: 10_000, ...r };
}

function resolveSecret(v: string | undefined): string | undefined {
  if (v !== undefined && (typeof v !== 'string' || v.length < 16)) throw new TypeError('mcpwire: option requestStateSecret must be a string of at least 16 characters');
  return v;
}
