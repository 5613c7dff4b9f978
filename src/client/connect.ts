// Finding the wire format: with `modern`, 2026-07-28 first (POST server/discover; only a real
// discover result, or -32022 naming 2026-07-28, counts as yes); then Streamable HTTP (POST
// initialize to the URL); on 400, 404 or 405
// only, the legacy HTTP+SSE transport, first at the same URL (as the spec's backwards-compatibility
// section says), then at the sibling path `/sse` (…/mcp → …/sse). Any other failure (401, 500, a
// refused connection) is reported as it is, never hidden behind a fallback.
import { Client, type ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Implementation, JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { VERSION } from '../http/health.js';
import { HttpError, printable } from './http.js';
import { NotAnSseEndpoint, SseClientTransport } from './sse.js';
import { newTransportStats, type TransportStats } from './stats.js';
import { StreamableHttpClientTransport, type StreamableHttpClientOptions } from './streamable-http.js';
import { ModernHttpClientTransport, MODERN_VERSION } from './modern.js';

type Inner = ModernHttpClientTransport | StreamableHttpClientTransport | SseClientTransport;

export type WireChoice = 'auto' | 'modern' | 'streamable' | 'sse';

/** The statuses of a refused Streamable HTTP initialize that mean "try the legacy transport". */
export const FALLBACK_STATUSES: ReadonlySet<number> = new Set([400, 404, 405]);

export interface AutoTransportOptions extends StreamableHttpClientOptions {
  /**
   * Ask the server first whether it speaks 2026-07-28 (`server/discover`), and speak it when it
   * does; otherwise fall back as usual. Default false: the 2025 formats are tried as before (a
   * client whose first message already carries 2026 `_meta` goes to 2026-07-28 either way).
   */
  modern?: boolean;
}

export interface ConnectOptions extends AutoTransportOptions {
  /** Which wire format: found by trying (default), or fixed. */
  transport?: WireChoice;
}

/** The URLs tried for the legacy transport after Streamable HTTP was refused at `url`. */
export function legacyCandidates(url: URL): URL[] {
  const sibling = new URL(url);
  sibling.pathname = url.pathname.replace(/\/[^/]*$/, '') + '/sse';
  return sibling.href === url.href ? [url] : [url, sibling];
}

/** Every legacy candidate refused too: says what each attempt got. */
export class NoTransportError extends Error {
  constructor(readonly attempts: Error[]) {
    super(`mcpwire: no MCP transport found: ${attempts.map((e) => e.message.replace(/^mcpwire: /, '')).join('; ')}`);
    this.name = 'NoTransportError';
  }
}

/**
 * A transport that settles on a wire format with the first message (the client's initialize), then
 * passes everything through. Use it like any SDK transport: `new Client(…).connect(autoTransport(url))`.
 */
export class AutoTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** The wire format chosen, once the first message has gone out. */
  kind: 'modern' | 'streamable' | 'sse' | undefined;

  private readonly url: URL;
  private inner: Inner | undefined;
  /** The transport being tried while none is chosen yet: close() must end it too. */
  private candidate: Inner | undefined;
  private choosing: Promise<void> | undefined;
  private protocolVersion: string | undefined;
  private closed = false;

  constructor(
    url: string | URL,
    private readonly options: AutoTransportOptions = {},
  ) {
    this.url = new URL(url);
  }

  get sessionId(): string | undefined {
    return this.inner instanceof StreamableHttpClientTransport ? this.inner.sessionId : undefined;
  }

  get stats(): TransportStats {
    return this.inner?.stats ?? newTransportStats();
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
    this.inner?.setProtocolVersion(version);
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) throw new Error('mcpwire: the transport is closed');
    if (this.inner) return this.inner.send(message, options);
    if (!this.choosing) {
      const choosing = this.choose(message, options);
      this.choosing = choosing;
      choosing.catch(() => {
        if (this.choosing === choosing) this.choosing = undefined;
      });
      return choosing;
    }
    await this.choosing;
    return this.send(message, options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const t = this.inner ?? this.candidate;
    this.candidate = undefined;
    await t?.close();
    this.onclose?.();
  }

  private async choose(first: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    try {
      await this.chooseFor(first, options);
    } catch (err) {
      // Closed meanwhile: the candidate was closed with it, whatever it was doing.
      if (this.closed) throw new Error('mcpwire: the transport closed while choosing a wire format');
      throw err;
    }
  }

  private async chooseFor(first: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (await this.tryModern(first, options)) return;
    this.assertOpen();
    const streamable = this.adopt(new StreamableHttpClientTransport(this.url, this.options));
    await streamable.start();
    try {
      await streamable.send(first, options);
      this.assertOpen();
      this.settle(streamable, 'streamable');
      return;
    } catch (err) {
      const isInitialize = (first as { method?: string }).method === 'initialize';
      await streamable.close();
      this.assertOpen();
      if (!isInitialize || !(err instanceof HttpError) || !FALLBACK_STATUSES.has(err.status)) throw err;
      this.options.logger?.info({ status: err.status }, `Streamable HTTP refused at ${printable(this.url)}; trying the legacy SSE transport`);
      const attempts: Error[] = [err];
      for (const url of legacyCandidates(this.url)) {
        this.assertOpen();
        const sse = this.adopt(new SseClientTransport(url, this.options));
        try {
          await sse.start();
        } catch (e) {
          if (!(e instanceof HttpError) && !(e instanceof NotAnSseEndpoint)) throw e;
          attempts.push(e);
          continue;
        }
        this.assertOpen();
        this.settle(sse, 'sse');
        await sse.send(first, options);
        return;
      }
      throw new NoTransportError(attempts);
    }
  }

  /**
   * 2026-07-28 first: a message that already carries a 2026 `_meta` goes there directly; an
   * initialize goes there when `server/discover` says the server speaks it. Anything else is left to
   * the 2025 formats (a network failure or 401/403 is reported, never fallen back from).
   */
  private async tryModern(first: JSONRPCMessage, options?: TransportSendOptions): Promise<boolean> {
    const m = first as { method?: string; params?: Record<string, unknown> };
    const meta = m.params?._meta as Record<string, unknown> | undefined;
    const claims = typeof meta === 'object' && meta !== null && meta['io.modelcontextprotocol/protocolVersion'] !== undefined;
    if (!claims && (m.method !== 'initialize' || this.options.modern !== true)) return false;
    const modern = this.adopt(new ModernHttpClientTransport(this.url, this.options));
    if (!claims) {
      const verdict = await modern.probe(m.params ?? {});
      if (!verdict.modern) {
        this.options.logger?.info({ status: verdict.status }, `no ${MODERN_VERSION} at ${printable(this.url)} (${verdict.why}); trying the 2025 formats`);
        await modern.close();
        return false;
      }
      this.assertOpen();
    }
    this.settle(modern, 'modern');
    await modern.send(first, options);
    return true;
  }

  private adopt<T extends Inner>(t: T): T {
    t.onmessage = (m) => this.onmessage?.(m);
    t.onerror = (e) => this.onerror?.(e);
    // Only the chosen transport closing by itself (legacy SSE giving up) closes this one; close()
    // says so itself, once, and a candidate let go is no news.
    t.onclose = () => {
      if (t !== this.inner || this.closed) return;
      this.closed = true;
      this.onclose?.();
    };
    if (this.protocolVersion !== undefined) t.setProtocolVersion(this.protocolVersion);
    this.candidate = t;
    return t;
  }

  /** Throws once close() was called: nothing more may be tried, nor a transport chosen. */
  private assertOpen(): void {
    if (this.closed) throw new Error('mcpwire: the transport closed while choosing a wire format');
  }

  private settle(t: Inner, kind: 'modern' | 'streamable' | 'sse'): void {
    this.candidate = undefined;
    this.inner = t;
    this.kind = kind;
    this.options.logger?.debug({ transport: kind }, 'transport chosen');
  }
}

