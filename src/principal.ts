// Who a request speaks for: sessions are bound to it, and per-principal limits count by it. A static
// token, or an OAuth token's subject, stands for one holder; an OAuth client id without a subject
// stands for every user of that client, so limits meant for one holder do not apply to it.

export const tokenPrincipal = (digestHex: string): string => `token:${digestHex}`;
export const subjectPrincipal = (sub: string): string => `sub:${sub}`;
export const clientPrincipal = (clientId: string): string => `client:${clientId}`;

/** The principal per-principal limits count by: none for anonymous requests or a whole OAuth client. */
export function limitedPrincipal(principal: string | undefined): string | undefined {
  return principal === undefined || principal.startsWith('client:') ? undefined : principal;
}
