// The 2026-07-28 client transport: every request its own POST with `_meta` and the standard headers,
// no session. It serves two kinds of caller:
// - a 2025-era client (the SDK v1 `Client`, a stdio host): its conversation is translated. Its
//   initialize is answered from `server/discover`; ping and logging/setLevel are answered here (the
//   level rides on later requests); resources/subscribe and list changes become a
//   `subscriptions/listen` stream; an `input_required` result becomes server→client requests to the
//   client, whose answers go back in a retry (multi round-trip requests).
// - a 2026 client (its requests already carry `_meta`): passed through, headers added.
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { META, MODERN_PROTOCOL_VERSIONS } from '../wire/era.js';
import { headerSpecsOf, type HeaderSpec } from '../wire/param-headers.js';
import {
  discard,
  fetchHeadersWithin,
  HttpError,
  mediaType,
  NetworkError,
  printable,
  readBounded,
  resolveClientOptions,
  type ClientTransportOptions,
  type ResolvedClientOptions,
  type RpcErrorBody,
} from './http.js';
import { handOver, lostResponse, parseMessages, responseId } from './messages.js';
import { pause, reconnectDelay, StreamPacer } from './reconnect.js';
import { readSse } from './sse-stream.js';
import { newTransportStats, type TransportStats } from './stats.js';

export const MODERN_VERSION = MODERN_PROTOCOL_VERSIONS[0];

/** Rounds of input_required one request may go through before it is failed. */
const MAX_INPUT_ROUNDS = 8;
/** Resource URIs a translated client may subscribe to (one listen carries them all). */
const MAX_SUBSCRIPTIONS = 1_000;
/** Client requests waiting on a server answer or on the client's own input, at once. */
const MAX_IN_FLIGHT = 10_000;
/** Tools whose Mcp-Param headers are remembered. */
const MAX_TOOLS = 10_000;

export interface DiscoverResult {
  supportedVersions: string[];
  capabilities: Record<string, unknown>;
  instructions?: string;
  _meta?: Record<string, unknown>;
}

/** What a `server/discover` probe found: a 2026 server, or something to fall back from (with why). */
export type ProbeVerdict = { modern: true; discover: DiscoverResult } | { modern: false; status: number; why: string };

type Msg = { jsonrpc: '2.0'; id?: RequestId; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: RpcErrorBody };

interface InFlight {
  controller: AbortController;
  /** Input requests handed to the client in this round, by our id: their key in inputRequests. */
  asked: Map<RequestId, string>;
  answers: Record<string, unknown>;
  round: number;
  /** The request as the client sent it, and the server's requestState, for the retry. */
  message: Msg;
  state?: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A header value as 2026-07-28 wants it: plain when safe, `=?base64?…?=` otherwise. */
export function encodeHeaderValue(v: string): string {
  const plain = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(v) && !(v.startsWith('=?base64?') && v.endsWith('?='));
  return plain ? v : `=?base64?${Buffer.from(v, 'utf8').toString('base64')}?=`;
}

export class ModernHttpClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly stats: TransportStats = newTransportStats();

  private readonly url: URL;
  private readonly o: ResolvedClientOptions;
  private readonly closing = new AbortController();
  private closed = false;
  private discovered: DiscoverResult | undefined;
  /** What a translated client declared in its initialize, sent as `_meta` on every request. */
  private meta: Record<string, unknown> | undefined;
  private logLevel: string | undefined;
  private readonly inFlight = new Map<RequestId, InFlight>();
  /** Our input requests to the client, by their id: the client request they belong to. */
  private readonly inputOwners = new Map<RequestId, RequestId>();
  private inputIds = 0;
  private readonly toolHeaders = new Map<string, HeaderSpec[]>();
  // The listen stream standing in for the 2025 GET stream and resources/subscribe.
  private readonly subscriptions = new Set<string>();
  private wantListen = false;
  private listenCtl: AbortController | undefined;
  private listenLoop: Promise<void> | undefined;
  private listenIds = 0;

  constructor(url: string | URL, options: ClientTransportOptions = {}) {
    this.url = new URL(url);
    this.o = resolveClientOptions(options);
  }

  /** The server's `server/discover` answer, once known. */
  get discover(): DiscoverResult | undefined {
    return this.discovered;
  }

