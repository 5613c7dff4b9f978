// The live dashboard on a handler: the page at `/`, its two static files, and the admin feed at
// `/_events`. When the handler has auth, all four need it too: a bearer header, or the cookie pass
// that visiting `/?token=…` once sets (see auth.ts). The feed shows a viewer the sessions of its own
// principal only (the pass's, or the bearer token's).
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../../jsonrpc.js';
import { readBody } from '../../http/body.js';
import { sendError } from '../../http/responses.js';
import type { McpHandler } from '../../server.js';
import { DashboardAuth } from './auth.js';
import { DashboardFeed } from './feed.js';

export interface DashboardOptions {
  /** Admin feeds open at once. Default 8. */
  maxFeeds?: number;
  /** How long the cookie pass lasts, in seconds. Default 12 h. */
  passMaxAgeS?: number;
  /** Interval of the counters on the feed, in ms. Default 1000. */
  tickMs?: number;
  /** Unsent bytes a feed may have before it is cut (the browser reconnects). Default 256 KiB. */
  maxBufferedBytes?: number;
}

export interface Dashboard {
  /** Admin feeds open now. */
  readonly openFeeds: number;
  close(): void;
}

/** Built next to this module: `src/serve/dashboard/public` under tsx, `dist/serve/dashboard/public` once built. */
const PUBLIC = new URL('./public/', import.meta.url);

const ASSETS: [path: string, file: string, type: string][] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/_dashboard/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/_dashboard/app.css', 'app.css', 'text/css; charset=utf-8'],
  ['/_dashboard/icon.svg', 'icon.svg', 'image/svg+xml'],
];

const PAGE_HEADERS = {
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  // Nothing to other origins; not 'no-referrer', which makes the sign-in form post `Origin: null`
  // (refused by the Origin check).
  'Referrer-Policy': 'same-origin',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
};

const LOGIN_PAGE = `<!doctype html><meta charset="utf-8"><title>mcpwire · sign in</title>
<link rel="stylesheet" href="/_dashboard/app.css"><link rel="icon" href="/_dashboard/icon.svg">
<main class="login"><h1>mcpwire</h1><p>This server needs a token.</p>
<form method="post" action="/"><input type="password" name="token" placeholder="bearer token" autofocus required><button>Open the dashboard</button></form></main>`;

export function dashboardRoutes(handler: McpHandler, options: DashboardOptions = {}): Dashboard {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [path, file, type] of ASSETS) {
    const at = new URL(file, PUBLIC);
    try {
      files.set(path, { body: readFileSync(at), type });
    } catch {
      throw new Error(`mcpwire: the dashboard's ${file} is missing from ${fileURLToPath(PUBLIC)} (run npm run build)`);
    }
  }
  const auth = new DashboardAuth(handler.options.auth, options.passMaxAgeS ?? 12 * 3600, () => handler.signingKey('dashboard-pass'));
  const feed = new DashboardFeed(handler, {
    maxFeeds: options.maxFeeds ?? 8,
    maxBufferedBytes: options.maxBufferedBytes ?? 256 * 1024,
    tickMs: options.tickMs ?? 1000,
  });

  // Refusals count in the engine's httpErrors, as the handler's own do (a token guessed here shows too).
  const unauthorized = (res: ServerResponse) => {
    handler.stats.httpErrors++;
    sendError(res, 401, ErrorCode.ServerError, 'Unauthorized: open /?token=… once, or send a bearer token', { 'WWW-Authenticate': 'Bearer realm="mcpwire"' });
  };
  const signIn = (res: ServerResponse, refused: boolean) => {
    handler.stats.httpErrors++;
    res.writeHead(401, { ...PAGE_HEADERS, 'Content-Type': 'text/html; charset=utf-8' });
    res.end(refused ? LOGIN_PAGE.replace('needs a token.', 'needs a token; that one was refused.') : LOGIN_PAGE);
  };

  const page = async (req: IncomingMessage, res: ServerResponse, query: string) => {
    // The sign-in form posts the token, so that a typed token never lands in a URL (history, proxy logs).
    const body = req.method === 'POST' ? await readBody(req, 8192) : undefined;
    const token = new URLSearchParams(body ? (body.ok ? body.text : '') : query).get('token');
    if (token !== null && auth.enabled) {
      const setCookie = await auth.login(token, req);
      if (!setCookie) {
        signIn(res, true);
        return;
      }
      // The token leaves the address bar (and the history) at once.
      res.writeHead(303, { Location: '/', 'Set-Cookie': setCookie, 'Cache-Control': 'no-store' });
      res.end();
      return;
    }
    if (!(await auth.viewer(req))) {
      signIn(res, false);
      return;
    }
    serveFile(res, '/');
  };

  const serveFile = (res: ServerResponse, path: string) => {
    const f = files.get(path)!;
    res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': f.type, 'Content-Length': f.body.length });
    res.end(f.body);
  };

  handler.addRoute('/', ({ req, res, query }) => page(req, res, query), { auth: false, methods: ['GET', 'POST'] });
  // The stylesheet and the icon are public: the sign-in page uses them.
  handler.addRoute('/_dashboard/app.css', ({ res }) => serveFile(res, '/_dashboard/app.css'), { auth: false });
  handler.addRoute('/_dashboard/icon.svg', ({ res }) => serveFile(res, '/_dashboard/icon.svg'), { auth: false });
  handler.addRoute(
    '/_dashboard/app.js',
    async ({ req, res }) => ((await auth.viewer(req)) ? serveFile(res, '/_dashboard/app.js') : unauthorized(res)),
    { auth: false },
  );
  handler.addRoute(
    '/_events',
    async ({ req, res }) => {
      const viewer = await auth.viewer(req);
      if (viewer) feed.attach(res, viewer.principal);
      else unauthorized(res);
    },
    { auth: false },
  );
  return {
    get openFeeds() {
      return feed.open;
    },
    close: () => feed.close(),
  };
}