/** A transport for `url`: found by trying (the default), or the one `options.transport` names. */
export function createTransport(url: string | URL, options: ConnectOptions = {}): Transport & { stats: TransportStats } {
  switch (options.transport ?? 'auto') {
    case 'auto':
      return new AutoTransport(url, options);
    case 'modern':
      return new ModernHttpClientTransport(url, options);
    case 'streamable':
      return new StreamableHttpClientTransport(url, options);
    case 'sse':
      return new SseClientTransport(url, options);
    default:
      throw new TypeError("mcpwire: option transport must be 'auto', 'modern', 'streamable' or 'sse'");
  }
}

/** 2026-07-28, then Streamable HTTP, then legacy SSE: `new Client(…).connect(autoTransport(url))`. */
export function autoTransport(url: string | URL, options: AutoTransportOptions = {}): AutoTransport {
  return new AutoTransport(url, options);
}

export interface ClientConnectOptions extends ConnectOptions {
  clientInfo?: Implementation;
  /** The SDK Client's options (capabilities, …). */
  client?: ClientOptions;
}

/** An SDK `Client`, connected and initialized over the wire format the server speaks. */
export async function connect(url: string | URL, options: ClientConnectOptions = {}): Promise<Client> {
  const client = new Client(options.clientInfo ?? { name: 'mcpwire', version: VERSION }, options.client);
  await client.connect(createTransport(url, options));
  return client;
}