  async start(): Promise<void> {}

  /** The SDK client tells the version it negotiated; every request here says 2026-07-28 anyway. */
  setProtocolVersion(_version: string): void {}

  /**
   * Asks the server whether it speaks 2026-07-28 (`server/discover`). Only a well-formed discover
   * result, or -32022 listing a version spoken here, counts as yes; a network failure or 401/403 is
   * thrown (an outage or a refusal, not a sign of an older server).
   */
  async probe(initialize?: Record<string, unknown>): Promise<ProbeVerdict> {
    if (initialize) this.adoptInitialize(initialize);
    const body = { jsonrpc: '2.0', id: 'mcpwire-discover', method: 'server/discover', params: { _meta: this.metaFor() } };
    const res = await this.postRaw(body as Msg, this.closing.signal, this.o.requestTimeoutMs);
    if (res.status === 401 || res.status === 403) throw await this.httpFailure(res);
    let msg: Msg | undefined;
    try {
      const type = mediaType(res);
      if (type === 'application/json') msg = JSON.parse(await readBounded(res, 1024 * 1024)) as Msg;
      else if (type === 'text/event-stream') msg = await this.firstResponse(res, 'mcpwire-discover');
      else await discard(res);
    } catch {
      msg = undefined;
    }
    const r = msg?.result;
    if (res.ok && isObject(r) && Array.isArray(r.supportedVersions) && r.supportedVersions.includes(MODERN_VERSION) && isObject(r.capabilities)) {
      this.discovered = r as unknown as DiscoverResult;
      return { modern: true, discover: this.discovered };
    }
    const e = msg?.error;
    if (e?.code === -32022 && isObject(e.data) && Array.isArray(e.data.supported) && e.data.supported.includes(MODERN_VERSION)) {
      // The server speaks our revision but refused how we asked: discover again is pointless; it is modern.
      return { modern: true, discover: (this.discovered = { supportedVersions: e.data.supported as string[], capabilities: {} }) };
    }
    return { modern: false, status: res.status, why: e ? `${e.message} (JSON-RPC ${e.code})` : `HTTP ${res.status}` };
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (this.closed) throw new Error('mcpwire: the transport is closed');
    const m = message as Msg;
    if (m.method === undefined) return this.clientAnswered(m);
    if (m.id === undefined) return this.notification(m);
    if (isObject(m.params?._meta) && m.params._meta[META.protocolVersion] !== undefined) return this.request(m, false);
    switch (m.method) {
      case 'initialize':
        return this.initialize(m);
      case 'ping':
        return this.reply(m.id, {});
      case 'logging/setLevel':
        this.logLevel = typeof m.params?.level === 'string' ? m.params.level : undefined;
        return this.reply(m.id, {});
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = m.params?.uri;
        if (typeof uri !== 'string') return this.replyError(m.id, -32602, 'Invalid params: uri is required');
        if (m.method === 'resources/subscribe') {
          if (!this.subscriptions.has(uri) && this.subscriptions.size >= MAX_SUBSCRIPTIONS) {
            return this.replyError(m.id, -32603, `mcpwire: at most ${MAX_SUBSCRIPTIONS} resource subscriptions`);
          }
          this.subscriptions.add(uri);
        } else {
          this.subscriptions.delete(uri);
        }
        this.relisten();
        return this.reply(m.id, {});
      }
    }
    return this.request(m, true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.listenCtl?.abort();
    for (const f of this.inFlight.values()) f.controller.abort();
    this.inFlight.clear();
    this.inputOwners.clear();
    this.onclose?.();
  }

  // ── a translated client's conversation ───────────────────────────────────────────────────────

  private adoptInitialize(params: Record<string, unknown>): void {
    const meta: Record<string, unknown> = {
      [META.protocolVersion]: MODERN_VERSION,
      [META.clientCapabilities]: isObject(params.capabilities) ? params.capabilities : {},
    };
    if (isObject(params.clientInfo)) meta[META.clientInfo] = params.clientInfo;
    this.meta = meta;
  }

  private metaFor(): Record<string, unknown> {
    const meta = { ...(this.meta ?? { [META.protocolVersion]: MODERN_VERSION, [META.clientCapabilities]: {} }) };
    if (this.logLevel !== undefined) meta[META.logLevel] = this.logLevel;
    return meta;
  }

