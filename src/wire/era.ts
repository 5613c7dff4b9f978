// Which era a POST to the MCP endpoint belongs to: 2026-07-28 (stateless, per-request `_meta`) or
// 2025 (sessions), decided by the body with the headers as a cross-check, in the order of the
// decision table in research/spec-2026-07-28.md §2. A 2026 request that fails a check is refused
// here with the exact code; it never reaches the 2025 machinery.
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, type ParsedMessage, type RequestId } from '../jsonrpc.js';
import { LOG_SEVERITY } from '../store/change.js';

/** Revisions served statelessly; the same list is discover's `supportedVersions` and -32022's `supported`. */
export const MODERN_PROTOCOL_VERSIONS = ['2026-07-28'] as const;

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

export const ModernErrorCode = {
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
} as const;

/** The 2026-07-28 request methods; anything else (initialize, ping, logging/setLevel, …) is -32601 + 404. */
const MODERN_METHODS = new Set([
  'server/discover',
  'subscriptions/listen',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
]);

/** Methods whose `Mcp-Name` header mirrors `params.name` or `params.uri`. */
const NAMED_BY: Record<string, 'name' | 'uri'> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

export interface RequestMeta {
  protocolVersion: string;
  clientCapabilities: Record<string, unknown>;
  clientInfo: { name: string; version: string } | undefined;
  logLevel: string | undefined;
}

export interface ModernRequest {
  id: RequestId;
  method: string;
  params: Record<string, unknown>;
  meta: RequestMeta;
}

export type Era =
  | { era: 'legacy' }
  | { era: 'modern-request'; request: ModernRequest }
  | { era: 'modern-notification' }
  | { era: 'refused'; status: number; code: number; message: string; id: RequestId | null; data?: unknown };

const LOG_LEVELS = new Set(LOG_SEVERITY);

/**
 * A header value that may belong to a modern request: one sorting at or after 2026-07-28 ("v999.0.0"
 * and "zzz" do). The body decides: with a 2026 `_meta` claim it is refused the 2026 way (-32022).
 */
export function mayBeModernVersion(v: string | undefined): boolean {
  return v !== undefined && v >= MODERN_PROTOCOL_VERSIONS[0];
}

/**
 * A header value naming a modern revision on its own: 2026-07-28 or a later date. Without a `_meta`
 * claim, anything else ("zzz") is an unsupported 2025 version: 400, as those revisions say.
 */
function isModernVersion(v: string | undefined): boolean {
  return mayBeModernVersion(v) && /^\d{4}-\d{2}-\d{2}$/.test(v!);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v.join(', ') : v).trim();
}

function metaOf(message: unknown): Record<string, unknown> | undefined {
  const params = (message as { params?: { _meta?: unknown } }).params;
  const meta = params?._meta;
  return typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? (meta as Record<string, unknown>) : undefined;
}

