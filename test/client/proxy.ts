// A TCP proxy for fault tests: forwards 127.0.0.1:<port> to a target port, and on demand cuts every
// connection it carries (a network failure mid-stream) or freezes them (a peer that went silent
// without closing: only a watchdog notices).
import { createServer, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  /** The response in progress is an SSE stream (until the client sends its next request). */
  streaming: boolean;
  frozen: boolean;
}

export class CuttingProxy {
  /** Connections accepted so far. */
  accepted = 0;
  /** While true, every new connection is reset at once: the server looks down. */
  refusing = false;
  private readonly pairs = new Set<Pair>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<CuttingProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new CuttingProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => proxy.carry(client, targetPort));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get open(): number {
    return this.pairs.size;
  }

  private carry(client: Socket, targetPort: number): void {
    this.accepted++;
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = new (client.constructor as typeof Socket)();
    const pair: Pair = { client, upstream, streaming: false, frozen: false };
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.connect(targetPort, '127.0.0.1', () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('data', () => {
        // A new request: the previous response is over as far as the client knows.
        pair.streaming = false;
        if (pair.frozen) {
          pair.frozen = false;
          upstream.pipe(client);
          upstream.resume();
        }
      });
      upstream.on('data', (chunk: Buffer) => {
        if (chunk.includes('text/event-stream')) pair.streaming = true;
      });
    });
  }

  /** Cuts every connection now (both sides see a reset); returns how many. */
  cutAll(): number {
    const n = this.pairs.size;
    for (const p of [...this.pairs]) {
      p.client.resetAndDestroy();
      p.upstream.destroy();
    }
    return n;
  }

  /**
   * Stops forwarding server bytes on every connection carrying an SSE stream now, leaving it open
   * (idle pooled connections are spared: a request on one would otherwise hang).
   */
  freezeStreams(): number {
    let n = 0;
    for (const p of this.pairs) {
      if (!p.streaming || p.frozen) continue;
      p.frozen = true;
      p.upstream.unpipe(p.client);
      p.upstream.pause();
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
