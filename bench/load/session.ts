// The load generator's MCP sessions: raw HTTP over undici, SSE read with eventsource-parser, no MCP
// SDK, so that what is measured is the server. Both wire formats: legacy HTTP+SSE (`sse`) and
// Streamable HTTP (`mcp`). Request ids are unique across sessions, so a reply delivered to the
// wrong session is seen (and counted) rather than mistaken for one of its own. A session sends one
// request at a time.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Client, Dispatcher } from 'undici';
import { openStream, requestClient, send, streamClient } from './http.js';

export type WireName = 'sse' | 'mcp';

export interface JsonRpc {
  jsonrpc: '2.0';
  id?: number | string | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

export interface Target {
  origin: string;
  /** Where each wire format lives on this server. */
  ssePath: string;
  mcpPath: string;
  /**
   * Source addresses for the connections (all in 127/8): a session uses the one its index picks, so
   * tens of thousands of sockets never run short of ephemeral ports on one address.
   */
  localAddresses: string[];
}

interface Pending {
  resolve(m: JsonRpc): void;
  reject(err: Error): void;
  since: number;
}

const PROTOCOL = { sse: '2024-11-05', mcp: '2025-06-18' } as const;
const IDS_PER_SESSION = 10_000_000;
const CLIENT_INFO = { name: 'mcpwire-bench', version: '1.0.0' };

export abstract class LoadSession {
  /** Every notification received on the session's streams. */
  onNotification?: (m: JsonRpc) => void;
  /** Replies whose id this session never sent or already got: replies meant for someone else. */
  foreignReplies = 0;
  /** The held stream ended or failed. */
  streamLost = false;
  protected readonly pending = new Map<number, Pending>();
  private nextId: number;
  private stream: Client | undefined;

  constructor(
    readonly index: number,
    protected readonly target: Target,
    /** Where POSTs go: a connection of the session's own, or a pool shared by many sessions. */
    readonly post: Dispatcher,
  ) {
    this.nextId = index * IDS_PER_SESSION;
  }

  abstract readonly wire: WireName;

  /** Initializes the session; with `holdStream`, also keeps its server→client SSE stream open. */
  abstract open(holdStream: boolean): Promise<void>;

  protected abstract deliver(body: string, id: number | undefined): Promise<void>;

  /** Sends a request and resolves with its response, whichever way it travels back. */
  request(method: string, params: Record<string, unknown>): Promise<JsonRpc> {
    const id = ++this.nextId;
    const body = JSON.stringify({ jsonrpc: '2.0', id, method, params });
    return new Promise<JsonRpc>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, since: performance.now() });
      this.deliver(body, id).catch((err: Error) => this.fail(id, err));
    });
  }

  notify(method: string): Promise<void> {
    return this.deliver(JSON.stringify({ jsonrpc: '2.0', method }), undefined);
  }

  protected initializeParams(): Record<string, unknown> {
    return { protocolVersion: PROTOCOL[this.wire], capabilities: {}, clientInfo: CLIENT_INFO };
  }

  /** Fails requests waiting longer than `timeoutMs`; returns how many. */
  expire(now: number, timeoutMs: number): number {
    let n = 0;
    for (const [id, p] of this.pending) {
      if (now - p.since < timeoutMs) continue;
      n++;
      this.fail(id, new Error(`no reply within ${timeoutMs} ms`));
    }
    return n;
  }

  protected fail(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(err);
  }

  protected received(m: JsonRpc): void {
    if (m.method !== undefined) {
      this.onNotification?.(m);
      return;
    }
    const p = typeof m.id === 'number' ? this.pending.get(m.id) : undefined;
    if (!p) {
      this.foreignReplies++;
      return;
    }
    this.pending.delete(m.id as number);
    p.resolve(m);
  }

  /** Opens the session's GET stream on a connection of its own and feeds its events to `onEvent`. */
  protected async hold(path: string, headers: Record<string, string>, onEvent: (e: EventSourceMessage) => void): Promise<void> {
    const client = streamClient(this.target.origin, sourceAddress(this.target, this.index));
    this.stream = client;
    const parser = createParser({ onEvent });
    const res = await openStream(
      client,
      path,
      { accept: 'text/event-stream', ...headers },
      (text) => parser.feed(text),
      () => {
        this.streamLost = true;
      },
    );
    if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
  }

  /** Drops the session's connections (its POST connection too when it has one of its own). */
  async close(ownPost: boolean): Promise<void> {
    for (const id of [...this.pending.keys()]) this.fail(id, new Error('session closed'));
    const s = this.stream;
    this.stream = undefined;
    await Promise.all([s?.destroy().catch(() => {}), ownPost ? this.post.destroy().catch(() => {}) : undefined]);
  }
}

