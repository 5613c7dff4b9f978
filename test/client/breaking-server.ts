// A Streamable HTTP server that misbehaves on purpose: it breaks every request's response stream
// before its first event id (nothing to resume from, so the client transport gives up on the
// request at once), and lets the test write whatever it likes on the GET stream afterwards.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';

export interface BreakingServer {
  url: string;
  /** The GET stream, once the client opened it. */
  getStream(): ServerResponse | undefined;
  /** Ids of the requests whose streams were broken, in order. */
  broken: RequestId[];
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<{ id?: RequestId; method?: string; params?: { protocolVersion?: string } }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

export const sseEvent = (m: object) => `data: ${JSON.stringify(m)}\n\n`;

export async function startBreakingServer(): Promise<BreakingServer> {
  let getStream: ServerResponse | undefined;
  const broken: RequestId[] = [];
  const server = createServer(async (req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': listening\n\n');
      getStream = res;
      return;
    }
    if (req.method === 'DELETE') return void res.writeHead(200).end();
    const m = await body(req);
    if (m.method === 'initialize') {
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's1' });
      const result = { protocolVersion: m.params!.protocolVersion, capabilities: { tools: {}, logging: {} }, serverInfo: { name: 'breaking', version: '1' } };
      res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
      return;
    }
    if (m.id === undefined) return void res.writeHead(202).end();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': working\n\n', () =>
      setTimeout(() => {
        broken.push(m.id!);
        res.destroy();
      }, 20),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    getStream: () => getStream,
    broken,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
