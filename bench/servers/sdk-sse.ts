// The official SDK 1.x, legacy HTTP+SSE: SSEServerTransport on node:http, one transport and one
// McpServer per session, wired as the SDK's examples do.
import { createServer } from 'node:http';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { portArg, ready } from './args.js';
import { createBenchServer } from './bench-tools.js';

const transports = new Map<string, SSEServerTransport>();

const http = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    if (req.method === 'GET' && url.pathname === '/sse') {
      const transport = new SSEServerTransport('/messages', res);
      transports.set(transport.sessionId, transport);
      res.on('close', () => transports.delete(transport.sessionId));
      await createBenchServer().connect(transport);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/messages') {
      const transport = transports.get(url.searchParams.get('sessionId') ?? '');
      if (!transport) {
        res.writeHead(404).end('Session not found');
        return;
      }
      await transport.handlePostMessage(req, res);
      return;
    }
    res.writeHead(404).end();
  } catch {
    if (!res.headersSent) res.writeHead(500).end();
  }
});
http.listen(portArg(), '127.0.0.1', () => ready((http.address() as { port: number }).port));
process.on('SIGTERM', () => process.exit(0));
