// What the client told the server about its session, so that a new session can be told the same
// after the old one is gone (a server restart): the initialize handshake as the client sent it,
// its log level, and its resource subscriptions.
import type { JSONRPCMessage, JSONRPCNotification, JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';

/** Subscriptions remembered for replay; past this many, new ones are not remembered. */
export const MAX_REMEMBERED_SUBSCRIPTIONS = 1_000;

export class SessionRecord {
  initialize: JSONRPCRequest | undefined;
  initialized: JSONRPCNotification | undefined;
  logLevel: string | undefined;
  readonly subscriptions = new Set<string>();
  /** Subscriptions that were not remembered because of the bound. */
  forgotten = 0;
  private replays = 0;

  constructor(private readonly maxSubscriptions = MAX_REMEMBERED_SUBSCRIPTIONS) {}

  /** Looks at a client→server message on its way out. */
  observe(message: JSONRPCMessage): void {
    const m = message as { method?: string; id?: unknown; params?: Record<string, unknown> };
    switch (m.method) {
      case 'initialize':
        if (m.id !== undefined) this.initialize = message as JSONRPCRequest;
        break;
      case 'notifications/initialized':
        this.initialized = message as JSONRPCNotification;
        break;
      case 'logging/setLevel':
        if (typeof m.params?.level === 'string') this.logLevel = m.params.level;
        break;
      case 'resources/subscribe':
        if (typeof m.params?.uri !== 'string' || this.subscriptions.has(m.params.uri)) break;
        if (this.subscriptions.size < this.maxSubscriptions) this.subscriptions.add(m.params.uri);
        else this.forgotten++;
        break;
      case 'resources/unsubscribe':
        if (typeof m.params?.uri === 'string') this.subscriptions.delete(m.params.uri);
        break;
    }
  }

  /**
   * The requests that rebuild the session, in order, under ids of their own (so their responses are
   * never mistaken for the client's): initialize first, then the log level and the subscriptions.
   * The `notifications/initialized` goes between the first and the rest.
   */
  replay(): { initialize: JSONRPCRequest; initialized: JSONRPCNotification; rest: JSONRPCRequest[] } | undefined {
    if (!this.initialize) return undefined;
    const id = () => `mcpwire-replay-${++this.replays}`;
    const rest: JSONRPCRequest[] = [];
    if (this.logLevel !== undefined) rest.push({ jsonrpc: '2.0', id: id(), method: 'logging/setLevel', params: { level: this.logLevel } });
    for (const uri of this.subscriptions) rest.push({ jsonrpc: '2.0', id: id(), method: 'resources/subscribe', params: { uri } });
    return {
      initialize: { ...this.initialize, id: id() },
      initialized: this.initialized ?? { jsonrpc: '2.0', method: 'notifications/initialized' },
      rest,
    };
  }
}
