// What sits behind a session: an SDK server object (the library) or a stdio child (the gateway).
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { JSONRPCMessage, RequestId } from '../jsonrpc.js';
import type { MaybePromise } from '../store/types.js';

export type Wire = 'legacy' | 'streamable';

/** What the SDK calls `MessageExtraInfo`: passed with every client message. */
export interface InboundExtra {
  requestInfo?: { headers: IncomingHttpHeaders; url?: URL };
  authInfo?: AuthInfo;
  /** Ends the connection of this request's SSE stream now; the client resumes it with Last-Event-ID. */
  closeSSEStream?: () => void;
  /** Ends the connection of the session's GET stream now; the client reopens it. */
  closeStandaloneSSEStream?: () => void;
}

/** The session as a backend sees it. */
export interface BackendHost {
  readonly sessionId: string;
  readonly wire: Wire;
  /** A server→client message; `relatedRequestId` ties it to the client request it belongs to. */
  send(message: JSONRPCMessage, relatedRequestId?: RequestId): MaybePromise<void>;
  /** The backend has ended by itself (its server closed, its child exited): end the session. */
  backendClosed(reason: string): void;
}

export interface Backend {
  /** A client→server message, in the order the client sent it. */
  receive(message: JSONRPCMessage, extra: InboundExtra): void;
  /** The session is over: release everything. */
  close(): MaybePromise<void>;
}

/** What a backend factory knows about the session it serves. */
export interface SessionContext {
  sessionId: string;
  wire: Wire;
  authInfo?: AuthInfo;
  headers: IncomingHttpHeaders;
  /**
   * Set for a 2026-07-28 request, served on its own: no session exists, the backend lives for this
   * one request. What the request declared, and who sent it (when auth is on).
   */
  stateless?: StatelessContext;
}

export interface StatelessContext {
  protocolVersion: string;
  clientCapabilities: Record<string, unknown>;
  clientInfo: { name: string; version: string } | undefined;
  principal: string | undefined;
}

export interface BackendFactory {
  (host: BackendHost, context: SessionContext): MaybePromise<Backend>;
  /**
   * Asked before each new session: why the backend cannot take one more now (the client gets 503
   * with this reason), or undefined to take it. The gateway uses it for its cap on child processes.
   */
  refuseSession?: () => string | undefined;
  /**
   * false: a backend cannot be rebuilt from the session record (a stdio child's state dies with it),
   * so its sessions never hibernate and end (with a clear error) when their instance dies.
   */
  movable?: boolean;
}
