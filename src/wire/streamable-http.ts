// Streamable HTTP (2025-03-26 … 2025-11-25): POST / GET / DELETE on one endpoint, Mcp-Session-Id.
// Only translation lives here: sessions, routing and replay are the session engine's.
import { sendError } from '../http/responses.js';
import { batchesAllowed, ErrorCode, isInitializeRequest, type RequestId } from '../jsonrpc.js';
import { GET_TAG, LEGACY_TAG, parseEventId, requestTag } from '../session/event-id.js';
import type { ResumeFrom, Session } from '../session/session.js';
import { JsonSink, SseConnection } from '../session/sse-writer.js';
import { classify, mayBeModernVersion } from './era.js';
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
import { statelessOf } from './stateless.js';

export async function handlePost(ctx: WireContext): Promise<void> {
  const { req, res, engine } = ctx;
  if (!accepts(req, 'application/json') || !accepts(req, 'text/event-stream')) {
    sendError(res, 406, ErrorCode.ServerError, 'Not Acceptable: Accept must list application/json and text/event-stream');
    return;
  }
  // A 2026-07-28 header is not refused before the body says which era the request belongs to.
  const modernHeader = mayBeModernVersion(req.headers['mcp-protocol-version'] as string | undefined);
  if (!modernHeader && !protocolVersionOk(ctx)) return;
  const inbound = await readMessages(ctx);
  if (!inbound) return;
  const { messages, batch } = inbound;
  const stateless = statelessOf(engine);
  if (stateless) {
    const era = classify(messages, batch, req.headers);
    if (era.era !== 'legacy') return stateless.handle(ctx, era);
  }
  if (modernHeader && !protocolVersionOk(ctx)) return;
  const sessionHeader = req.headers['mcp-session-id'] as string | undefined;
  let session: Session;
  if (messages.some(isInitializeRequest)) {
    if (batch) {
      sendError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: initialize must be sent on its own, not in a batch');
      return;
    }
    if (sessionHeader !== undefined) {
      if (await engine.resolve(sessionHeader, ctx.principal)) {
        sendError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: this session is already initialized');
      } else {
        sessionNotFound(res);
      }
      return;
    }
    const created = await engine.create('streamable', ctx.principal, { headers: req.headers, authInfo: ctx.authInfo });
    if (typeof created === 'string') {
      refuseNewSession(res, created);
      return;
    }
    session = created;
  } else {
    if (sessionHeader === undefined) {
      sendError(res, 400, ErrorCode.ServerError, 'Bad Request: Mcp-Session-Id header is required');
      return;
    }
    const resolved = engine.resolve(sessionHeader, ctx.principal);
    // Held here (the usual case): no await, whose turn of the microtask queue every POST would pay.
    const found = resolved instanceof Promise ? await resolved : resolved;
    if (!found || found.wire !== 'streamable') {
      sessionNotFound(res);
      return;
    }
    session = found;
    if (batch && !batchesAllowed(session.protocolVersion)) {
      sendError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: batches are not supported by the negotiated protocol version');
      return;
    }
  }

  const ids = requestIdsOf(messages);
  let outcome;
  if (ids.length === 0) {
    outcome = await session.receive(messages, inboundExtra(ctx), undefined, () => {
      res.writeHead(202, { 'Mcp-Session-Id': session.id, 'Content-Length': 0 });
      res.end();
    });
  } else {
    if (ids.length > 1 && new Set(ids).size < ids.length) {
      sendError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: a request id is used twice in this batch');
      return;
    }
    const first = ids[0]!;
    const tag = requestTag(first);
    // The stream the first id names may still run for an earlier batch whose other requests are not done.
    if (ids.some((id) => session.hasPending(id)) || session.streamRunning(tag)) {
      await requestInUse(ctx, session, batch, ids, tag);
      return;
    }
    if (overPendingLimit(ctx, session, ids.length)) return;
    const json = ctx.opts.responseMode === 'json';
    session.openRequestStream(tag, json);
    const extra = inboundExtra(ctx, {
      closeSSEStream: batch || json ? undefined : () => session.closeConnectionOf(first),
      closeStandaloneSSEStream: () => session.closeStandaloneConnection(),
    });
    const received = session.receive(messages, extra, tag, () => {
      const sink = json ? new JsonSink(res, { 'Mcp-Session-Id': session.id }, batch) : openStream(ctx, session, session.primingId(tag), true);
      session.attachFresh(tag, sink);
    });
    outcome = received instanceof Promise ? await received : received;
  }
  if (outcome === 'gone') sessionNotFound(res);
  else if (outcome === 'in-use') await requestInUse(ctx, session, batch, ids, requestTag(ids[0]!));
}

