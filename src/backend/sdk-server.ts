// The library backend: an official-SDK server object (`McpServer` or low-level `Server`) per
// session, connected to the session through an SDK `Transport` of ours.
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import type { MaybePromise } from '../store/types.js';
import type { Backend, BackendFactory, BackendHost, SessionContext } from './types.js';

/** What mcpwire needs of a server object: the SDK v1 `McpServer`/`Server` and the v2 `McpServer` fit. */
export interface SdkServerLike {
  connect(transport: SessionTransport): Promise<void>;
  close(): Promise<void>;
}

export type CreateServer = (context: SessionContext) => MaybePromise<SdkServerLike>;

const DONE: Promise<void> = Promise.resolve();

/** The session as an SDK transport: `send` routes into the session's streams, `close` ends it. */
export class SessionTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  readonly sessionId: string;
  private closed = false;

  constructor(private readonly host: BackendHost) {
    this.sessionId = host.sessionId;
  }

  async start(): Promise<void> {}

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    // Not async: a message the session logs at once (the usual case) costs no promise of its own.
    try {
      const logged = this.host.send(message, options?.relatedRequestId);
      return logged instanceof Promise ? logged : DONE;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
    this.host.backendClosed('server closed');
  }
}

export function sdkServerBackend(createServer: CreateServer): BackendFactory {
  return async (host, context): Promise<Backend> => {
    const server = await createServer(context);
    const transport = new SessionTransport(host);
    await server.connect(transport);
    return {
      receive: (message, extra) => transport.onmessage?.(message, extra as MessageExtraInfo),
      close: () => server.close(),
    };
  };
}
