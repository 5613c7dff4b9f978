// How a browser gets past the handler's bearer auth: an `EventSource` cannot send an Authorization
// header, so visiting `/?token=…` once trades a valid token for a cookie holding a signed, expiring
// pass (never the token itself); the dashboard's requests then carry the cookie by themselves.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AuthOptions } from '../../options.js';
import { BearerAuth } from '../../http/security.js';

export const COOKIE = 'mcpwire_dashboard';

/**
 * The cookie's name for the port the browser sees (the Host header's): browsers share a host's cookies
 * between its ports, so two servers on one host would otherwise overwrite each other's pass. Not the
 * socket's port: behind a balancer, every instance must read the cookie any of them set.
 */
export function cookieName(req: IncomingMessage): string {
  const port = /:(\d+)$/.exec(req.headers.host ?? '')?.[1];
  return port ? `${COOKIE}_${port}` : COOKIE;
}

export class DashboardAuth {
  private readonly bearer: BearerAuth | undefined;
  /**
   * The pass's signing key: every instance's (from the secret they share) behind a balancer, else
   * this process's own, so that a restart signs passes out. Nothing secret is stored in the pass.
   */
  constructor(
    auth: AuthOptions | undefined,
    private readonly maxAgeS: number,
    private readonly key: () => Buffer,
  ) {
    const b = auth ? new BearerAuth(auth) : undefined;
    this.bearer = b?.enabled ? b : undefined;
  }

  get enabled(): boolean {
    return this.bearer !== undefined;
  }

  /** A request with a valid pass cookie or a valid bearer header. */
  async allows(req: IncomingMessage): Promise<boolean> {
    if (!this.bearer) return true;
    if (this.validPass(cookie(req.headers.cookie, cookieName(req)))) return true;
    if (req.headers.authorization) return (await this.bearer.check(req)).ok;
    return false;
  }

  /** The Set-Cookie value for a valid token, or undefined. */
  async login(token: string, req: IncomingMessage): Promise<string | undefined> {
    if (!this.bearer || token.length > 4096) return undefined;
    const r = await this.bearer.checkToken(token, req);
    if (!r.ok) return undefined;
    let expires = Date.now() + this.maxAgeS * 1000;
    const tokenExpires = r.authInfo?.expiresAt;
    if (tokenExpires !== undefined) expires = Math.min(expires, tokenExpires * 1000);
    const pass = `${expires}.${this.sign(String(expires))}`;
    const maxAge = Math.max(0, Math.floor((expires - Date.now()) / 1000));
    return `${cookieName(req)}=${pass}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict`;
  }

  private validPass(pass: string | undefined): boolean {
    if (!pass) return false;
    const dot = pass.indexOf('.');
    if (dot <= 0) return false;
    const expires = pass.slice(0, dot);
    if (!/^\d{1,15}$/.test(expires) || Number(expires) < Date.now()) return false;
    const given = Buffer.from(pass.slice(dot + 1), 'base64url');
    const want = Buffer.from(this.sign(expires), 'base64url');
    return given.length === want.length && timingSafeEqual(given, want);
  }

  private sign(value: string): string {
    return createHmac('sha256', this.key()).update(value).digest('base64url');
  }
}

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
