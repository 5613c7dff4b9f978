// Legacy HTTP+SSE (2024-11-05): GET /sse opens the session's one stream and names the POST endpoint;
// POST /messages?sessionId=… carries client messages (202), every reply travels on the stream.
// Unlike the SDK's transport, events carry ids, and a stream that drops can come back with
// Last-Event-ID (as EventSource does by itself) to the same session, missing nothing.
import { sendError } from '../http/responses.js';
import { ErrorCode, isInitializeRequest } from '../jsonrpc.js';
import { LEGACY_TAG, parseEventId } from '../session/event-id.js';
import type { ResumeFrom, Session } from '../session/session.js';
import { SseConnection } from '../session/sse-writer.js';
import {
  accepts,
  inboundExtra,
  overPendingLimit,
  protocolVersionOk,
  readMessages,
  refuseNewSession,
  requestIdsOf,
  sessionNotFound,
  type WireContext,
} from './inbound.js';

/** Engines that have already said HTTP+SSE is deprecated (said once each, not per stream). */
const warned = new WeakSet<object>();

export async function handleSseGet(ctx: WireContext): Promise<void> {
  const { req, res, engine } = ctx;
  if (!warned.has(engine)) {
    warned.add(engine);
    ctx.opts.logger.warn('a client uses HTTP+SSE (2024-11-05), deprecated since MCP 2026-07-28; it is served, but clients should move to Streamable HTTP on the same server');
  }
  if (req.headers.accept !== undefined && !accepts(req, 'text/event-stream')) {
    sendError(res, 406, ErrorCode.ServerError, 'Not Acceptable: Accept must list text/event-stream');
    return;
  }
  if (!protocolVersionOk(ctx)) return;
  const querySession = sessionIdFromQuery(ctx.query);
  const lastEventId = req.headers['last-event-id'] as string | undefined;
  let sessionId = querySession;
  let from: ResumeFrom = 'undelivered';
  if (lastEventId !== undefined) {
    const parsed = parseEventId(lastEventId);
    if (!parsed || parsed.tag !== LEGACY_TAG || parsed.sessionId === undefined) {
      engine.stats.resumeMisses++;
      sendError(res, 400, ErrorCode.ServerError, 'Bad Request: Last-Event-ID is not an event id of this endpoint');
      return;
    }
    if (querySession !== undefined && querySession !== parsed.sessionId) {
      engine.stats.resumeMisses++;
      sendError(res, 400, ErrorCode.ServerError, 'Bad Request: Last-Event-ID belongs to another session');
      return;
    }
    sessionId = parsed.sessionId;
    from = { after: parsed.cursor };
  }

  if (sessionId === undefined) {
    const created = await engine.create('legacy', ctx.principal, { headers: req.headers, authInfo: ctx.authInfo });
    if (typeof created === 'string') {
      refuseNewSession(res, created);
      return;
    }
    await reattach(ctx, created, 'undelivered', true);
    return;
  }
  const session = await engine.resolve(sessionId, ctx.principal);
  if (!session || session.wire !== 'legacy') {
    sessionNotFound(res);
    return;
  }
  await reattach(ctx, session, from, false);
}

async function reattach(ctx: WireContext, session: Session, from: ResumeFrom, fresh: boolean): Promise<void> {
  const { res, engine, opts } = ctx;
  const endpoint = `${ctx.basePath}${opts.messagesPath}?sessionId=${session.id}`;
  const outcome = await session.attach(LEGACY_TAG, from, (primingId) => {
    const conn = new SseConnection(res, engine.connections);
    // The endpoint event comes first; only a new session's carries an id, so that a reconnect right
    // after it still names the session, while a reattach leaves the client's Last-Event-ID as it is.
    const id = fresh ? `\nid: ${primingId}` : '';
    conn.start(undefined, `retry: ${opts.retryMs}\nevent: endpoint${id}\ndata: ${endpoint}\n\n`);
    return conn;
  });
  if (outcome === 'attached') {
    engine.reattached(session);
    return;
  }
  if (outcome === 'gone') {
    sessionNotFound(res);
    return;
  }
  sendError(
    res,
    410,
    ErrorCode.ServerError,
    'Gone: the events after this Last-Event-ID are no longer in the log; connect again without Last-Event-ID',
    undefined,
    { reason: outcome === 'expired' ? 'cursor_expired' : 'stream_unknown' },
  );
}

const ACCEPTED_HEADERS: string[] = ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', '8'];

export async function handleMessagesPost(ctx: WireContext): Promise<void> {
  const { res, engine } = ctx;
  const sessionId = sessionIdFromQuery(ctx.query);
  if (sessionId === undefined) {
    sendError(res, 400, ErrorCode.ServerError, 'Bad Request: the sessionId query parameter is required');
    return;
  }
  if (!protocolVersionOk(ctx)) return;
  const inbound = await readMessages(ctx);
  if (!inbound) return;
  if (inbound.batch) {
    sendError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: batches are not supported on this endpoint');
    return;
  }
  const resolved = engine.resolve(sessionId, ctx.principal);
  // Held here (the usual case): no await, whose turn of the microtask queue every POST would pay.
  const session = resolved instanceof Promise ? await resolved : resolved;
  if (!session || session.wire !== 'legacy') {
    sessionNotFound(res);
    return;
  }
  // One handshake per session: a second initialize would renegotiate the version under the client's feet.
  if (inbound.messages.some(isInitializeRequest) && session.handshakeBegun) {
    sendError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: this session is already initialized');
    return;
  }
  const ids = requestIdsOf(inbound.messages);
  if (ids.length > 0 && overPendingLimit(ctx, session, ids.length)) return;
  const received = session.receive(inbound.messages, inboundExtra(ctx), undefined, () => {
    res.writeHead(202, ACCEPTED_HEADERS);
    res.end('Accepted');
  });
  if ((received instanceof Promise ? await received : received) === 'gone') sessionNotFound(res);
}

/** Names that need no decoding: what this server puts in the endpoint URL (a UUID). */
const PLAIN_SESSION_QUERY = /^sessionId=([A-Za-z0-9-]+)$/;

function sessionIdFromQuery(query: string): string | undefined {
  if (query === '') return undefined;
  const plain = PLAIN_SESSION_QUERY.exec(query);
  if (plain) return plain[1];
  const v = new URLSearchParams(query).get('sessionId');
  return v === null || v === '' ? undefined : v;
}
