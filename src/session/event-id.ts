// SSE event ids. An id names a stream of a session and a cursor in that stream's log:
//   Streamable HTTP: `<tag>.<cursor>`  — the session is the request's Mcp-Session-Id
//   legacy /sse:     `<sessionId>/l.<cursor>` — a reconnecting EventSource sends only its URL and
//                    Last-Event-ID, so the id itself must name the session.
// Tags: `g` the GET stream, `l` the legacy stream, `r.<base64url(JSON id)>` a POST's response stream.
// Ordering comes from the log's cursors (sequence numbers, or Redis stream ids), never from clocks.
import type { RequestId } from '../jsonrpc.js';

export const GET_TAG = 'g';
export const LEGACY_TAG = 'l';

export interface EventId {
  sessionId?: string;
  tag: string;
  cursor: string;
}

const MAX_ID_LENGTH = 512;
const TAG = /^(?:g|l|r\.[A-Za-z0-9_-]{1,344})$/;
const CURSOR = /^\d{1,20}(?:-\d{1,20})?$/;
const SESSION = /^[\x21-\x7e]{1,128}$/;

/** The tag of the response stream of a POST whose (first) request has this id. */
export function requestTag(id: RequestId): string {
  return 'r.' + Buffer.from(JSON.stringify(id)).toString('base64url');
}

export function formatEventId(tag: string, cursor: string, sessionId?: string): string {
  return sessionId === undefined ? `${tag}.${cursor}` : `${sessionId}/${tag}.${cursor}`;
}

export function parseEventId(value: string): EventId | undefined {
  if (value.length > MAX_ID_LENGTH) return undefined;
  let sessionId: string | undefined;
  let rest = value;
  const slash = value.indexOf('/');
  if (slash !== -1) {
    sessionId = value.slice(0, slash);
    if (!SESSION.test(sessionId)) return undefined;
    rest = value.slice(slash + 1);
  }
  const dot = rest.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const tag = rest.slice(0, dot);
  const cursor = rest.slice(dot + 1);
  if (!TAG.test(tag) || !CURSOR.test(cursor)) return undefined;
  return sessionId === undefined ? { tag, cursor } : { sessionId, tag, cursor };
}
