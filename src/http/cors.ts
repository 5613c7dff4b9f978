// CORS for browser clients: off unless configured; when on, the MCP headers are allowed and exposed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CorsOptions } from '../options.js';

const ALLOW_HEADERS = [
  'Content-Type',
  'Accept',
  'Authorization',
  'Mcp-Session-Id',
  'MCP-Protocol-Version',
  'Last-Event-ID',
  'Mcp-Method',
  'Mcp-Name',
].join(', ');
const EXPOSE_HEADERS = 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate';
const ALLOW_METHODS = 'GET, POST, DELETE, OPTIONS';

export class Cors {
  private readonly origins: Set<string> | '*';

  constructor(private readonly opts: CorsOptions) {
    this.origins = opts.origins === '*' ? '*' : new Set(opts.origins.map((o) => o.trim().toLowerCase().replace(/\/+$/, '')));
  }

  private allowed(origin: string): boolean {
    return this.origins === '*' || this.origins.has(origin.trim().toLowerCase());
  }

  /** Adds the CORS response headers for an allowed origin. */
  apply(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (!origin || !this.allowed(origin)) return;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Expose-Headers', EXPOSE_HEADERS);
  }

  /** Answers a preflight request. */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (!origin || !this.allowed(origin)) {
      res.writeHead(403, { 'Content-Length': 0 });
      res.end();
      return;
    }
    res.writeHead(204, {
      'Access-Control-Allow-Origin': origin,
      Vary: 'Origin',
      'Access-Control-Allow-Methods': ALLOW_METHODS,
      'Access-Control-Allow-Headers': ALLOW_HEADERS,
      'Access-Control-Max-Age': String(this.opts.maxAgeS ?? 86_400),
      'Content-Length': 0,
    });
    res.end();
  }
}