/** `tag`: the stream the first id names. */
async function requestInUse(ctx: WireContext, session: Session, batch: boolean, ids: RequestId[], tag: string): Promise<void> {
  // The same request sent again while it runs (its connection broke): join its stream from the start.
  // An id that runs inside an earlier batch has no stream of its own to join.
  if (!batch && ids.length === 1 && (await resume(ctx, session, tag, 'start', true))) return;
  sendError(ctx.res, 400, ErrorCode.InvalidRequest, `Invalid Request: ${batch ? 'a request id of this batch' : 'this request id'} is already in use in this session`);
}

export async function handleGet(ctx: WireContext): Promise<void> {
  const { req, res, engine } = ctx;
  if (!accepts(req, 'text/event-stream')) {
    sendError(res, 406, ErrorCode.ServerError, 'Not Acceptable: Accept must list text/event-stream');
    return;
  }
  const session = await sessionOf(ctx);
  if (!session || !protocolVersionOk(ctx)) return;
  const lastEventId = req.headers['last-event-id'] as string | undefined;
  if (lastEventId === undefined) {
    await resume(ctx, session, GET_TAG, 'undelivered');
    return;
  }
  const parsed = parseEventId(lastEventId);
  if (!parsed || parsed.sessionId !== undefined || parsed.tag === LEGACY_TAG) {
    engine.stats.resumeMisses++;
    sendError(res, 400, ErrorCode.ServerError, 'Bad Request: Last-Event-ID is not an event id of this endpoint');
    return;
  }
  await resume(ctx, session, parsed.tag, { after: parsed.cursor });
}

export async function handleDelete(ctx: WireContext): Promise<void> {
  const session = await sessionOf(ctx);
  if (!session || !protocolVersionOk(ctx)) return;
  await session.terminate('deleted by the client');
  ctx.res.writeHead(200, { 'Content-Length': 0 });
  ctx.res.end();
}

async function sessionOf(ctx: WireContext): Promise<Session | undefined> {
  const id = ctx.req.headers['mcp-session-id'] as string | undefined;
  if (id === undefined) {
    sendError(ctx.res, 400, ErrorCode.ServerError, 'Bad Request: Mcp-Session-Id header is required');
    return undefined;
  }
  const session = await ctx.engine.resolve(id, ctx.principal);
  if (!session || session.wire !== 'streamable') {
    sessionNotFound(ctx.res);
    return undefined;
  }
  return session;
}

/** Attaches this request's connection to a stream of the session, replaying from `from`. */
/** With `knownOnly`, a stream the session never had is left unanswered (returns false) for the caller. */
async function resume(ctx: WireContext, session: Session, tag: string, from: ResumeFrom, knownOnly = false): Promise<boolean> {
  const { res } = ctx;
  const outcome = await session.attach(tag, from, (primingId) => openStream(ctx, session, primingId));
  if (knownOnly && outcome === 'unknown') return false;
  switch (outcome) {
    case 'attached':
      return true;
    case 'gone':
      sessionNotFound(res);
      return true;
    case 'complete':
      // The stream ended and the client has all of it: 204 tells SSE clients not to reconnect.
      res.writeHead(204, { 'Mcp-Session-Id': session.id });
      res.end();
      return true;
    case 'expired':
    case 'unknown':
      sendError(
        res,
        410,
        ErrorCode.ServerError,
        'Gone: the events after this Last-Event-ID are no longer in the log; open a new stream without Last-Event-ID and fetch current state again',
        { 'Mcp-Session-Id': session.id },
        { reason: outcome === 'expired' ? 'cursor_expired' : 'stream_unknown' },
      );
      return true;
  }
}

/** Protocol revisions whose clients resume any stream with Last-Event-ID (SSE polling). */
const POLLING_VERSIONS = new Set(['2025-11-25']);

/**
 * Opens an SSE response whose first bytes are a priming event: the event id to resume from, empty
 * data, and the retry hint. A fresh POST's stream sends them with its first event (`holdFirst`).
 */
function openStream(ctx: WireContext, session: Session, primingId: string, holdFirst = false): SseConnection {
  const conn = new SseConnection(ctx.res, ctx.engine.connections);
  conn.start({ 'Mcp-Session-Id': session.id }, `id: ${primingId}\nretry: ${ctx.opts.retryMs}\ndata: \n\n`, holdFirst);
  if (ctx.opts.ssePollMs > 0 && POLLING_VERSIONS.has(session.protocolVersion ?? '')) {
    conn.pollAfter(ctx.opts.ssePollMs, ctx.opts.retryMs);
  }
  return conn;
}
