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
const MCP_PARAM = /^mcp-param-[!#$%&'*+.^_`|~0-9a-z-]{1,64}$/i;
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
    // 2026-07-28 Mcp-Param-{Name} headers have tool-defined names: allowed by name, as asked for.
    const params = String(req.headers['access-control-request-headers'] ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter((h) => MCP_PARAM.test(h))
      .slice(0, 32);
    res.writeHead(204, {
      'Access-Control-Allow-Origin': origin,
      Vary: 'Origin',
      'Access-Control-Allow-Methods': ALLOW_METHODS,
      'Access-Control-Allow-Headers': params.length > 0 ? `${ALLOW_HEADERS}, ${params.join(', ')}` : ALLOW_HEADERS,
      'Access-Control-Max-Age': String(this.opts.maxAgeS ?? 86_400),
      'Content-Length': 0,
    });
    res.end();
  }
}