  /** Answers initialize from server/discover: the client sees a server of the revision it asked for. */
  private async initialize(m: Msg): Promise<void> {
    this.adoptInitialize(m.params ?? {});
    if (!this.discovered) {
      const v = await this.probe();
      if (!v.modern) throw new HttpError('POST', printable(this.url), v.status, { code: -32000, message: `the server does not speak ${MODERN_VERSION}: ${v.why}` });
    }
    const d = this.discovered!;
    const serverInfo = isObject(d._meta?.[META.serverInfo]) ? d._meta![META.serverInfo] : { name: 'unknown', version: '0' };
    const result: Record<string, unknown> = { protocolVersion: m.params?.protocolVersion ?? '2025-11-25', capabilities: d.capabilities, serverInfo };
    if (typeof d.instructions === 'string') result.instructions = d.instructions;
    this.reply(m.id!, result);
  }

  private notification(m: Msg): void {
    if (m.method === 'notifications/initialized') {
      this.wantListen = true;
      this.relisten();
      return;
    }
    if (m.method === 'notifications/cancelled') {
      const id = m.params?.requestId as RequestId | undefined;
      const f = id === undefined ? undefined : this.inFlight.get(id);
      // Closing the response stream is how a 2026 request is cancelled.
      if (f) {
        f.controller.abort();
        this.forget(id!);
      }
      if (id !== undefined && String(id).startsWith('mcpwire-listen-')) this.listenCtl?.abort();
    }
    // No other client notification means anything over 2026-07-28 HTTP.
  }

  private reply(id: RequestId, result: Record<string, unknown>): void {
    queueMicrotask(() => this.deliver({ jsonrpc: '2.0', id, result }));
  }

