// What both wire formats do with an incoming request before it reaches a session.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { InboundExtra } from '../backend/types.js';
import { readBody } from '../http/body.js';
import { sendError } from '../http/responses.js';
import { ErrorCode, parseBody, type ParsedMessage } from '../jsonrpc.js';
import type { ResolvedOptions } from '../options.js';
import type { CreateRefusal, SessionManager } from '../session/manager.js';
import type { Session } from '../session/session.js';

/** Protocol revisions whose 2025-era wire mcpwire serves. */
export const SUPPORTED_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];

export interface WireContext {
  req: IncomingMessage & { body?: unknown };
  res: ServerResponse;
  engine: SessionManager;
  opts: ResolvedOptions;
  principal: string | undefined;
  authInfo: AuthInfo | undefined;
  /** Where the handler is mounted (Express `baseUrl`), for URLs sent to the client. */
  basePath: string;
  /** The query string of the request URL, without `?`. */
  query: string;
}

const JSON_TYPE = /^application\/json\s*(;|$)/i;

export interface Inbound {
  messages: ParsedMessage[];
  batch: boolean;
}

/**
 * Reads and parses a POST body: 415 for a content type other than JSON, 413 past `maxBodyBytes`,
 * -32700 for bytes that are not JSON, -32600 for JSON that is not JSON-RPC. Sends the refusal itself.
 */
export async function readMessages(ctx: WireContext): Promise<Inbound | undefined> {
  const { req, res } = ctx;
  const type = req.headers['content-type'];
  if (type !== 'application/json' && (!type || !JSON_TYPE.test(type))) {
    sendError(res, 415, ErrorCode.ServerError, 'Unsupported Media Type: Content-Type must be application/json');
    return undefined;
  }
  let parsed;
  if (req.body !== undefined && typeof req.body !== 'string' && !Buffer.isBuffer(req.body)) {
    parsed = parseBody(req.body, true); // parsed already by a framework's JSON middleware
  } else {
    const body = await readBody(req, ctx.opts.maxBodyBytes);
    if (!body.ok) {
      if (body.reason === 'too-large') {
        sendError(res, 413, ErrorCode.ServerError, `Payload Too Large: the body exceeds ${ctx.opts.maxBodyBytes} bytes`, {
          Connection: 'close',
        });
      } else {
        res.destroy();
      }
      return undefined;
    }
    ctx.engine.stats.bytesIn += body.bytes;
    parsed = parseBody(body.text);
  }
  if (!parsed.ok) {
    sendError(res, 400, parsed.code, parsed.message);
    return undefined;
  }
  return { messages: parsed.messages, batch: parsed.batch };
}

/** `MCP-Protocol-Version`, when sent, must name a revision served here (400 otherwise). */
export function protocolVersionOk(ctx: WireContext): boolean {
  const v = ctx.req.headers['mcp-protocol-version'];
  if (v === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(v as string)) return true;
  sendError(
    ctx.res,
    400,
    ErrorCode.ServerError,
    `Bad Request: unsupported MCP-Protocol-Version (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
  );
  return false;
}

export function refuseNewSession(res: ServerResponse, refusal: CreateRefusal): void {
  if (refusal === 'principal-full') {
    sendError(res, 429, ErrorCode.ServerError, 'Too Many Requests: you hold as many sessions as one client may here; end one first or retry later', { 'Retry-After': '5' });
    return;
  }
  const message =
    refusal === 'draining'
      ? 'Service Unavailable: the server is shutting down; retry against another instance'
      : refusal === 'full'
        ? 'Service Unavailable: the server has reached its session limit; retry later'
        : `Service Unavailable: ${refusal.slice('backend: '.length)}`;
  sendError(res, 503, ErrorCode.ServerError, message, { 'Retry-After': refusal === 'draining' ? '1' : '5' });
}

export function sessionNotFound(res: ServerResponse): void {
  sendError(res, 404, ErrorCode.SessionNotFound, 'Session not found: it ended or never existed; start a new session');
}

/** 429 when the session has too many requests in flight. */
export function overPendingLimit(ctx: WireContext, session: Session, newRequests: number): boolean {
  if (session.pendingRequests + newRequests <= ctx.opts.maxPendingRequestsPerSession) return false;
  sendError(ctx.res, 429, ErrorCode.ServerError, 'Too Many Requests: this session has too many requests in flight', {
    'Retry-After': '1',
  });
  return true;
}

export function inboundExtra(ctx: WireContext, closers: Pick<InboundExtra, 'closeSSEStream' | 'closeStandaloneSSEStream'> = {}): InboundExtra {
  const extra: InboundExtra = { requestInfo: { headers: ctx.req.headers }, ...closers };
  if (ctx.authInfo) extra.authInfo = ctx.authInfo;
  return extra;
}

/** `Accept` lists `type` (or a wildcard covering it). */
export function accepts(req: IncomingMessage, type: string): boolean {
  const accept = req.headers.accept;
  if (!accept) return false;
  if (accept.includes(type) || accept.includes('*/*')) return true;
  return accept.includes(type.slice(0, type.indexOf('/')) + '/*');
}

export function requestIdsOf(messages: ParsedMessage[]): Array<string | number> {
  const ids: Array<string | number> = [];
  for (const p of messages) if (p.kind === 'request') ids.push((p.message as { id: string | number }).id);
  return ids;
}
