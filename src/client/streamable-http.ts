// The Streamable HTTP client transport (2025-03-26 … 2025-11-25) for the SDK `Client`:
// POST per message (JSON or SSE answers), the GET stream kept open for as long as the transport is,
// every stream resumed with Last-Event-ID after a loss, and a session that vanished (404) rebuilt
// with the client's own initialize, without the client noticing.
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import {
  connectionRefused,
  discard,
  fetchHeadersWithin,
  httpError,
  HttpError,
  mediaType,
  NetworkError,
  printable,
  readBounded,
  resolveClientOptions,
  retryableStatus,
  type ClientTransportOptions,
  type ResolvedClientOptions,
} from './http.js';
import { AnsweredIds, handOver, isRequest, lostResponse, parseMessages, PrivateRequests, responseId, resultOf } from './messages.js';
import { pause, reconnectDelay, StreamPacer } from './reconnect.js';
import { SessionRecord } from './session-record.js';
import { OversizedEvent, readSse, type SseEnd } from './sse-stream.js';
import { newTransportStats, type TransportStats } from './stats.js';

/** A POST that could not connect at all (nothing was sent) is tried this many more times. */
const CONNECT_RETRIES = 3;

/** The answer stream of one POST: the requests still waiting, and where to resume it. */
interface RequestStream {
  waiting: Set<RequestId>;
  lastEventId: string | undefined;
  retryMs: number | undefined;
  cancelled: boolean;
  /** Ends the current connection of the stream (the request was cancelled). */
  connection: AbortController;
}

export interface StreamableHttpClientOptions extends ClientTransportOptions {
  /** DELETE the session when the transport closes. Default true. */
  terminateOnClose?: boolean;
}

