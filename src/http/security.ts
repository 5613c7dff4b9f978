// DNS-rebinding protection (Host and Origin) and bearer-token authentication.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { AuthOptions, CorsOptions } from '../options.js';
import { clientPrincipal, subjectPrincipal, tokenPrincipal } from '../principal.js';

/** The host name of a `Host` header value (`name`, `name:port`, `[v6]:port`), lower-cased. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

export class HostCheck {
  private readonly names: Set<string> | undefined;

  constructor(allowed: string[] | false) {
    this.names = allowed === false ? undefined : new Set(allowed.map((h) => h.toLowerCase()));
  }

  allows(host: string | undefined): boolean {
    if (!this.names) return true;
    if (!host) return false;
    const h = host.trim().toLowerCase();
    return this.names.has(h) || this.names.has(hostName(h));
  }
}

export class OriginCheck {
  private readonly origins: Set<string>;
  private readonly any: boolean;

  constructor(allowedOrigins: string[], cors: CorsOptions | undefined) {
    this.any = cors?.origins === '*' || allowedOrigins.includes('*');
    const list = [...allowedOrigins, ...(Array.isArray(cors?.origins) ? cors.origins : [])];
    this.origins = new Set(list.map(normalizeOrigin));
  }

  /** A request without Origin (not a browser) passes; a browser's must be its own origin or listed. */
  allows(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    if (this.any) return true;
    const o = normalizeOrigin(origin);
    if (this.origins.has(o)) return true;
    if (!host) return false;
    const sep = o.indexOf('://');
    return sep !== -1 && o.slice(sep + 3) === host.trim().toLowerCase();
  }
}

function normalizeOrigin(o: string): string {
  return o.trim().toLowerCase().replace(/\/+$/, '');
}

export type AuthResult =
  | { ok: true; authInfo: AuthInfo | undefined; principal: string | undefined }
  | { ok: false; error: 'invalid_request' | 'invalid_token' };

export class BearerAuth {
  private readonly digests: Buffer[];

  constructor(private readonly opts: AuthOptions) {
    this.digests = (opts.tokens ?? []).map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0 || this.opts.verifyToken !== undefined;
  }

  async check(req: IncomingMessage): Promise<AuthResult> {
    const header = req.headers.authorization;
    if (!header) return { ok: false, error: 'invalid_request' };
    const match = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i.exec(header);
    if (!match) return { ok: false, error: 'invalid_token' };
    return this.checkToken(match[1]!, req);
  }

  /** Checks a token that came another way than the Authorization header (the dashboard's login). */
  async checkToken(token: string, req: IncomingMessage): Promise<AuthResult> {
    const d = digest(token);
    for (let i = 0; i < this.digests.length; i++) {
      if (timingSafeEqual(d, this.digests[i]!)) {
        const principal = tokenPrincipal(d.subarray(0, 12).toString('hex'));
        return { ok: true, principal, authInfo: { token, clientId: principal, scopes: [] } };
      }
    }
    if (this.opts.verifyToken) {
      const info = await this.opts.verifyToken(token, req);
      if (info) {
        if (info.expiresAt !== undefined && info.expiresAt * 1000 < Date.now()) return { ok: false, error: 'invalid_token' };
        const sub = info.extra?.sub;
        return { ok: true, authInfo: info, principal: typeof sub === 'string' ? subjectPrincipal(sub) : clientPrincipal(info.clientId) };
      }
    }
    return { ok: false, error: 'invalid_token' };
  }

  challenge(error: 'invalid_request' | 'invalid_token', resourceMetadataUrl: string | undefined): string {
    let h = 'Bearer realm="mcpwire"';
    if (error === 'invalid_token') h += ', error="invalid_token"';
    if (resourceMetadataUrl) h += `, resource_metadata="${resourceMetadataUrl}"`;
    return h;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
