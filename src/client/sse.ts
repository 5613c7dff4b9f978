// The legacy HTTP+SSE client transport (2024-11-05) for the SDK `Client`: one GET stream that
// names the POST endpoint in its `endpoint` event and carries every server message. Unlike the
// SDK's own transport, a lost stream comes back with Last-Event-ID (to the same session, which
// mcpwire's server then replays), and a session the server lost is rebuilt with the client's own
// initialize on a new stream.
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import {
  discard,
  fetchHeadersWithin,
  httpError,
  HttpError,
  mediaType,
  NetworkError,
  printable,
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

/** The GET answered, but not with an SSE stream: this URL is no legacy SSE endpoint. */
export class NotAnSseEndpoint extends Error {
  constructor(url: string, why: string) {
    super(`mcpwire: GET ${url} is not a legacy SSE endpoint: ${why}`);
    this.name = 'NotAnSseEndpoint';
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a rejection nobody awaits is not an error of the process
  return { promise, resolve, reject };
}

export class SseClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly stats: TransportStats = newTransportStats();

  private readonly url: URL;
  private readonly o: ResolvedClientOptions;
  private readonly record = new SessionRecord();
  private readonly own: PrivateRequests;
  /** The client's requests not answered yet; `accepted`: the current session took the POST. */
  private readonly sent = new Map<RequestId, { accepted: boolean }>();
  private readonly closing = new AbortController();
  private endpoint: URL | undefined;
  private lastEventId: string | undefined;
  private retryMs: number | undefined;
  private protocolVersion: string | undefined;
  private connection: AbortController | undefined;
  private started = false;
  private closed = false;
  /** The next connection must open a new session (the old one is gone). */
  private freshNeeded = false;
  /** A new session is being set up: messages wait for it. */
  private recovery: Deferred | undefined;
  /** New sessions in a row whose replayed handshake failed: paces the next attempts. */
  private handshakeFailures = 0;
  /** `start()` while it waits for the first stream: close() ends the wait. */
  private opening: Deferred | undefined;
  /**
   * Requests answered with an error because the stream stayed down: a late answer (replayed when the
   * stream comes back to the same session) must not make a second one.
   */
  private readonly abandoned = new AnsweredIds();
  private readonly pacer = new StreamPacer();

  constructor(url: string | URL, options: ClientTransportOptions = {}) {
    this.url = new URL(url);
    this.o = resolveClientOptions(options);
    this.own = new PrivateRequests(this.o.requestTimeoutMs);
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  /** Opens the stream; resolves once the server has named the endpoint for POSTs. */
  async start(): Promise<void> {
    if (this.started) throw new Error('mcpwire: SseClientTransport already started');
    this.started = true;
    const opened = deferred();
    this.opening = opened;
    void this.run(opened);
    try {
      await opened.promise;
    } catch (err) {
      // Nothing is left running: a later start() may try again (the server may be up by then).
      if (!this.closed) this.started = false;
      throw err;
    } finally {
      this.opening = undefined;
    }
  }

  /** Sends one message; resumption tokens do not apply to this wire format (its one stream resumes by itself). */
  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (this.closed) throw new Error('mcpwire: the transport is closed');
    if (!this.endpoint) throw new Error('mcpwire: the transport is not started');
    this.record.observe(message);
    const m = message as { method?: string; params?: { requestId?: RequestId } };
    if (m.method === 'notifications/cancelled' && m.params?.requestId !== undefined) this.sent.delete(m.params.requestId);
    if (this.recovery) await this.recovery.promise;
    const id = isRequest(message) ? message.id : undefined;
    if (id !== undefined) {
      this.abandoned.take(id); // reused: its answer is this request's
      this.sent.set(id, { accepted: false });
    }
    try {
      await this.post(message, true, id);
    } catch (err) {
      if (id !== undefined) this.sent.delete(id);
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    const err = new Error('mcpwire: the transport closed');
    this.own.failAll(err);
    this.recovery?.reject(err);
    this.opening?.reject(err);
    // No answer can come any more: every request waiting for one gets an error, not silence.
    for (const id of [...this.sent.keys()]) this.answerLost(id, 'the transport closed before the response arrived; its result is unknown');
    this.onclose?.();
  }

  /** Answers a request whose response will not come (or not in time). */
  private answerLost(id: RequestId, why: string): void {
    this.sent.delete(id);
    this.abandoned.add(id);
    handOver(this, lostResponse(id, why));
  }

  // ── sending ──────────────────────────────────────────────────────────────────────────────────

  private headers(extra: Record<string, string>): Headers {
    const h = new Headers(this.o.baseHeaders);
    if (this.protocolVersion !== undefined) h.set('mcp-protocol-version', this.protocolVersion);
    for (const [k, v] of Object.entries(extra)) h.set(k, v);
    return h;
  }

  private async post(message: JSONRPCMessage, mayRecover: boolean, id?: RequestId): Promise<void> {
    const endpoint = this.endpoint!;
    let res: Response;
    try {
      res = await this.o.fetch(endpoint, {
        method: 'POST',
        headers: this.headers({ 'content-type': 'application/json' }),
        body: JSON.stringify(message),
        signal: this.closing.signal,
      });
    } catch (err) {
      throw new NetworkError('POST', printable(endpoint), err);
    }
    if (res.status === 404 && mayRecover) {
      await discard(res);
      // Answered already by a session that replaced this one? Then only the retry is needed.
      if (this.endpoint === endpoint) await this.recover();
      else if (this.recovery) await this.recovery.promise;
      return this.post(message, false, id);
    }
    if (!res.ok) throw await httpError('POST', endpoint, res);
    await discard(res);
    const entry = id === undefined ? undefined : this.sent.get(id);
    if (!entry) return; // answered already
    if (endpoint === this.endpoint) {
      entry.accepted = true;
    } else {
      // Taken by a session that has been replaced since: its answer will not come.
      this.sent.delete(id!);
      handOver(this, lostResponse(id!, 'the session ended before the response arrived; its result is unknown'));
    }
  }

  private receive(text: string): void {
    const { messages, invalid } = parseMessages(text);
    if (invalid > 0) this.onerror?.(new Error('mcpwire: the server sent data that is not a JSON-RPC message; it was ignored'));
    if (messages.length > 0) this.pacer.delivered();
    for (const m of messages) {
      const id = responseId(m);
      if (id !== undefined) {
        if (this.abandoned.take(id)) continue; // answered already, with an error
        this.sent.delete(id);
      }
      if (this.own.take(m)) continue;
      this.stats.messagesReceived++;
      handOver(this, m);
    }
  }

  // ── the stream ───────────────────────────────────────────────────────────────────────────────

  private async run(opened: Deferred): Promise<void> {
    const p = this.o.policy;
    let failures = 0;
    /** Streams in a row that ended soon after they opened, having delivered nothing. */
    let short = 0;
    let isOpen = false;
    while (!this.closed) {
      if (failures > 0) {
        if (failures > p.maxRetries) {
          this.onerror?.(new Error(`mcpwire: gave up reopening the SSE stream after ${failures} failed attempts`));
          return this.giveUpStream();
        }
        // After a loss `failures` starts at 1: the attempts that failed since are one fewer. The
        // requests this stream would answer wait no longer than a request's own stream would.
        if (failures - 1 > p.maxRequestRetries) {
          for (const [id, entry] of [...this.sent]) {
            if (entry.accepted) this.answerLost(id, `gave up waiting for the response: the SSE stream could not be reopened after ${failures - 1} attempts; its result is unknown`);
          }
        }
        await pause(reconnectDelay(p, failures - 1 + short, this.retryMs), this.closing.signal);
        if (this.closed) return;
      }
      const resumeFrom = this.freshNeeded ? undefined : this.lastEventId;
      const conn = new AbortController();
      this.connection = conn;
      let res: Response;
      try {
        res = await this.get(resumeFrom, AbortSignal.any([this.closing.signal, conn.signal]));
      } catch (err) {
        if (this.closed) return;
        if (!isOpen) return opened.reject(err as Error);
        if (!conn.signal.aborted) {
          failures++;
          this.failRecovery(err as Error);
        }
        continue;
      }
      if (!res.ok || res.status === 204 || mediaType(res) !== 'text/event-stream') {
        const err =
          res.ok && res.status !== 204
            ? new NotAnSseEndpoint(printable(this.url), `answered ${res.status} with Content-Type "${mediaType(res)}"`)
            : await httpError('GET', this.url, res);
        await discard(res);
        if (!isOpen) return opened.reject(err);
        if (resumeFrom !== undefined && (res.status === 404 || res.status === 410 || res.status === 400)) {
          // The session is gone (or the server cannot resume it): a new stream opens a new session.
          this.o.logger?.info({ status: res.status }, 'the SSE session cannot be resumed; opening a new one');
          this.freshNeeded = true;
          continue;
        }
        if (!(err instanceof HttpError) || !retryableStatus(err.status)) {
          this.onerror?.(err);
          return this.giveUpStream();
        }
        failures++;
        this.failRecovery(err);
        continue;
      }
      const wasFresh = resumeFrom === undefined;
      if (!wasFresh) this.stats.resumes++;
      this.freshNeeded = false;
      failures = 0;
      this.pacer.opened();
      // A first stream that never names its endpoint is not one to wait on forever.
      const noEndpoint = isOpen ? undefined : setTimeout(() => conn.abort(), this.o.requestTimeoutMs);
      const end = await this.read(res, conn.signal, () => {
        clearTimeout(noEndpoint);
        if (!isOpen) {
          isOpen = true;
          opened.resolve();
        }
      });
      clearTimeout(noEndpoint);
      if (this.closed) return;
      if (!isOpen) {
        const why = end === 'aborted' ? `no endpoint event within ${this.o.requestTimeoutMs} ms` : 'the stream carried no endpoint event';
        return opened.reject(new NotAnSseEndpoint(printable(this.url), why));
      }
      if (end === 'aborted') {
        failures = this.handshakeFailures;
      } else if (end instanceof OversizedEvent) {
        // Resuming before it would replay it: resume after it, or (without its id) in a new session.
        this.onerror?.(end);
        if (end.eventId !== undefined) this.lastEventId = end.eventId;
        else this.freshNeeded = true;
        this.lost(end);
        failures = 1;
        short = this.pacer.ended();
      } else {
        this.lost(end);
        failures = 1; // the first reconnect waits for the server's retry hint or a backoff step
        short = this.pacer.ended();
      }
    }
  }

  /** The stream is this wire format's only way back: without it the transport is closed. */
  private giveUpStream(): void {
    void this.close();
  }

  private get(lastEventId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers = this.headers({ accept: 'text/event-stream' });
    if (lastEventId !== undefined) headers.set('last-event-id', lastEventId);
    return fetchHeadersWithin(this.o.fetch, this.url, { method: 'GET', headers, signal }, this.o.idleTimeoutMs).catch((err: unknown) => {
      throw new NetworkError('GET', printable(this.url), err);
    });
  }

  private read(res: Response, signal: AbortSignal, onEndpoint: () => void): Promise<SseEnd> {
    return readSse(res.body!, this.o, {
      signal: AbortSignal.any([this.closing.signal, signal]),
      onRetry: (ms) => (this.retryMs = ms),
      onEvent: (e) => {
        if (e.event === 'endpoint') {
          if (this.endpointEvent(e.data)) {
            if (e.id !== undefined) this.lastEventId = e.id;
            onEndpoint();
          }
          return;
        }
        if (e.event !== undefined && e.event !== 'message') return;
        if (e.id !== undefined) this.lastEventId = e.id;
        this.receive(e.data);
      },
    });
  }

  /** Takes the POST endpoint the server named; a different one than before means a new session. */
  private endpointEvent(data: string): boolean {
    let url: URL;
    try {
      url = new URL(data, this.url);
    } catch {
      this.onerror?.(new Error('mcpwire: the endpoint event does not carry a URL'));
      return false;
    }
    if (url.origin !== this.url.origin) {
      this.onerror?.(new Error(`mcpwire: the endpoint event names another origin (${url.origin}); refused`));
      this.connection?.abort();
      return false;
    }
    const previous = this.endpoint;
    this.endpoint = url;
    if (previous !== undefined && previous.href !== url.href) this.newSession();
    return true;
  }

  private lost(end: SseEnd): void {
    this.stats.streamsLost++;
    if (end === 'idle') this.stats.watchdogTrips++;
    const why = end === 'eof' ? 'closed by the server' : end === 'idle' ? `silent for ${this.o.idleTimeoutMs} ms` : end === 'aborted' ? 'aborted' : end.message;
    this.o.logger?.debug({ why }, 'the SSE stream was lost; resuming');
  }

  // ── session recovery ─────────────────────────────────────────────────────────────────────────

  /** The current session is gone: opens a new stream (a new session) and waits until it is set up. */
  private recover(): Promise<void> {
    if (!this.recovery) {
      this.recovery = deferred();
      this.freshNeeded = true;
      this.connection?.abort();
    }
    return this.recovery.promise;
  }

  /** A connection attempt failed while a send waits for a new session: it fails now, not later. */
  private failRecovery(err: Error): void {
    const r = this.recovery;
    if (r && this.freshNeeded) {
      this.recovery = undefined;
      r.reject(err);
    }
  }

  /** The stream now belongs to a new session: the old one's requests are lost; replay the handshake. */
  private newSession(): void {
    this.abandoned.clear(); // the old session's answers will not come
    for (const [id, entry] of [...this.sent]) {
      if (!entry.accepted) continue; // its POST is under way, or will be sent again to the new session
      this.sent.delete(id);
      handOver(this, lostResponse(id, 'the session ended before the response arrived; its result is unknown'));
    }
    this.own.failAll(new Error('mcpwire: the session changed'));
    const replay = this.record.replay();
    const r = (this.recovery ??= deferred());
    if (!replay) {
      this.recovery = undefined;
      r.resolve();
      return;
    }
    const started = Date.now();
    void (async () => {
      const init = resultOf(await this.ownRequest(replay.initialize, 'the replayed initialize'), 'the replayed initialize');
      if (typeof init.protocolVersion === 'string') this.protocolVersion = init.protocolVersion;
      await this.post(replay.initialized, false);
      await Promise.all(
        replay.rest.map((q) =>
          this.ownRequest(q, `the replayed ${q.method}`).then(
            (m) => resultOf(m, `the replayed ${q.method}`),
            (err: unknown) => this.onerror?.(err as Error),
          ),
        ),
      );
      this.stats.reinitializations++;
      this.handshakeFailures = 0;
      this.o.logger?.info({ ms: Date.now() - started }, 'a new session replaced the lost one');
    })().then(
      () => {
        if (this.recovery === r) this.recovery = undefined;
        r.resolve();
      },
      (err: unknown) => {
        if (this.recovery === r) this.recovery = undefined;
        this.onerror?.(err as Error);
        r.reject(err as Error);
        // A session that never got its handshake is of no use: start yet another, after a pause.
        this.handshakeFailures++;
        this.freshNeeded = true;
        this.connection?.abort();
      },
    );
  }

  private ownRequest(message: JSONRPCMessage & { id: RequestId }, what: string): Promise<JSONRPCMessage> {
    const answer = this.own.wait(message.id, what);
    this.post(message, false).catch((err: unknown) => this.own.fail(message.id, err as Error));
    return answer;
  }
}