export class StreamableHttpClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly stats: TransportStats = newTransportStats();

  private readonly url: URL;
  private readonly o: ResolvedClientOptions;
  private readonly terminateOnClose: boolean;
  private readonly record = new SessionRecord();
  private readonly own: PrivateRequests;
  private readonly requestStreams = new Map<RequestId, RequestStream>();
  /** Requests given up on (answered with an error): the server's answer, should it still come, is dropped. */
  private readonly abandoned = new AnsweredIds();
  private readonly closing = new AbortController();
  private _sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private started = false;
  private closed = false;
  /** The session is gone (404); the next message, or the GET stream, rebuilds it first. */
  private needsInit = false;
  /** The session the server no longer knows: not worth a DELETE (its replacement is). */
  private goneSessionId: string | undefined;
  private recovering: Promise<void> | undefined;
  private listening = false;
  private listenConnection: AbortController | undefined;

  constructor(url: string | URL, options: StreamableHttpClientOptions = {}) {
    this.url = new URL(url);
    this.o = resolveClientOptions(options);
    this.terminateOnClose = options.terminateOnClose ?? true;
    this.own = new PrivateRequests(this.o.requestTimeoutMs);
  }

  get sessionId(): string | undefined {
    return this._sessionId;
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('mcpwire: StreamableHttpClientTransport already started');
    this.started = true;
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) throw new Error('mcpwire: the transport is closed');
    this.record.observe(message);
    if (isRequest(message)) this.abandoned.take(message.id); // reused: its answer is this request's
    const m = message as { method?: string; params?: { requestId?: RequestId } };
    if (m.method === 'notifications/cancelled' && m.params?.requestId !== undefined) {
      const s = this.requestStreams.get(m.params.requestId);
      if (s) {
        s.cancelled = true;
        s.connection.abort();
      }
    }
    if (options?.resumptionToken && isRequest(message)) {
      void this.followRequestStream([message.id], undefined, options.resumptionToken, options.onresumptiontoken, message.id);
      return;
    }
    if (m.method !== 'initialize') {
      if (this.recovering) await this.recovering.catch(() => {});
      if (this.needsInit) await this.recover(undefined);
    }
    await this.post(message, options?.onresumptiontoken, true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.own.failAll(new Error('mcpwire: the transport closed'));
    const sessionId = this._sessionId;
    if (sessionId !== undefined && this.terminateOnClose && sessionId !== this.goneSessionId) await this.deleteSession(sessionId);
    this.onclose?.();
  }

  /** Ends the session on the server (DELETE); a server without DELETE (405) is fine. */
  async terminateSession(): Promise<void> {
    const sessionId = this._sessionId;
    if (sessionId === undefined) return;
    await this.deleteSession(sessionId);
    this._sessionId = undefined;
  }

  // ── sending ──────────────────────────────────────────────────────────────────────────────────

  private headers(extra: Record<string, string>): Headers {
    const h = new Headers(this.o.baseHeaders);
    if (this._sessionId !== undefined) h.set('mcp-session-id', this._sessionId);
    if (this.protocolVersion !== undefined) h.set('mcp-protocol-version', this.protocolVersion);
    for (const [k, v] of Object.entries(extra)) h.set(k, v);
    return h;
  }

  private async post(message: JSONRPCMessage, onToken: ((t: string) => void) | undefined, mayRecover: boolean): Promise<void> {
    const sessionId = this._sessionId;
    const body = JSON.stringify(message);
    let res: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await this.o.fetch(this.url, {
          method: 'POST',
          headers: this.headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream' }),
          body,
          signal: this.closing.signal,
        });
        break;
      } catch (err) {
        if (this.closed || !connectionRefused(err) || attempt >= CONNECT_RETRIES) throw new NetworkError('POST', printable(this.url), err);
        await pause(reconnectDelay(this.o.policy, attempt), this.closing.signal);
      }
    }
    if (this._sessionId === undefined) {
      const assigned = res.headers.get('mcp-session-id');
      if (assigned) this._sessionId = assigned;
    }
    if (res.status === 404 && sessionId !== undefined && mayRecover) {
      await discard(res);
      await this.recover(sessionId);
      return this.post(message, onToken, false);
    }
    if (!res.ok) throw await httpError('POST', this.url, res);
    if (!isRequest(message) || res.status === 202) {
      await discard(res);
      if ((message as { method?: string }).method === 'notifications/initialized') this.listen();
      return;
    }
    const type = mediaType(res);
    if (type === 'text/event-stream') {
      void this.followRequestStream([message.id], res, undefined, onToken);
      return;
    }
    if (type === 'application/json') {
      this.receive(await readBounded(res, this.o.maxMessageBytes));
      return;
    }
    await discard(res);
    throw new HttpError('POST', printable(this.url), res.status, {
      code: -32000,
      message: `unexpected Content-Type "${type}" (expected application/json or text/event-stream)`,
    });
  }

  /**
   * Delivers what a stream or body carried; the transport's own responses stay here. `answerAs`: the
   * request a resumed stream's response answers (it carries the id of the request that began it).
   */
  private receive(text: string, answerAs?: RequestId): void {
    if (text === '') return; // a priming event
    const { messages, invalid } = parseMessages(text);
    if (invalid > 0) this.onerror?.(new Error('mcpwire: the server sent data that is not a JSON-RPC message; it was ignored'));
    for (let m of messages) {
      let id = responseId(m);
      if (id !== undefined && answerAs !== undefined) {
        m = { ...m, id: answerAs } as JSONRPCMessage;
        id = answerAs;
      }
      if (id !== undefined) {
        if (this.abandoned.take(id)) {
          this.o.logger?.debug({ id }, 'a response came after its request was answered with an error; dropped');
          continue;
        }
        this.requestStreams.get(id)?.waiting.delete(id);
      }
      if (this.own.take(m)) continue;
      this.stats.messagesReceived++;
      handOver(this, m);
    }
  }

  /** Answers requests whose response will not come, so that no caller waits forever. */
  private giveUp(ids: Iterable<RequestId>, why: string, data?: unknown): void {
    for (const id of [...ids]) {
      this.abandoned.add(id);
      if (this.own.has(id)) this.own.fail(id, new Error(`mcpwire: ${why}`));
      else handOver(this, lostResponse(id, why, data));
    }
  }

  // ── a POST's response stream, resumed until its responses are in ──────────────────────────────

  private async followRequestStream(
    ids: RequestId[],
    first: Response | undefined,
    resumeFrom: string | undefined,
    onToken: ((t: string) => void) | undefined,
    answerAs?: RequestId,
  ): Promise<void> {
    const s: RequestStream = { waiting: new Set(ids), lastEventId: resumeFrom, retryMs: undefined, cancelled: false, connection: new AbortController() };
    for (const id of ids) this.requestStreams.set(id, s);
    const sessionId = this._sessionId;
    let res = first;
    let failures = 0;
    try {
      for (;;) {
        if (res) {
          const end = await this.read(
            res,
            (e) => {
              if (e.id !== undefined) {
                s.lastEventId = e.id;
                onToken?.(e.id);
              }
              this.receive(e.data, answerAs);
            },
            (ms) => (s.retryMs = ms),
            s.connection.signal,
          );
          if (s.waiting.size === 0 || this.closed || end === 'aborted') return;
          if (end instanceof OversizedEvent) {
            this.giveUp(s.waiting, end.message.replace(/^mcpwire: /, ''));
            return;
          }
          this.lost(end, 'a response stream');
        }
        if (s.cancelled || this.closed) return;
        if (s.lastEventId === undefined) {
          this.giveUp(s.waiting, 'the response stream broke before the response, and the server gave no event id to resume it from');
          return;
        }
        if (failures > this.o.policy.maxRequestRetries) {
          this.giveUp(s.waiting, `gave up resuming the response stream after ${failures} failed attempts`);
          return;
        }
        await pause(reconnectDelay(this.o.policy, failures, s.retryMs), this.closing.signal);
        if (s.cancelled || this.closed) return;
        if (this._sessionId !== sessionId) {
          this.giveUp(s.waiting, 'the session was replaced (the server lost it) while the request ran; its result is unknown');
          return;
        }
        let r: Response;
        try {
          r = await this.get(s.lastEventId, this.closing.signal);
        } catch (err) {
          if (this.closed) return;
          failures++;
          res = undefined;
          this.o.logger?.debug({ err: (err as Error).message }, 'resuming a response stream failed; will retry');
          continue;
        }
        res = undefined;
        if (r.ok && r.status !== 204 && mediaType(r) === 'text/event-stream') {
          this.stats.resumes++;
          failures = 0;
          res = r;
          continue;
        }
        if (r.status === 204) {
          await discard(r);
          this.giveUp(s.waiting, 'the server says the response stream is complete, but its response never arrived');
          return;
        }
        const err = await httpError('GET', this.url, r);
        if (r.status === 404 && sessionId !== undefined) {
          this.sessionGone(sessionId);
          this.giveUp(s.waiting, 'the session ended (404) while the request ran; its result is unknown', { status: 404 });
          return;
        }
        if (r.status === 410) {
          this.giveUp(s.waiting, `the events after the last one received are gone from the server's log: ${err.rpcError?.message ?? 'Gone'}`, {
            status: 410,
            ...((err.rpcError?.data as object | undefined) ?? {}),
          });
          return;
        }
        if (!retryableStatus(r.status)) {
          this.giveUp(s.waiting, `resuming the response stream failed: ${err.message}`, { status: r.status });
          return;
        }
        failures++;
      }
    } finally {
      for (const id of ids) if (this.requestStreams.get(id) === s) this.requestStreams.delete(id);
    }
  }

  // ── the GET stream ───────────────────────────────────────────────────────────────────────────

  /** Opens the listening stream, and keeps it open until the transport closes. */
  private listen(): void {
    if (this.listening || this.closed) return;
    this.listening = true;
    void this.listenLoop().finally(() => {
      this.listening = false;
    });
  }

  private async listenLoop(): Promise<void> {
    const p = this.o.policy;
    let failures = 0;
    let lastEventId: string | undefined;
    let retryMs: number | undefined;
    let sessionId = this._sessionId;
    /** The session whose GET stream the server has served: only for it does a 404 mean "session gone". */
    let servedFor: string | undefined;
    const pacer = new StreamPacer();
    while (!this.closed) {
      if (failures > p.maxRetries) {
        this.onerror?.(new Error(`mcpwire: gave up reopening the listening stream after ${failures} failed attempts`));
        return;
      }
      if (failures > 0) await pause(reconnectDelay(p, failures - 1, retryMs), this.closing.signal);
      if (this.closed) return;
      if (this.needsInit || this.recovering) {
        try {
          await this.recover(undefined);
        } catch (err) {
          this.onerror?.(err as Error);
          failures++;
          continue;
        }
      }
      if (this._sessionId !== sessionId) {
        sessionId = this._sessionId;
        lastEventId = undefined;
      }
      const conn = new AbortController();
      this.listenConnection = conn;
      let res: Response;
      try {
        res = await this.get(lastEventId, AbortSignal.any([this.closing.signal, conn.signal]));
      } catch (err) {
        if (this.closed) return;
        if (!conn.signal.aborted) {
          this.o.logger?.debug({ err: (err as Error).message }, 'opening the listening stream failed; will retry');
          failures++;
        }
        continue;
      }
      if (res.ok && res.status !== 204 && mediaType(res) === 'text/event-stream') {
        if (lastEventId !== undefined) this.stats.resumes++;
        failures = 0;
        servedFor = sessionId;
        pacer.opened();
        const end = await this.read(
          res,
          (e) => {
            if (e.id !== undefined) lastEventId = e.id;
            if (e.data !== '') pacer.delivered(); // a priming event proves nothing
            this.receive(e.data);
          },
          (ms) => (retryMs = ms),
          conn.signal,
          (err) => {
            // Skipped, and the stream goes on: a resume, should one come, starts after it.
            if (err.eventId !== undefined) lastEventId = err.eventId;
            this.onerror?.(err);
          },
        );
        if (this.closed) return;
        if (end === 'aborted') continue; // the session was replaced: reopen at once
        this.lost(end, 'the listening stream');
        await pause(reconnectDelay(p, pacer.ended(), retryMs), this.closing.signal);
        continue;
      }
      if (res.status === 204 || res.status === 405) {
        // 405: this server offers no GET stream; 204: it says there is nothing more to wait for.
        await discard(res);
        this.o.logger?.debug({ status: res.status }, 'the server offers no listening stream');
        return;
      }
      const err = await httpError('GET', this.url, res);
      if (res.status === 404 && sessionId !== undefined) {
        if (servedFor === sessionId) {
          this.sessionGone(sessionId);
          continue;
        }
        // A 404 to the first GET of a session is a server without a GET stream at this URL (a POST
        // finds out if the session itself is gone); re-initializing on it would loop.
        this.o.logger?.debug({ status: 404 }, 'the server offers no listening stream');
        return;
      }
      if (res.status === 410) {
        // The server's log no longer has what was missed: start over, without Last-Event-ID.
        this.onerror?.(new Error(`mcpwire: some server messages of the listening stream were lost (${err.rpcError?.message ?? '410 Gone'})`));
        lastEventId = undefined;
        continue;
      }
      if (!retryableStatus(res.status)) {
        this.onerror?.(err);
        return;
      }
      failures++;
    }
  }

  private get(lastEventId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers = this.headers({ accept: 'text/event-stream' });
    if (lastEventId !== undefined) headers.set('last-event-id', lastEventId);
    return fetchHeadersWithin(this.o.fetch, this.url, { method: 'GET', headers, signal }, this.o.idleTimeoutMs).catch((err: unknown) => {
      throw new NetworkError('GET', printable(this.url), err);
    });
  }

  /**
   * Reads a stream's `message` events (the only kind this wire format has; others are skipped).
   * `onOversized`: see readSse (without it, an oversized event ends the read).
   */
  private read(
    res: Response,
    onEvent: (e: { id?: string | undefined; data: string }) => void,
    onRetry: (ms: number) => void,
    signal?: AbortSignal,
    onOversized?: (err: OversizedEvent) => void,
  ): Promise<SseEnd> {
    if (!res.body) return Promise.resolve('eof');
    return readSse(res.body, this.o, {
      signal: signal ? AbortSignal.any([this.closing.signal, signal]) : this.closing.signal,
      onEvent: (e) => {
        if (e.event === undefined || e.event === 'message') onEvent(e);
      },
      onRetry,
      onOversized,
    });
  }

  private lost(end: SseEnd, what: string): void {
    this.stats.streamsLost++;
    if (end === 'idle') this.stats.watchdogTrips++;
    const why = end === 'eof' ? 'closed by the server' : end === 'idle' ? `silent for ${this.o.idleTimeoutMs} ms` : end === 'aborted' ? 'aborted' : end.message;
    this.o.logger?.debug({ why }, `${what} was lost; resuming`);
  }

  // ── session recovery ─────────────────────────────────────────────────────────────────────────

  private sessionGone(sessionId: string): void {
    if (this._sessionId === sessionId && !this.needsInit) {
      this.needsInit = true;
      this.goneSessionId = sessionId;
      this.o.logger?.info({}, 'the session is gone on the server (404); starting a new one');
      this.listen();
    }
  }

  /** Rebuilds the session once, however many callers found it gone at the same time. */
  private recover(staleSessionId: string | undefined): Promise<void> {
    if (staleSessionId !== undefined && this._sessionId === staleSessionId) {
      this.needsInit = true;
      this.goneSessionId = staleSessionId;
    }
    if (!this.needsInit) return this.recovering ?? Promise.resolve();
    this.recovering ??= this.reinitialize().finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  private async reinitialize(): Promise<void> {
    const replay = this.record.replay();
    if (!replay) throw new Error('mcpwire: the session is gone and the client never initialized one to replay');
    const started = Date.now();
    this._sessionId = undefined;
    this.listenConnection?.abort();
    const init = resultOf(await this.ownRequest(replay.initialize, 'the replayed initialize'), 'the replayed initialize');
    if (typeof init.protocolVersion === 'string') this.protocolVersion = init.protocolVersion;
    await this.post(replay.initialized, undefined, false);
    await Promise.all(
      replay.rest.map((r) =>
        this.ownRequest(r, `the replayed ${r.method}`).then(
          (m) => resultOf(m, `the replayed ${r.method}`),
          (err: unknown) => this.onerror?.(err as Error),
        ),
      ),
    );
    this.needsInit = false;
    this.stats.reinitializations++;
    this.o.logger?.info({ ms: Date.now() - started }, 'a new session replaced the lost one');
    this.listen();
  }

  private ownRequest(message: JSONRPCMessage & { id: RequestId }, what: string): Promise<JSONRPCMessage> {
    const answer = this.own.wait(message.id, what);
    this.post(message, undefined, false).catch((err: unknown) => this.own.fail(message.id, err as Error));
    return answer;
  }

  private async deleteSession(sessionId: string): Promise<void> {
    try {
      const headers = this.headers({});
      headers.set('mcp-session-id', sessionId);
      const res = await this.o.fetch(this.url, { method: 'DELETE', headers, signal: AbortSignal.timeout(5_000) });
      await discard(res);
    } catch (err) {
      this.o.logger?.debug({ err: (err as Error).message }, 'ending the session (DELETE) failed');
    }
  }
}