  private replyError(id: RequestId, code: number, message: string, data?: unknown): void {
    queueMicrotask(() => this.deliver({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } }));
  }

  private deliver(m: Msg): void {
    if (this.closed) return;
    this.stats.messagesReceived++;
    handOver(this, m as JSONRPCMessage);
  }

  // ── requests ─────────────────────────────────────────────────────────────────────────────────

  /** Sends a client request; resolves once the server took it (its answer is delivered later). */
  private async request(m: Msg, translate: boolean): Promise<void> {
    const id = m.id!;
    if (this.inFlight.size >= MAX_IN_FLIGHT) throw new Error(`mcpwire: ${MAX_IN_FLIGHT} requests are already waiting`);
    const f: InFlight = { controller: new AbortController(), asked: new Map(), answers: {}, round: 0, message: m };
    this.inFlight.set(id, f);
    try {
      await this.attempt(m, translate, f, id);
    } catch (err) {
      this.forget(id);
      throw err;
    }
  }

  /** One POST of the request (the first, or a retry with the client's input). */
  private async attempt(m: Msg, translate: boolean, f: InFlight, clientId: RequestId, extra?: Record<string, unknown>): Promise<void> {
    const params: Record<string, unknown> = { ...m.params, ...extra };
    if (translate) params._meta = { ...(isObject(m.params?._meta) ? m.params._meta : {}), ...this.metaFor() };
    const wireId = f.round === 0 ? clientId : `mcpwire-retry-${f.round}-${String(clientId)}`;
    const body: Msg = { jsonrpc: '2.0', id: wireId, method: m.method, params };
    const signal = AbortSignal.any([f.controller.signal, this.closing.signal]);
    // No deadline of ours: a stateless server sends no header until the tool is done, however long it
    // takes; the caller's own timeout (the SDK's, sent as notifications/cancelled) bounds the wait.
    const res = await this.postRaw(body, signal, 0, this.paramHeaders(m));
    const type = mediaType(res);
    if (type === 'text/event-stream' && res.ok) {
      void this.readAnswerStream(res, m, translate, f, clientId, wireId, signal);
      return;
    }
    if (type === 'application/json') {
      const text = await readBounded(res, this.o.maxMessageBytes);
      const { messages } = parseMessages(text);
      const answer = messages.find((x) => responseId(x) === wireId || responseId(x) === null) ?? messages[0];
      if (answer) {
        void this.answered(answer as Msg, m, translate, f, clientId);
        return;
      }
    } else {
      await discard(res);
    }
    if (!res.ok) throw new HttpError('POST', printable(this.url), res.status);
    throw new HttpError('POST', printable(this.url), res.status, { code: -32000, message: `unexpected Content-Type "${type}"` });
  }

  private async readAnswerStream(res: Response, m: Msg, translate: boolean, f: InFlight, clientId: RequestId, wireId: RequestId, signal: AbortSignal): Promise<void> {
    let answer: Msg | undefined;
    const end = await readSse(res.body!, this.o, {
      signal,
      onRetry: () => {},
      onEvent: (e) => {
        for (const x of parseMessages(e.data).messages as Msg[]) {
          if (x.method === undefined && x.id === wireId) answer = x;
          else if (x.method !== undefined && x.id === undefined) this.deliver(x);
        }
      },
    });
    if (answer) return this.answered(answer, m, translate, f, clientId);
    if (signal.aborted || !this.inFlight.has(clientId)) return;
    this.forget(clientId);
    // 2026-07-28 has no resumption: a broken stream loses the request; the caller may send it again.
    this.deliver(lostResponse(clientId, `the response stream ended (${end instanceof Error ? end.message : end}) before the response; send the request again`) as Msg);
  }

  /** The server's answer to one attempt: delivered, or (input_required) turned into questions for the client. */
  private async answered(a: Msg, m: Msg, translate: boolean, f: InFlight, clientId: RequestId): Promise<void> {
    if (!this.inFlight.has(clientId)) return;
    const result = a.result;
    if (translate && isObject(result) && result.resultType === 'input_required') {
      if (f.round >= MAX_INPUT_ROUNDS) {
        this.forget(clientId);
        this.deliver({ jsonrpc: '2.0', id: clientId, error: { code: -32603, message: `mcpwire: the server still asked for input after ${MAX_INPUT_ROUNDS} rounds` } });
        return;
      }
      return this.askClient(result, f, clientId);
    }
    this.forget(clientId);
    if (m.method === 'tools/list' && isObject(result) && Array.isArray(result.tools)) this.learnTools(result.tools);
    this.deliver(a.error ? { jsonrpc: '2.0', id: clientId, error: a.error } : { jsonrpc: '2.0', id: clientId, result: result ?? {} });
  }

  /** Hands the server's input requests to the client as requests of its own; the retry waits for every answer. */
  private askClient(result: Record<string, unknown>, f: InFlight, clientId: RequestId): void {
    f.round++;
    f.answers = {};
    f.asked.clear();
    const requests = isObject(result.inputRequests) ? result.inputRequests : {};
    f.state = typeof result.requestState === 'string' ? result.requestState : undefined;
    const entries = Object.entries(requests).filter(([, r]) => isObject(r) && typeof r.method === 'string');
    if (entries.length === 0) {
      void this.retry(clientId).catch((err: unknown) => this.failRequest(clientId, err));
      return;
    }
    for (const [key, r] of entries) {
      const id = `mcpwire-input-${++this.inputIds}`;
      f.asked.set(id, key);
      this.inputOwners.set(id, clientId);
      const req = r as { method: string; params?: unknown };
      this.deliver({ jsonrpc: '2.0', id, method: req.method, params: (req.params ?? {}) as Record<string, unknown> });
    }
  }

  /** The client answered one of our input requests. */
  private clientAnswered(m: Msg): void {
    const id = m.id as RequestId;
    const owner = this.inputOwners.get(id);
    if (owner === undefined) return;
    this.inputOwners.delete(id);
    const f = this.inFlight.get(owner);
    if (!f) return;
    const key = f.asked.get(id)!;
    f.asked.delete(id);
    if (m.error) {
      this.forget(owner);
      this.deliver({ jsonrpc: '2.0', id: owner, error: { code: m.error.code, message: `the client could not answer the server's ${key} request: ${m.error.message}` } });
      return;
    }
    f.answers[key] = m.result ?? {};
    if (f.asked.size === 0) void this.retry(owner).catch((err: unknown) => this.failRequest(owner, err));
  }

  private async retry(clientId: RequestId): Promise<void> {
    const f = this.inFlight.get(clientId);
    if (!f) return;
    const extra: Record<string, unknown> = { inputResponses: f.answers };
    if (f.state !== undefined) extra.requestState = f.state;
    await this.attempt(f.message, true, f, clientId, extra);
  }

  private failRequest(clientId: RequestId, err: unknown): void {
    if (!this.inFlight.has(clientId)) return;
    this.forget(clientId);
    const e = err as HttpError;
    this.deliver(lostResponse(clientId, `the retry with the client's input failed: ${e.message.replace(/^mcpwire: /, '')}`) as Msg);
  }

  private forget(clientId: RequestId): void {
    const f = this.inFlight.get(clientId);
    if (!f) return;
    this.inFlight.delete(clientId);
    for (const id of f.asked.keys()) this.inputOwners.delete(id);
  }

  // ── headers ──────────────────────────────────────────────────────────────────────────────────

  private learnTools(tools: unknown[]): void {
    for (const t of tools as Array<{ name?: unknown; inputSchema?: unknown }>) {
      if (typeof t.name !== 'string') continue;
      const specs = headerSpecsOf(t.inputSchema);
      if (specs.length > 0 && (this.toolHeaders.has(t.name) || this.toolHeaders.size < MAX_TOOLS)) this.toolHeaders.set(t.name, specs);
      else this.toolHeaders.delete(t.name);
    }
  }

  /** `Mcp-Param-*` for a tools/call of a tool whose schema asked for them (learned from tools/list). */
  private paramHeaders(m: Msg): Record<string, string> {
    if (m.method !== 'tools/call') return {};
    const specs = this.toolHeaders.get(String(m.params?.name));
    if (!specs) return {};
    const h: Record<string, string> = {};
    for (const s of specs) {
      let v: unknown = m.params?.arguments;
      for (const k of s.path) v = isObject(v) ? v[k] : undefined;
      if (v === undefined || v === null) continue;
      h[s.header] = encodeHeaderValue(String(v));
    }
    return h;
  }

  private standardHeaders(m: Msg): Record<string, string> {
    const claim = isObject(m.params?._meta) ? m.params._meta[META.protocolVersion] : undefined;
    const h: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': typeof claim === 'string' ? claim : MODERN_VERSION,
      'mcp-method': m.method!,
    };
    const name = m.method === 'resources/read' ? m.params?.uri : m.method === 'tools/call' || m.method === 'prompts/get' ? m.params?.name : undefined;
    if (typeof name === 'string') h['mcp-name'] = encodeHeaderValue(name);
    return h;
  }

  /** `headersWithinMs`: how long the response's headers may take (0: no bound). */
  private async postRaw(m: Msg, signal: AbortSignal, headersWithinMs: number, extra: Record<string, string> = {}): Promise<Response> {
    const headers = new Headers(this.o.baseHeaders);
    for (const [k, v] of Object.entries({ ...this.standardHeaders(m), ...extra })) headers.set(k, v);
    try {
      return await fetchHeadersWithin(this.o.fetch, this.url, { method: 'POST', headers, body: JSON.stringify(m), signal }, headersWithinMs);
    } catch (err) {
      throw new NetworkError('POST', printable(this.url), err);
    }
  }

  private async httpFailure(res: Response): Promise<HttpError> {
    let rpc: RpcErrorBody | undefined;
    try {
      const body = JSON.parse(await readBounded(res, 64 * 1024)) as { error?: RpcErrorBody };
      rpc = body.error;
    } catch {
      // the status says enough
    }
    return new HttpError('POST', printable(this.url), res.status, rpc);
  }

  private async firstResponse(res: Response, id: RequestId): Promise<Msg | undefined> {
    let found: Msg | undefined;
    const ctl = new AbortController();
    // Not paused by the consumer's backpressure: this read (discovery) hands the consumer nothing.
    await readSse(res.body!, { ...this.o, backpressure: undefined }, {
      signal: AbortSignal.any([ctl.signal, this.closing.signal]),
      onRetry: () => {},
      onEvent: (e) => {
        for (const x of parseMessages(e.data).messages as Msg[]) {
          if (x.method === undefined && x.id === id) {
            found = x;
            ctl.abort();
          }
        }
      },
    });
    return found;
  }

  // ── the listen stream (instead of the 2025 GET stream and resources/subscribe) ──────────────

  /** The filter a translated client's listen asks for: what the server offers and it cares about. */
  private filter(): Record<string, unknown> | undefined {
    const caps = this.discovered?.capabilities ?? {};
    const flag = (name: string, f: string) => isObject(caps[name]) && (caps[name] as Record<string, unknown>)[f] === true;
    const filter: Record<string, unknown> = {};
    if (flag('tools', 'listChanged')) filter.toolsListChanged = true;
    if (flag('prompts', 'listChanged')) filter.promptsListChanged = true;
    if (flag('resources', 'listChanged')) filter.resourcesListChanged = true;
    if (flag('resources', 'subscribe') && this.subscriptions.size > 0) filter.resourceSubscriptions = [...this.subscriptions];
    return Object.keys(filter).length > 0 ? filter : undefined;
  }

  /** (Re)opens the listen stream with the current filter; the old one, if any, is closed first. */
  private relisten(): void {
    if (!this.wantListen || this.closed) return;
    this.listenCtl?.abort();
    const filter = this.filter();
    if (!filter) return;
    const ctl = new AbortController();
    this.listenCtl = ctl;
    const previous = this.listenLoop;
    this.listenLoop = (async () => {
      await previous;
      await this.listenUntil(filter, ctl.signal);
    })();
  }

  private async listenUntil(filter: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    const p = this.o.policy;
    const stop = AbortSignal.any([signal, this.closing.signal]);
    let failures = 0;
    let opened = 0;
    let retryMs: number | undefined;
    // An acknowledged stream the server ends at once is no failed attempt, but must not be reopened
    // at once either (each reopening also tells the client its lists changed).
    const pacer = new StreamPacer();
    while (!signal.aborted && !this.closed) {
      if (failures > p.maxRetries) {
        this.onerror?.(new Error(`mcpwire: gave up reopening the subscriptions/listen stream after ${failures} failed attempts`));
        return;
      }
      if (failures > 0) await pause(reconnectDelay(p, failures - 1, retryMs), stop);
      if (signal.aborted || this.closed) return;
      const id = `mcpwire-listen-${++this.listenIds}`;
      let acked = false;
      try {
        const res = await this.postRaw({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: { _meta: this.metaFor(), notifications: filter } }, stop, this.o.idleTimeoutMs);
        if (!res.ok || mediaType(res) !== 'text/event-stream') {
          await discard(res);
          failures++;
          continue;
        }
        const end = await readSse(res.body!, this.o, {
          signal: stop,
          onRetry: (ms) => (retryMs = ms),
          // Skipped, and the stream goes on: it has no resumption, so ending it would lose what follows.
          onOversized: (err) => this.onerror?.(err),
          onEvent: (e) => {
            for (const x of parseMessages(e.data).messages as Msg[]) {
              if (x.method === 'notifications/subscriptions/acknowledged') {
                acked = true;
                failures = 0;
                pacer.opened();
                // Changes made while no stream was open are lost: say "changed", so the client lists again.
                if (opened++ > 0) {
                  this.stats.resumes++;
                  this.announceGap(filter);
                }
              } else if (x.method !== undefined && x.id === undefined) {
                if (acked) pacer.delivered();
                this.deliver(unstamped(x));
              }
            }
          },
        });
        if (signal.aborted || this.closed) return;
        if (end === 'idle') this.stats.watchdogTrips++;
        this.stats.streamsLost++;
        if (!acked) failures++;
        else await pause(reconnectDelay(p, pacer.ended(), retryMs), stop);
      } catch {
        if (signal.aborted || this.closed) return;
        failures++;
      }
    }
  }

  private announceGap(filter: Record<string, unknown>): void {
    if (filter.toolsListChanged) this.deliver({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    if (filter.promptsListChanged) this.deliver({ jsonrpc: '2.0', method: 'notifications/prompts/list_changed' });
    if (filter.resourcesListChanged) this.deliver({ jsonrpc: '2.0', method: 'notifications/resources/list_changed' });
    for (const uri of (filter.resourceSubscriptions as string[] | undefined) ?? []) this.deliver({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } });
  }
}

/** A listen notification as a 2025 client expects it: without the subscription id. */
function unstamped(m: Msg): Msg {
  const meta = m.params?._meta;
  if (!isObject(meta) || !(META.subscriptionId in meta)) return m;
  const { [META.subscriptionId]: _id, ...rest } = meta;
  const params = { ...m.params };
  if (Object.keys(rest).length > 0) params._meta = rest;
  else delete params._meta;
  return { ...m, params };
}
