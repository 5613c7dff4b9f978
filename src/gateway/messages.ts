// What the gateway reads in the JSON-RPC it forwards (it never validates more than the framing).
import { ErrorCode, type JSONRPCMessage, type RequestId } from '../jsonrpc.js';
import type { ExitInfo } from './child.js';
import type { OverlongLine } from './line-framer.js';

/** The fields of a JSON-RPC message the gateway looks at. */
export interface Msg {
  jsonrpc: '2.0';
  id?: RequestId | null;
  method?: string;
  params?: Record<string, unknown> & { _meta?: Record<string, unknown> };
  result?: Record<string, unknown>;
  error?: unknown;
}

export type ProgressToken = string | number;

export const GatewayError = {
  /** Refusals by the gateway itself (busy, gone, ambiguous). */
  Refused: ErrorCode.ServerError,
  /** The server process failed while a request ran. */
  ServerFailed: ErrorCode.InternalError,
} as const;

export function errorResponse(id: RequestId, code: number, message: string, data?: unknown): JSONRPCMessage {
  const error: { code: number; message: string; data?: unknown } = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', id, error } as JSONRPCMessage;
}

export function progressTokenOf(m: Msg): ProgressToken | undefined {
  const t = m.params?._meta?.progressToken;
  return typeof t === 'string' || typeof t === 'number' ? t : undefined;
}

export function exitDescription(exit: ExitInfo): string {
  if (exit.spawnError) return `could not be started (${exit.spawnError})`;
  if (exit.failure) return `${exit.failure} (it was stopped)`;
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code}`;
}

/** The error every request still waiting gets when its server process ends. */
export function exitError(id: RequestId, exit: ExitInfo): JSONRPCMessage {
  return errorResponse(id, GatewayError.ServerFailed, `The server process ${exitDescription(exit)} before answering`, {
    exitCode: exit.code,
    signal: exit.signal,
    stderr: exit.stderr,
  });
}

export function overlongError(id: RequestId, line: OverlongLine, limit: number): JSONRPCMessage {
  return errorResponse(
    id,
    GatewayError.ServerFailed,
    `The server's reply was ${line.bytes} bytes, over the gateway's limit of ${limit} bytes per message (--max-line-bytes)`,
  );
}

/** A JSON-RPC id, then what ends it, so that a number cut off at the edge of a line's head is not taken. */
const ID_VALUE = /^\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*[,}]/;
/** The top-level object's last member, written by serializers that put a response's id last. */
const LAST_ID = /"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*\}\s*$/;
const LAST_METHOD = /"method"\s*:\s*"(?:[^"\\]|\\.)*"\s*\}\s*$/;

/**
 * The id of the request an over-long line answers, when it is a response: the top-level `id` in the
 * line's head (its nesting followed, so ids inside the content never count), or the object's last
 * member in its tail. A line with a top-level `method` is a request or notification: it answers nothing.
 */
export function answeredIdOf(line: OverlongLine): RequestId | undefined {
  const head = line.head;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let stringStart = 0;
  let lastString = '';
  let id: RequestId | undefined;
  for (let i = 0; i < head.length; i++) {
    const c = head[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') {
        inString = false;
        lastString = head.slice(stringStart, i);
      }
    } else if (c === '"') {
      inString = true;
      stringStart = i + 1;
    } else if (c === '{' || c === '[') {
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ':' && depth === 1) {
      if (lastString === 'method') return undefined;
      if (lastString === 'id' && id === undefined) {
        const m = ID_VALUE.exec(head.slice(i + 1));
        if (m) id = JSON.parse(m[1]!) as RequestId;
      }
    }
  }
  if (LAST_METHOD.test(line.tail)) return undefined;
  if (id !== undefined) return id;
  const m = LAST_ID.exec(line.tail);
  return m ? (JSON.parse(m[1]!) as RequestId) : undefined;
}

/** A short, single-line preview of a stdout line for the logs. */
export function preview(line: string): string {
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}

/** Session-wide news a client listens for on its GET stream, never tied to a request. */
export function isSessionEvent(method: string): boolean {
  return method === 'notifications/resources/updated' || method.endsWith('/list_changed');
}

/** Logs the first few of a repeated event, then every power of two: a flood stays a trickle. */
export function worthLogging(n: number): boolean {
  return n <= 10 || (n & (n - 1)) === 0;
}

export const QUEUE_FULL =
  'Server busy: the server process is not reading its input fast enough; retry later';
export const TOO_MANY_IN_FLIGHT = 'Too many requests in flight in this session; wait for answers before sending more';
export const SERVER_GONE = 'The server process has exited';
