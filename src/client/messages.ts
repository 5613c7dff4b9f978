// Incoming JSON-RPC for the client transports: parsing what a stream or body carried, the
// transport's own requests (a replayed initialize) whose answers must not reach the client, and
// the error responses that stand in for answers that will never come.
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { messageKind } from '../jsonrpc.js';

/** The SDK's ConnectionClosed: the request's result is unknown because its connection is gone. */
export const CONNECTION_LOST = -32000;

/** The messages in an event's data or a JSON body; `invalid` counts what was not JSON-RPC. */
export function parseMessages(text: string): { messages: JSONRPCMessage[]; invalid: number } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { messages: [], invalid: 1 };
  }
  const items = Array.isArray(value) ? value : [value];
  const messages: JSONRPCMessage[] = [];
  let invalid = 0;
  for (const item of items) {
    if (messageKind(item)) messages.push(item as JSONRPCMessage);
    else invalid++;
  }
  return { messages, invalid };
}

export function isRequest(m: JSONRPCMessage): m is JSONRPCMessage & { id: RequestId; method: string } {
  return 'method' in m && 'id' in m && m.id !== undefined;
}

/** The id a response answers, or undefined for requests and notifications. */
export function responseId(m: JSONRPCMessage): RequestId | undefined {
  return !('method' in m) && 'id' in m && m.id !== null ? (m.id as RequestId) : undefined;
}

export function lostResponse(id: RequestId, message: string, data?: unknown): JSONRPCMessage {
  const error: { code: number; message: string; data?: unknown } = { code: CONNECTION_LOST, message: `mcpwire: ${message}` };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', id, error } as JSONRPCMessage;
}

/**
 * Hands a message to the transport's consumer. What its handler throws goes to `onerror`: it must
 * neither end the stream being read nor stop a loop that is answering every waiting request.
 */
export function handOver(t: Pick<Transport, 'onmessage' | 'onerror'>, m: JSONRPCMessage): void {
  try {
    t.onmessage?.(m);
  } catch (err) {
    try {
      t.onerror?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // an onerror that throws too: nowhere left to report it
    }
  }
}

/**
 * Requests the transport answered itself (with an error): a late answer from the server must not make
 * a second one. Bounded; ids are dropped oldest first.
 */
export class AnsweredIds {
  private readonly ids = new Set<RequestId>();

  constructor(private readonly max = 10_000) {}

  add(id: RequestId): void {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value!);
  }

  /** True (once) for an id answered already: its late answer is to be dropped. */
  take(id: RequestId): boolean {
    return this.ids.delete(id);
  }

  clear(): void {
    this.ids.clear();
  }
}

type Settle = { resolve(m: JSONRPCMessage): void; reject(e: Error): void; timer: NodeJS.Timeout };

/** The transport's own requests in flight; each has a deadline, so the map empties by itself. */
export class PrivateRequests {
  private readonly waiting = new Map<RequestId, Settle>();

  constructor(private readonly timeoutMs: number) {}

  get size(): number {
    return this.waiting.size;
  }

  /** Resolves with the response to `id` (a result or an error response). */
  wait(id: RequestId, what: string): Promise<JSONRPCMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(id, new Error(`mcpwire: ${what} got no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
    });
  }

  /** Takes a response meant for one of these requests; false when it is the client's. */
  take(m: JSONRPCMessage): boolean {
    const id = responseId(m);
    const s = id === undefined ? undefined : this.waiting.get(id);
    if (!s) return false;
    this.waiting.delete(id!);
    clearTimeout(s.timer);
    s.resolve(m);
    return true;
  }

  has(id: RequestId): boolean {
    return this.waiting.has(id);
  }

  fail(id: RequestId, err: Error): void {
    const s = this.waiting.get(id);
    if (!s) return;
    this.waiting.delete(id);
    clearTimeout(s.timer);
    s.reject(err);
  }

  failAll(err: Error): void {
    for (const id of [...this.waiting.keys()]) this.fail(id, err);
  }
}

/** The result of a private request, or an error carrying its JSON-RPC error. */
export function resultOf(m: JSONRPCMessage, what: string): Record<string, unknown> {
  if ('error' in m) {
    const e = m.error as { code: number; message: string };
    throw new Error(`mcpwire: ${what} was refused: ${e.message} (JSON-RPC ${e.code})`);
  }
  return (m as { result: Record<string, unknown> }).result;
}