/** Legacy HTTP+SSE: GET /sse (the one stream, which names the POST endpoint), POST → 202. */
export class LegacySession extends LoadSession {
  readonly wire = 'sse';
  private endpoint = '';
  private static readonly HEADERS = { 'content-type': 'application/json' };

  async open(): Promise<void> {
    let named: (path: string) => void = () => {};
    const endpoint = new Promise<string>((resolve) => (named = resolve));
    await this.hold(this.target.ssePath, {}, (e) => {
      if (e.event === 'endpoint') named(e.data);
      else if (e.data !== '') this.received(JSON.parse(e.data) as JsonRpc);
    });
    const url = await withTimeout(endpoint, 60_000, 'no endpoint event');
    this.endpoint = url.startsWith('http') ? new URL(url).pathname + new URL(url).search : url;
    const init = await this.request('initialize', this.initializeParams());
    if (init.error) throw new Error(`initialize: ${init.error.message}`);
    await this.notify('notifications/initialized');
  }

  protected async deliver(body: string): Promise<void> {
    const res = await send(this.post, 'POST', this.endpoint, LegacySession.HEADERS, body);
    if (res.status < 200 || res.status > 299) throw new Error(`POST: HTTP ${res.status}`);
  }
}

/** Streamable HTTP: POST answers requests in its own response (SSE or JSON); GET holds a stream. */
export class StreamableSession extends LoadSession {
  readonly wire = 'mcp';
  private headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  private readonly replies = createParser({
    onEvent: (e) => {
      if (e.data !== '') this.received(JSON.parse(e.data) as JsonRpc);
    },
  });

  async open(holdStream: boolean): Promise<void> {
    const init = await this.request('initialize', this.initializeParams());
    if (init.error) throw new Error(`initialize: ${init.error.message}`);
    await this.notify('notifications/initialized');
    if (holdStream) {
      const { accept: _, 'content-type': __, ...session } = this.headers;
      await this.hold(this.target.mcpPath, session, (e) => {
        if (e.data !== '') this.received(JSON.parse(e.data) as JsonRpc);
      });
    }
  }

  protected async deliver(body: string, id: number | undefined): Promise<void> {
    const res = await send(this.post, 'POST', this.target.mcpPath, this.headers, body);
    if (res.status < 200 || res.status > 299) throw new Error(`POST: HTTP ${res.status}`);
    const session = res.headers['mcp-session-id'];
    if (typeof session === 'string' && this.headers['mcp-session-id'] === undefined) {
      this.headers = { ...this.headers, 'mcp-session-id': session, 'mcp-protocol-version': PROTOCOL.mcp };
    }
    if (id === undefined || res.body === '') return;
    if (String(res.headers['content-type']).startsWith('application/json')) {
      this.received(JSON.parse(res.body) as JsonRpc);
      return;
    }
    this.replies.feed(res.body);
    this.replies.reset();
    if (this.pending.has(id)) throw new Error('the response stream ended without the response');
  }
}

export function newSession(wire: WireName, index: number, target: Target, post?: Dispatcher): LoadSession {
  const d = post ?? requestClient(target.origin, sourceAddress(target, index));
  return wire === 'sse' ? new LegacySession(index, target, d) : new StreamableSession(index, target, d);
}

export function sourceAddress(target: Target, index: number): string {
  return target.localAddresses[index % target.localAddresses.length]!;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
