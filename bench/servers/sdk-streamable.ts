// The official SDK 1.x, Streamable HTTP: StreamableHTTPServerTransport on node:http, one transport
// and one McpServer per session, wired as the SDK's examples do (the body parsed first, as
// express.json() does there).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { portArg, ready } from './args.js';
import { createBenchServer } from './bench-tools.js';

const transports = new Map<string, StreamableHTTPServerTransport>();

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const http = createServer(async (req, res) => {
  try {
    if (req.url !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    const sessionId = req.headers['mcp-session-id'] as string | undefined;
    const existing = sessionId === undefined ? undefined : transports.get(sessionId);
    if (req.method === 'POST') {
      const body = await jsonBody(req);
      if (existing) {
        await existing.handleRequest(req, res, body);
        return;
      }
      if (sessionId === undefined && isInitializeRequest(body)) {
        const transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => void transports.set(id, transport),
        });
        transport.onclose = () => {
          if (transport.sessionId) transports.delete(transport.sessionId);
        };
        await createBenchServer().connect(transport);
        await transport.handleRequest(req, res, body);
        return;
      }
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: no valid session ID' }, id: null }));
      return;
    }
    if (!existing) {
      res.writeHead(400).end('Invalid or missing session ID');
      return;
    }
    await existing.handleRequest(req, res);
  } catch {
    if (!res.headersSent) res.writeHead(500).end();
  }
});
http.listen(portArg(), '127.0.0.1', () => ready((http.address() as { port: number }).port));
process.on('SIGTERM', () => process.exit(0));
