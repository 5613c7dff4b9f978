// Who a request speaks for: sessions are bound to it, and per-principal limits count by it. A static
// token, or an OAuth token's subject, stands for one holder; an OAuth client id without a subject
// stands for every user of that client, so limits meant for one holder do not apply to it.

export const tokenPrincipal = (digestHex: string): string => `token:${digestHex}`;
export const subjectPrincipal = (sub: string): string => `sub:${sub}`;
export const clientPrincipal = (clientId: string): string => `client:${clientId}`;

/** The principal per-principal limits count by: none for anonymous requests or a whole OAuth client. */
function limitedPrincipal(principal: string | undefined): string | undefined {
  return principal === undefined || principal.startsWith('client:') ? undefined : principal;
}

/** Places (sessions, listens) held per principal, for the limits that count by it (see limitedPrincipal). */
export class PrincipalCounts {
  private readonly counts = new Map<string, number>();

  /** Whether `principal` holds `max` places already (never, for one the limits do not count). */
  full(principal: string | undefined, max: number): boolean {
    const p = limitedPrincipal(principal);
    return p !== undefined && (this.counts.get(p) ?? 0) >= max;
  }

  add(principal: string | undefined): void {
    const p = limitedPrincipal(principal);
    if (p !== undefined) this.counts.set(p, (this.counts.get(p) ?? 0) + 1);
  }

  remove(principal: string | undefined): void {
    const p = limitedPrincipal(principal);
    if (p === undefined) return;
    const n = (this.counts.get(p) ?? 1) - 1;
    if (n > 0) this.counts.set(p, n);
    else this.counts.delete(p);
  }
}
