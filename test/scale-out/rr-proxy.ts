// A plain round-robin HTTP proxy: every request goes to the next backend, no stickiness, no
// connection reuse (agent: false); request bodies are read first so that a refused backend (a dead
// instance) can be skipped; responses stream back.
import { request, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RoundRobinProxy {
  readonly url: string;
  readonly counts: number[];
  /** Destroys every open client connection (as when a network path dies). */
  cut(): void;
  close(): Promise<void>;
}

export async function startRoundRobin(backends: () => number[]): Promise<RoundRobinProxy> {
  let next = 0;
  const counts: number[] = [];
  const sockets = new Set<Socket>();
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, tries: number): void => {
    const ports = backends();
    const i = next++ % ports.length;
    const upstream = request(
      { host: '127.0.0.1', port: ports[i], method: req.method, path: req.url, headers: req.headers, agent: false },
      (up) => {
        counts[i] = (counts[i] ?? 0) + 1;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        res.on('close', () => up.destroy());
        // A backend that dies mid-response cuts the client's connection too, as a real proxy does.
        up.on('close', () => {
          if (!res.writableEnded) res.destroy();
        });
      },
    );
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      // A dead backend refuses before any byte is exchanged: the request goes to the next one.
      if (err.code === 'ECONNREFUSED' && tries < ports.length && !res.headersSent) {
        forward(req, res, body, tries + 1);
        return;
      }
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    upstream.end(body);
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => forward(req, res, Buffer.concat(chunks), 1));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    cut() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
