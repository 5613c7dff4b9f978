// How a browser gets past the handler's bearer auth: an `EventSource` cannot send an Authorization
// header, so visiting `/?token=…` once trades a valid token for a cookie holding a signed, expiring
// pass (never the token itself); the dashboard's requests then carry the cookie by themselves. The pass
// names the principal the token stands for (as the MCP endpoint computes it: src/http/security.ts), so
// that the feed shows a viewer that principal's sessions only; the signature covers it and the expiry.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AuthOptions } from '../../options.js';
import { BearerAuth } from '../../http/security.js';

export const COOKIE = 'mcpwire_dashboard';

/** Characters of the pass's principal (base64url) at most. */
const MAX_PRINCIPAL_CHARS = 2048;

/** Who looks at the dashboard: the principal whose sessions it shows (undefined: auth is off). */
export interface Viewer {
  principal: string | undefined;
}

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

  /**
   * Who a request views the dashboard as: its pass's principal, or its bearer header's (the same
   * BearerAuth as the MCP endpoint's, so the same principal its sessions got); undefined when refused.
   * With auth off, everyone views as principal `undefined`, which every session then has.
   */
  async viewer(req: IncomingMessage): Promise<Viewer | undefined> {
    if (!this.bearer) return { principal: undefined };
    const pass = this.validPass(cookie(req.headers.cookie, cookieName(req)));
    if (pass !== undefined) return { principal: pass };
    if (!req.headers.authorization) return undefined;
    const r = await this.bearer.check(req);
    // With auth on, every accepted token stands for a principal; one without would see nothing anyway.
    return r.ok && r.principal !== undefined ? { principal: r.principal } : undefined;
  }

  /** The Set-Cookie value for a valid token, or undefined. */
  async login(token: string, req: IncomingMessage): Promise<string | undefined> {
    if (!this.bearer || token.length > 4096) return undefined;
    const r = await this.bearer.checkToken(token, req);
    if (!r.ok || r.principal === undefined) return undefined;
    const who = Buffer.from(r.principal).toString('base64url');
    // A cookie must stay under the browsers' 4 KiB, and the principal must come back as it went (a
    // lone surrogate in an OAuth subject would come back as U+FFFD: another principal's, maybe). Such a
    // token still works as a bearer header.
    if (who.length > MAX_PRINCIPAL_CHARS || Buffer.from(who, 'base64url').toString() !== r.principal) return undefined;
    let expires = Date.now() + this.maxAgeS * 1000;
    const tokenExpires = r.authInfo?.expiresAt;
    if (tokenExpires !== undefined) expires = Math.min(expires, tokenExpires * 1000);
    const signed = `${expires}.${who}`;
    const pass = `${signed}.${this.sign(signed)}`;
    const maxAge = Math.max(0, Math.floor((expires - Date.now()) / 1000));
    return `${cookieName(req)}=${pass}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict`;
  }

  /**
   * The principal of a valid pass, `<expires>.<principal, base64url>.<HMAC of both>`, or undefined.
   * A pass of the earlier form, `<expires>.<HMAC>`, named no principal: it is refused (sign in again).
   */
  private validPass(pass: string | undefined): string | undefined {
    if (!pass) return undefined;
    const m = /^(\d{1,15})\.([A-Za-z0-9_-]{1,4096})\.([A-Za-z0-9_-]{1,128})$/.exec(pass);
    if (!m || Number(m[1]) < Date.now()) return undefined;
    const signed = `${m[1]}.${m[2]}`;
    const given = Buffer.from(m[3]!, 'base64url');
    const want = Buffer.from(this.sign(signed), 'base64url');
    if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined;
    const principal = Buffer.from(m[2]!, 'base64url').toString();
    return principal === '' ? undefined : principal;
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
