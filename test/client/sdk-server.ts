// A server built only of the official SDK's own transports, wired on node:http the way the SDK's
// examples do (one transport and one McpServer per session): the peer mcpwire's client must
// interoperate with. Unknown sessions get 404 with a JSON-RPC -32001 body, as the spec asks.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createEverythingServer } from '../fixtures/everything.js';

export interface SdkServer {
  url: string;
  port: number;
  /** Every request seen: `METHOD path`, with the headers the tests look at. */
  requests: Array<{ line: string; authorization?: string; custom?: string; lastEventId?: string }>;
  legacy: Map<string, SSEServerTransport>;
  streamable: Map<string, StreamableHTTPServerTransport>;
  close(): Promise<void>;
}

export interface SdkServerOptions {
  /** Serve Streamable HTTP on /mcp (default true); without it, /mcp is a plain 404. */
  streamable?: boolean;
  /** Give the Streamable transports the SDK's example event store (resumable POST streams). */
  eventStore?: boolean;
  port?: number;
}

function notFound(res: ServerResponse, message: string): void {
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message } }));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export async function startSdkServer(options: SdkServerOptions = {}): Promise<SdkServer> {
  const legacy = new Map<string, SSEServerTransport>();
  const streamable = new Map<string, StreamableHTTPServerTransport>();
  const requests: SdkServer['requests'] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({
      line: `${req.method} ${url.pathname}`,
      authorization: req.headers.authorization,
      custom: req.headers['x-custom'] as string | undefined,
      lastEventId: req.headers['last-event-id'] as string | undefined,
    });
    if (url.pathname === '/sse' && req.method === 'GET') {
      const t = new SSEServerTransport('/messages', res);
      legacy.set(t.sessionId, t);
      res.on('close', () => legacy.delete(t.sessionId));
      await createEverythingServer().connect(t);
      return;
    }
    if (url.pathname === '/messages' && req.method === 'POST') {
      const t = legacy.get(url.searchParams.get('sessionId') ?? '');
      if (!t) return notFound(res, 'Session not found');
      await t.handlePostMessage(req, res);
      return;
    }
    if (url.pathname === '/mcp' && options.streamable !== false) {
      const id = req.headers['mcp-session-id'] as string | undefined;
      if (id !== undefined) {
        const t = streamable.get(id);
        if (!t) return notFound(res, 'Session not found');
        await t.handleRequest(req, res);
        return;
      }
      if (req.method !== 'POST') {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Mcp-Session-Id header is required' } }));
        return;
      }
      const body = await readJson(req);
      if (!isInitializeRequest(body)) {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Mcp-Session-Id header is required' } }));
        return;
      }
      const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        ...(options.eventStore ? { eventStore: new InMemoryEventStore(), retryInterval: 50 } : {}),
        onsessioninitialized: (sid) => void streamable.set(sid, t),
      });
      t.onclose = () => {
        if (t.sessionId) streamable.delete(t.sessionId);
      };
      await createEverythingServer().connect(t);
      await t.handleRequest(req, res, body);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('Not Found');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    legacy,
    streamable,
    async close() {
      for (const t of [...legacy.values(), ...streamable.values()]) await t.close().catch(() => {});
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
