// JSON-RPC 2.0 as MCP uses it: message shapes, a cheap structural check, error codes and bodies.
// The check is ours (not the SDK's zod schemas) because it runs on every inbound message.
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';

export type { JSONRPCMessage, RequestId };

export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Implementation-defined server error: the generic code of HTTP-level refusals. */
  ServerError: -32000,
  /** The SDK's "Session not found" on the wire. */
  SessionNotFound: -32001,
} as const;

export type MessageKind = 'request' | 'notification' | 'response';

/** What kind of JSON-RPC message `value` is, or `undefined` when it is not a valid one. */
export function messageKind(value: unknown): MessageKind | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return undefined;
  if (typeof m.method === 'string') {
    if (m.method.length === 0) return undefined;
    if (m.params !== undefined && (typeof m.params !== 'object' || m.params === null || Array.isArray(m.params))) {
      return undefined;
    }
    if (!('id' in m)) return 'notification';
    return isRequestId(m.id) ? 'request' : undefined;
  }
  if (!isRequestId(m.id) && !(m.id === null && 'error' in m)) return undefined;
  const hasResult = 'result' in m;
  const hasError = 'error' in m;
  if (hasResult === hasError) return undefined;
  if (hasResult) return typeof m.result === 'object' && m.result !== null ? 'response' : undefined;
  const e = m.error as Record<string, unknown> | null;
  if (typeof e !== 'object' || e === null) return undefined;
  return Number.isInteger(e.code) && typeof e.message === 'string' ? 'response' : undefined;
}

/**
 * The longest request id, in bytes of its JSON: a POST's response stream is named after its request's id,
 * and the stream's event ids (which a client sends back to resume) have a bounded length.
 */
export const MAX_REQUEST_ID_JSON_BYTES = 256;

export function isRequestId(id: unknown): id is RequestId {
  if (typeof id === 'number') return Number.isSafeInteger(id);
  return typeof id === 'string' && (id.length <= 64 || Buffer.byteLength(JSON.stringify(id)) <= MAX_REQUEST_ID_JSON_BYTES);
}

/** A JSON-RPC error response as a string, ready to be written. */
export function errorBody(code: number, message: string, id: RequestId | null = null, data?: unknown): string {
  const error: { code: number; message: string; data?: unknown } = { code, message };
  if (data !== undefined) error.data = data;
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}

/** Batches were part of protocol revision 2025-03-26 only. */
export function batchesAllowed(protocolVersion: string | undefined): boolean {
  return protocolVersion === '2025-03-26';
}

export interface ParsedMessage {
  message: JSONRPCMessage;
  kind: MessageKind;
}

export type ParseResult =
  | { ok: true; messages: ParsedMessage[]; batch: boolean }
  | { ok: false; code: number; message: string };

/**
 * Parses a POST body into messages. A body that is not JSON is -32700; JSON that is not a JSON-RPC
 * message (or a batch with any such element, or an empty batch) is -32600. The body is never echoed.
 */
export function parseBody(text: string | unknown, parsed = false): ParseResult {
  let value: unknown;
  if (parsed) {
    value = text;
  } else {
    try {
      value = JSON.parse(text as string);
    } catch {
      return { ok: false, code: ErrorCode.ParseError, message: 'Parse error: the body is not valid JSON' };
    }
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return invalid('an empty batch is not a valid request');
    const messages: ParsedMessage[] = [];
    for (const item of value) {
      const kind = messageKind(item);
      if (!kind) return invalid('a batch element is not a JSON-RPC 2.0 message');
      messages.push({ message: item as JSONRPCMessage, kind });
    }
    return { ok: true, messages, batch: true };
  }
  const kind = messageKind(value);
  if (!kind) return invalid('the body is not a JSON-RPC 2.0 request, notification or response');
  return { ok: true, messages: [{ message: value as JSONRPCMessage, kind }], batch: false };
}

function invalid(why: string): ParseResult {
  return { ok: false, code: ErrorCode.InvalidRequest, message: `Invalid Request: ${why}` };
}

export function isInitializeRequest(p: ParsedMessage): boolean {
  return p.kind === 'request' && (p.message as { method: string }).method === 'initialize';
}
