// HTTP plumbing of the client transports: the options they share, request headers, bounded body
// reads, and errors that keep the HTTP status (so fallback and recovery can decide on it).
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { reconnectPolicy, type ReconnectOptions, type ReconnectPolicy } from './reconnect.js';

/** What a transport reports about itself; pino's logger fits. */
export interface ClientLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ClientTransportOptions {
  /** Headers sent on every request, the SSE GETs included. */
  headers?: Record<string, string>;
  /** Bearer token, sent as `Authorization: Bearer …` on every request. */
  token?: string;
  /** The fetch to use (default: Node's global fetch), e.g. an undici fetch with its own dispatcher. */
  fetch?: FetchLike;
  reconnect?: ReconnectOptions;
  /**
   * A stream that shows no byte (not even a `: keepalive` comment) for this long is closed and
   * opened again; also bounds the wait for a stream's response headers. 0 turns it off. Default 60 000.
   */
  idleTimeoutMs?: number;
  /** Largest SSE event or JSON response accepted, in bytes. Default 16 MiB. */
  maxMessageBytes?: number;
  /** How long a private request of the transport (a replayed initialize) may take. Default 30 000. */
  requestTimeoutMs?: number;
  /**
   * Called before more is read from any stream; while the promise it returns is pending, reading
   * pauses (the server sees TCP backpressure; the watchdog is paused too).
   */
  backpressure?: () => Promise<void> | undefined;
  logger?: ClientLogger;
}

export interface ResolvedClientOptions {
  baseHeaders: Record<string, string>;
  fetch: FetchLike;
  policy: ReconnectPolicy;
  idleTimeoutMs: number;
  maxMessageBytes: number;
  requestTimeoutMs: number;
  backpressure: (() => Promise<void> | undefined) | undefined;
  logger: ClientLogger | undefined;
}

const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function resolveClientOptions(o: ClientTransportOptions = {}): ResolvedClientOptions {
  const baseHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(o.headers ?? {})) {
    if (!TOKEN_CHARS.test(name)) throw new TypeError(`mcpwire: "${name}" is not a valid header name`);
    if (/[\r\n\0]/.test(value)) throw new TypeError(`mcpwire: the value of header ${name} has a line break or NUL`);
    baseHeaders[name] = value;
  }
  if (o.token !== undefined) {
    if (o.token === '' || /[\s\0]/.test(o.token)) throw new TypeError('mcpwire: the token must be non-empty, without spaces or line breaks');
    baseHeaders.Authorization = `Bearer ${o.token}`;
  }
  const num = (name: string, v: number | undefined, d: number, min: number): number => {
    const n = v ?? d;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < min) throw new TypeError(`mcpwire: option ${name} must be a number ≥ ${min}`);
    return n;
  };
  return {
    baseHeaders,
    fetch: o.fetch ?? ((url, init) => fetch(url, init)),
    policy: reconnectPolicy(o.reconnect),
    idleTimeoutMs: num('idleTimeoutMs', o.idleTimeoutMs, 60_000, 0),
    maxMessageBytes: num('maxMessageBytes', o.maxMessageBytes, 16 * 1024 * 1024, 1024),
    requestTimeoutMs: num('requestTimeoutMs', o.requestTimeoutMs, 30_000, 1),
    backpressure: o.backpressure,
    logger: o.logger,
  };
}

export interface RpcErrorBody {
  code: number;
  message: string;
  data?: unknown;
}

/** A request answered with an HTTP error status; `status` decides fallback and recovery. */
export class HttpError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly rpcError?: RpcErrorBody,
  ) {
    const why = rpcError ? `: ${rpcError.message} (JSON-RPC ${rpcError.code})` : '';
    super(`mcpwire: ${method} ${url} answered ${status}${why}`);
    this.name = 'HttpError';
  }
}

/** The request never got an HTTP answer (refused, reset, DNS…). */
export class NetworkError extends Error {
  constructor(method: string, url: string, cause: unknown) {
    const c = cause as { message?: string; cause?: { message?: string } };
    super(`mcpwire: ${method} ${url} failed: ${c?.cause?.message ?? c?.message ?? String(cause)}`, { cause });
    this.name = 'NetworkError';
  }
}

/** The URL as it may appear in errors and logs: no credentials, query or fragment. */
export function printable(url: URL): string {
  return url.origin + url.pathname;
}

export function mediaType(res: Response): string {
  return (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Nothing reached the server: the connection was refused, so sending again is safe. */
export function connectionRefused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } })?.cause;
  return cause?.code === 'ECONNREFUSED';
}

/** Statuses after which trying the same request again later may work. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
}

/** Reads a body up to `max` bytes; past it the body is cancelled and an error thrown. */
export async function readBounded(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    size += r.value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new Error(`mcpwire: a response body exceeded ${max} bytes`);
    }
    chunks.push(r.value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Builds the error of a non-2xx answer, keeping the JSON-RPC error of its body when there is one. */
export async function httpError(method: string, url: URL, res: Response): Promise<HttpError> {
  let rpcError: RpcErrorBody | undefined;
  try {
    const text = await readBounded(res, 64 * 1024);
    const body = JSON.parse(text) as { error?: RpcErrorBody };
    if (body?.error && Number.isInteger(body.error.code) && typeof body.error.message === 'string') rpcError = body.error;
  } catch {
    // not JSON, or too long: the status says enough
  }
  return new HttpError(method, printable(url), res.status, rpcError);
}

/**
 * A fetch whose wait for the response headers is bounded too (0: not bounded); the body is not
 * (the stream watchdog looks after it).
 */
export async function fetchHeadersWithin(fetchFn: FetchLike, url: URL, init: RequestInit & { signal: AbortSignal }, ms: number): Promise<Response> {
  if (ms <= 0) return fetchFn(url, init);
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error(`no response headers within ${ms} ms`)), ms);
  try {
    return await fetchFn(url, { ...init, signal: AbortSignal.any([init.signal, ctl.signal]) });
  } finally {
    clearTimeout(timer);
  }
}

export async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}
