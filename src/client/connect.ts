// Finding the wire format: Streamable HTTP first (POST initialize to the URL); on 400, 404 or 405
// only, the legacy HTTP+SSE transport, first at the same URL (as the spec's backwards-compatibility
// section says), then at the sibling path `/sse` (…/mcp → …/sse). Any other failure (401, 500, a
// refused connection) is reported as it is, never hidden behind a fallback.
import { Client, type ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Implementation, JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { VERSION } from '../http/health.js';
import { HttpError, printable, type ClientTransportOptions } from './http.js';
import { NotAnSseEndpoint, SseClientTransport } from './sse.js';
import { newTransportStats, type TransportStats } from './stats.js';
import { StreamableHttpClientTransport, type StreamableHttpClientOptions } from './streamable-http.js';

export type WireChoice = 'auto' | 'streamable' | 'sse';

/** The statuses of a refused Streamable HTTP initialize that mean "try the legacy transport". */
export const FALLBACK_STATUSES: ReadonlySet<number> = new Set([400, 404, 405]);

export interface ConnectOptions extends StreamableHttpClientOptions {
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
  kind: 'streamable' | 'sse' | undefined;

  private readonly url: URL;
  private inner: (StreamableHttpClientTransport | SseClientTransport) | undefined;
  private choosing: Promise<void> | undefined;
  private protocolVersion: string | undefined;
  private closed = false;

  constructor(
    url: string | URL,
    private readonly options: StreamableHttpClientOptions = {},
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
    if (this.inner) await this.inner.close();
    else this.onclose?.();
  }

  private async choose(first: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const streamable = this.adopt(new StreamableHttpClientTransport(this.url, this.options));
    await streamable.start();
    try {
      await streamable.send(first, options);
      this.settle(streamable, 'streamable');
      return;
    } catch (err) {
      const isInitialize = (first as { method?: string }).method === 'initialize';
      streamable.onclose = undefined;
      await streamable.close();
      if (!isInitialize || !(err instanceof HttpError) || !FALLBACK_STATUSES.has(err.status)) throw err;
      this.options.logger?.info({ status: err.status }, `Streamable HTTP refused at ${printable(this.url)}; trying the legacy SSE transport`);
      const attempts: Error[] = [err];
      for (const url of legacyCandidates(this.url)) {
        const sse = this.adopt(new SseClientTransport(url, this.options));
        try {
          await sse.start();
        } catch (e) {
          if (!(e instanceof HttpError) && !(e instanceof NotAnSseEndpoint)) throw e;
          attempts.push(e);
          continue;
        }
        this.settle(sse, 'sse');
        await sse.send(first, options);
        return;
      }
      throw new NoTransportError(attempts);
    }
  }

  private adopt<T extends StreamableHttpClientTransport | SseClientTransport>(t: T): T {
    t.onmessage = (m) => this.onmessage?.(m);
    t.onerror = (e) => this.onerror?.(e);
    t.onclose = () => this.onclose?.();
    if (this.protocolVersion !== undefined) t.setProtocolVersion(this.protocolVersion);
    return t;
  }

  private settle(t: StreamableHttpClientTransport | SseClientTransport, kind: 'streamable' | 'sse'): void {
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
    case 'streamable':
      return new StreamableHttpClientTransport(url, options);
    case 'sse':
      return new SseClientTransport(url, options);
    default:
      throw new TypeError("mcpwire: option transport must be 'auto', 'streamable' or 'sse'");
  }
}

/** Streamable HTTP with fallback to legacy SSE: `new Client(…).connect(autoTransport(url))`. */
export function autoTransport(url: string | URL, options: StreamableHttpClientOptions = {}): AutoTransport {
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
