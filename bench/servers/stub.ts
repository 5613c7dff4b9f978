// The platform's limit: node:http speaking both wire formats' shapes with canned replies and no
// MCP logic (no sessions beyond a map of streams, no validation, no SDK). `broadcast` writes the
// same timestamped notifications the real servers send.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { portArg, ready, wallMs } from './args.js';

const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' };
const streams = new Map<string, ServerResponse>();
let nextSession = 0;

interface Message {
  id?: string | number;
  method?: string;
  params?: { name?: string; arguments?: { text?: string; n?: number } };
}

function readJson(req: IncomingMessage, then: (m: Message) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => then(JSON.parse(chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString()) as Message));
}

const event = (json: string) => `event: message\ndata: ${json}\n\n`;

/** The reply to a request, or undefined for a notification; `broadcast` runs before its reply. */
async function reply(m: Message): Promise<string | undefined> {
  if (m.id === undefined) return undefined;
  let result: unknown = {};
  if (m.method === 'initialize') {
    result = { protocolVersion: '2025-06-18', capabilities: { tools: {}, logging: {} }, serverInfo: { name: 'stub', version: '1.0.0' } };
  } else if (m.method === 'tools/call' && m.params?.name === 'broadcast') {
    const n = m.params.arguments?.n ?? 1;
    for (let seq = 1; seq <= n; seq++) {
      const chunk = event(JSON.stringify({ method: 'notifications/message', params: { level: 'info', data: { seq, t: wallMs() } }, jsonrpc: '2.0' }));
      for (const res of streams.values()) res.write(chunk);
      if (seq % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    result = { content: [{ type: 'text', text: `broadcast ${n} to ${streams.size}` }] };
  } else if (m.method === 'tools/call') {
    result = { content: [{ type: 'text', text: m.params?.arguments?.text ?? '' }] };
  }
  return JSON.stringify({ result, jsonrpc: '2.0', id: m.id });
}

function openStream(res: ServerResponse, id: string, first: string): void {
  res.writeHead(200, SSE_HEADERS);
  res.write(first);
  streams.set(id, res);
  res.on('close', () => streams.delete(id));
}

const http = createServer((req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/sse') {
    const id = String(++nextSession);
    openStream(res, id, `event: endpoint\ndata: /messages?sessionId=${id}\n\n`);
  } else if (req.method === 'POST' && url.startsWith('/messages?sessionId=')) {
    const stream = streams.get(url.slice('/messages?sessionId='.length));
    readJson(req, (m) => {
      res.writeHead(202, { 'Content-Length': 8 }).end('Accepted');
      void reply(m).then((r) => r !== undefined && stream?.write(event(r)));
    });
  } else if (req.method === 'POST' && url === '/mcp') {
    readJson(req, (m) => {
      const session = (req.headers['mcp-session-id'] as string | undefined) ?? String(++nextSession);
      void reply(m).then((r) => {
        if (r === undefined) {
          res.writeHead(202, { 'Mcp-Session-Id': session, 'Content-Length': 0 }).end();
          return;
        }
        res.writeHead(200, { ...SSE_HEADERS, 'Mcp-Session-Id': session }).end(event(r));
      });
    });
  } else if (req.method === 'GET' && url === '/mcp') {
    openStream(res, req.headers['mcp-session-id'] as string, ': open\n\n');
  } else {
    res.writeHead(req.method === 'DELETE' ? 200 : 404, { 'Content-Length': 0 }).end();
  }
});
http.listen(portArg(), '127.0.0.1', () => ready((http.address() as { port: number }).port));
process.on('SIGTERM', () => process.exit(0));