function claims(p: ParsedMessage): boolean {
  return p.kind !== 'response' && metaOf(p.message)?.[META.protocolVersion] !== undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The era of a parsed POST body. Cheap for 2025 traffic: one property lookup per message, plus the
 * header when one is sent.
 */
export function classify(messages: ParsedMessage[], batch: boolean, headers: IncomingHttpHeaders): Era {
  const headerVersion = header(headers, 'mcp-protocol-version');
  const modernHeader = isModernVersion(headerVersion);
  if (batch) {
    if (modernHeader || messages.some(claims)) {
      return refuse(400, ErrorCode.InvalidRequest, 'Invalid Request: batches are not part of protocol revision 2026-07-28', null);
    }
    return { era: 'legacy' };
  }
  const p = messages[0]!;
  if (p.kind === 'response') return { era: 'legacy' };
  const meta = metaOf(p.message);
  const claim = meta?.[META.protocolVersion];
  if (p.kind === 'notification') return claim !== undefined || modernHeader ? { era: 'modern-notification' } : { era: 'legacy' };
  const m = p.message as { id: RequestId; method: string; params?: Record<string, unknown> };
  if (claim === undefined) {
    if (!modernHeader) return { era: 'legacy' };
    if (m.method === 'initialize') {
      return refuse(400, ModernErrorCode.HeaderMismatch, 'Header mismatch: initialize belongs to the 2025 revisions, but MCP-Protocol-Version names a 2026 one', m.id);
    }
    const missing = [META.protocolVersion, META.clientCapabilities].filter((k) => meta?.[k] === undefined);
    return refuse(400, ErrorCode.InvalidParams, `Invalid params: _meta is missing ${missing.join(' and ')}`, m.id);
  }
  return validate(m, meta!, claim, headerVersion, headers);
}

function validate(
  m: { id: RequestId; method: string; params?: Record<string, unknown> },
  meta: Record<string, unknown>,
  claim: unknown,
  headerVersion: string | undefined,
  headers: IncomingHttpHeaders,
): Era {
  const id = m.id;
  if (typeof claim !== 'string' || claim.length === 0) {
    return refuse(400, ErrorCode.InvalidParams, `Invalid params: _meta["${META.protocolVersion}"] must be a string`, id);
  }
  const caps = meta[META.clientCapabilities];
  if (!isObject(caps)) {
    return refuse(400, ErrorCode.InvalidParams, `Invalid params: _meta["${META.clientCapabilities}"] is required and must be an object`, id);
  }
  const info = meta[META.clientInfo];
  if (info !== undefined && !(isObject(info) && typeof info.name === 'string' && typeof info.version === 'string')) {
    return refuse(400, ErrorCode.InvalidParams, `Invalid params: _meta["${META.clientInfo}"] must have a string name and version`, id);
  }
  const logLevel = meta[META.logLevel];
  if (logLevel !== undefined && !(typeof logLevel === 'string' && LOG_LEVELS.has(logLevel))) {
    return refuse(400, ErrorCode.InvalidParams, `Invalid params: _meta["${META.logLevel}"] is not a log level`, id);
  }
  if (headerVersion === undefined) {
    return refuse(400, ModernErrorCode.HeaderMismatch, 'Header mismatch: the MCP-Protocol-Version header is required', id);
  }
  if (headerVersion !== claim) {
    return refuse(400, ModernErrorCode.HeaderMismatch, 'Header mismatch: MCP-Protocol-Version does not match _meta protocolVersion', id);
  }
  const methodHeader = header(headers, 'mcp-method');
  if (methodHeader === undefined) return refuse(400, ModernErrorCode.HeaderMismatch, 'Header mismatch: the Mcp-Method header is required', id);
  if (methodHeader !== m.method) return refuse(400, ModernErrorCode.HeaderMismatch, 'Header mismatch: Mcp-Method does not match the method in the body', id);
  if (!(MODERN_PROTOCOL_VERSIONS as readonly string[]).includes(claim)) {
    return refuse(400, ModernErrorCode.UnsupportedProtocolVersion, 'Unsupported protocol version', id, {
      supported: [...MODERN_PROTOCOL_VERSIONS],
      requested: claim,
    });
  }
  const named = NAMED_BY[m.method];
  if (named) {
    const raw = header(headers, 'mcp-name');
    if (raw === undefined) return refuse(400, ModernErrorCode.HeaderMismatch, `Header mismatch: the Mcp-Name header is required for ${m.method}`, id);
    const value = decodeHeaderValue(raw);
    if (value === undefined) return refuse(400, ModernErrorCode.HeaderMismatch, 'Header mismatch: the Mcp-Name header value is not valid', id);
    if (value !== m.params?.[named]) return refuse(400, ModernErrorCode.HeaderMismatch, `Header mismatch: Mcp-Name does not match params.${named}`, id);
  }
  if (!MODERN_METHODS.has(m.method)) {
    // The method is not repeated: what a client sent is never echoed back.
    return refuse(404, ErrorCode.MethodNotFound, `Method not found: not a method of protocol revision ${claim}`, id);
  }
  return {
    era: 'modern-request',
    request: {
      id,
      method: m.method,
      params: m.params ?? {},
      meta: {
        protocolVersion: claim,
        clientCapabilities: caps,
        clientInfo: info as RequestMeta['clientInfo'],
        logLevel: logLevel as string | undefined,
      },
    },
  };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// ignoreBOM keeps a leading U+FEFF: dropped, '\uFEFFecho' would pass as 'echo'.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A header value as the body would carry it: `=?base64?…?=` decoded (strict alphabet and padding,
 * valid UTF-8), anything else taken literally if it is plain visible ASCII. `undefined` when invalid.
 */
export function decodeHeaderValue(raw: string): string | undefined {
  if (raw.startsWith('=?base64?') && raw.endsWith('?=') && raw.length >= 11) {
    const b64 = raw.slice(9, -2);
    if (!BASE64.test(b64)) return undefined;
    try {
      return UTF8.decode(Buffer.from(b64, 'base64'));
    } catch {
      return undefined;
    }
  }
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) return undefined;
  }
  return raw;
}

function refuse(status: number, code: number, message: string, id: RequestId | null, data?: unknown): Era {
  return data === undefined ? { era: 'refused', status, code, message, id } : { era: 'refused', status, code, message, id, data };
}
