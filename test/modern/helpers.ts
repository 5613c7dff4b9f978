// Raw 2026-07-28 requests for the tests: the common request of the brief's test plan (§5), with
// every header and `_meta` key overridable, and the answer read as JSON or as SSE events.
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export const VERSION = '2026-07-28';

export const META = {
  'io.modelcontextprotocol/protocolVersion': VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
} as Record<string, unknown>;

export interface ModernOptions {
  id?: string | number;
  /** Replaces the request's `_meta` (default: META). */
  meta?: Record<string, unknown>;
  /** Merged over the standard headers; a value of `null` removes that header. */
  headers?: Record<string, string | null>;
  signal?: AbortSignal;
  /** Send exactly this body instead of building one. */
  body?: string;
}

export interface ModernAnswer {
  status: number;
  headers: Headers;
  contentType: string;
  /** The JSON body, or the message of the SSE stream that answers the request (result or error). */
  body: { jsonrpc: string; id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } } | undefined;
  /** Every SSE message, in order (empty for JSON). */
  events: Array<Record<string, unknown>>;
  /** The raw SSE text (to check for `id:` lines and comments). */
  raw: string;
}

let nextId = 1;

export function standardHeaders(method: string, params: Record<string, unknown> | undefined): Record<string, string> {
  const h: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
    'MCP-Protocol-Version': VERSION,
    'Mcp-Method': method,
  };
  if (method === 'tools/call' || method === 'prompts/get') h['Mcp-Name'] = String(params?.name);
  if (method === 'resources/read') h['Mcp-Name'] = String(params?.uri);
  return h;
}

function headersOf(method: string, params: Record<string, unknown> | undefined, o: ModernOptions): Record<string, string> {
  const h = standardHeaders(method, params);
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    for (const existing of Object.keys(h)) if (existing.toLowerCase() === k.toLowerCase()) delete h[existing];
    if (v !== null) h[k] = v;
  }
  return h;
}

/** One 2026-07-28 request; SSE answers are read until the response to it arrives (or the stream ends). */
export async function modern(url: string, method: string, params: Record<string, unknown> = {}, o: ModernOptions = {}): Promise<ModernAnswer> {
  const id = o.id ?? nextId++;
  const body = o.body ?? JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: o.meta ?? META } });
  const res = await fetch(new URL('/mcp', url), { method: 'POST', headers: headersOf(method, params, o), body, signal: o.signal });
  const contentType = res.headers.get('content-type') ?? '';
  if (!contentType.includes('text/event-stream')) {
    const text = await res.text();
    return { status: res.status, headers: res.headers, contentType, body: text ? JSON.parse(text) : undefined, events: [], raw: text };
  }
  const { events, raw } = await readSse(res, (m) => 'id' in m && m.id === id && ('result' in m || 'error' in m));
  const answer = events.find((m) => 'id' in m && m.id === id && ('result' in m || 'error' in m));
  return { status: res.status, headers: res.headers, contentType, body: answer as ModernAnswer['body'], events, raw };
}

/** Reads SSE messages (parsed JSON) until `until` holds, the stream ends, or `timeoutMs` passes. */
export async function readSse(
  res: Response,
  until: (m: Record<string, unknown>, all: Array<Record<string, unknown>>) => boolean,
  timeoutMs = 15_000,
): Promise<{ events: Array<Record<string, unknown>>; raw: string; ended: boolean }> {
  const events: Array<Record<string, unknown>> = [];
  let raw = '';
  let done = false;
  let ended = false;
  const parser = createParser({
    onEvent: (e: EventSourceMessage) => {
      if (e.data === '') return; // a 2025 priming event
      const m = JSON.parse(e.data) as Record<string, unknown>;
      events.push(m);
      if (!done && until(m, events)) done = true;
    },
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const timer = setTimeout(() => void reader.cancel().catch(() => {}), timeoutMs);
  try {
    while (!done) {
      const r = await reader.read();
      if (r.done) {
        ended = true;
        break;
      }
      const chunk = decoder.decode(r.value, { stream: true });
      raw += chunk;
      parser.feed(chunk);
    }
  } catch {
    // cancelled by the timer
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
  return { events, raw, ended };
}

/** Opens a listen stream and returns the live response (the caller reads it). */
export async function openListen(url: string, id: string | number, notifications: Record<string, unknown> | undefined, o: { signal?: AbortSignal; meta?: Record<string, unknown>; headers?: Record<string, string> } = {}): Promise<Response> {
  const params: Record<string, unknown> = { _meta: o.meta ?? META };
  if (notifications !== undefined) params.notifications = notifications;
  return fetch(new URL('/mcp', url), {
    method: 'POST',
    headers: { ...standardHeaders('subscriptions/listen', undefined), ...o.headers },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params }),
    signal: o.signal,
  });
}

/**
 * A listen stream being read in the background: `events` fills as messages arrive; `next(pred)`
 * waits for one; `close()` cancels the stream.
 */
export class ListenReader {
  readonly events: Array<Record<string, unknown>> = [];
  raw = '';
  ended = false;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly done: Promise<void>;

  constructor(readonly res: Response) {
    const reader = res.body!.getReader();
    this.reader = reader;
    const parser = createParser({ onEvent: (e) => this.events.push(JSON.parse(e.data) as Record<string, unknown>) });
    const decoder = new TextDecoder();
    this.done = (async () => {
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          const chunk = decoder.decode(r.value, { stream: true });
          this.raw += chunk;
          parser.feed(chunk);
        }
      } catch {
        // cancelled
      }
      this.ended = true;
    })();
  }

  async next(pred: (m: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(pred);
      if (found) return found;
      if (this.ended) throw new Error(`stream ended without the awaited message; got ${JSON.stringify(this.events)}`);
      if (Date.now() > end) throw new Error(`timed out; got ${JSON.stringify(this.events)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async untilEnded(timeoutMs = 10_000): Promise<void> {
    await Promise.race([this.done, new Promise((_, rej) => setTimeout(() => rej(new Error('stream did not end')), timeoutMs))]);
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => {});
    await this.done;
  }
}

export const isAck = (m: Record<string, unknown>) => m.method === 'notifications/subscriptions/acknowledged';

export function subscriptionIdOf(m: Record<string, unknown>): unknown {
  return ((m.params as Record<string, unknown> | undefined)?._meta as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/subscriptionId'];
}
