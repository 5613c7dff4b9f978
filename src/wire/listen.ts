// `subscriptions/listen` (2026-07-28): a POST answered by a stream that carries an acknowledgement
// first, then only the change notifications the client opted in to, each stamped with the listen
// request's id; keepalives in between; on shutdown, the listen result and the end of the stream.
// Changes come from the engine's Bus, the same one 2025 sessions are fed from.
import type { ServerResponse } from 'node:http';
import type { RequestId } from '../jsonrpc.js';
import { PrincipalCounts } from '../principal.js';
import { SseConnection, type SseConnections } from '../session/sse-writer.js';
import { MAX_SUBSCRIBED_CHARS } from '../session/subscription-limits.js';
import { changeMethod } from '../store/change.js';
import type { Bus, ChangeEvent } from '../store/types.js';
import { META } from './era.js';

export interface ListenFilter {
  toolsListChanged: boolean;
  promptsListChanged: boolean;
  resourcesListChanged: boolean;
  /** Resource URIs whose updates (and their sub-resources') the client wants. */
  resourceSubscriptions: string[];
}

export interface ListenLimits {
  /** Listen streams open at once on this instance. */
  maxStreams: number;
  /** Listen streams open at once per authenticated principal. */
  maxPerPrincipal: number;
  /** URIs one listen may subscribe to. */
  maxResourceSubscriptions: number;
}

export interface ListenStream {
  id: RequestId;
  filter: ListenFilter;
  uris: Set<string>;
  conn: SseConnection;
  principal: string | undefined;
  serverInfo: unknown;
  /** Called once when the stream is gone, however it went (releases its backend). */
  released: () => void;
}

/** Why a listen request's `notifications` cannot be taken, or the filter it asks for. */
export function parseFilter(value: unknown, maxUris: number): ListenFilter | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'Invalid params: subscriptions/listen needs a notifications object';
  }
  const v = value as Record<string, unknown>;
  for (const k of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const) {
    if (v[k] !== undefined && typeof v[k] !== 'boolean') return `Invalid params: notifications.${k} must be a boolean`;
  }
  const subs = v.resourceSubscriptions;
  if (subs !== undefined && !(Array.isArray(subs) && subs.every((u) => typeof u === 'string' && u.length > 0))) {
    return 'Invalid params: notifications.resourceSubscriptions must be a list of URIs';
  }
  if (Array.isArray(subs) && subs.length > maxUris) return `Invalid params: at most ${maxUris} resourceSubscriptions per listen`;
  if (Array.isArray(subs) && (subs as string[]).reduce((n, u) => n + u.length, 0) > MAX_SUBSCRIBED_CHARS) {
    return `Invalid params: resourceSubscriptions may hold ${MAX_SUBSCRIBED_CHARS} characters of URIs in all`;
  }
  return {
    toolsListChanged: v.toolsListChanged === true,
    promptsListChanged: v.promptsListChanged === true,
    resourcesListChanged: v.resourcesListChanged === true,
    resourceSubscriptions: (subs as string[] | undefined) ?? [],
  };
}

/** What of `wanted` the server's capabilities let it honor; only that goes in the acknowledgement. */
export function honored(wanted: ListenFilter, capabilities: Record<string, unknown>): ListenFilter {
  const cap = (name: string, flag: string) => {
    const c = capabilities[name] as Record<string, unknown> | undefined;
    return typeof c === 'object' && c !== null && c[flag] === true;
  };
  return {
    toolsListChanged: wanted.toolsListChanged && cap('tools', 'listChanged'),
    promptsListChanged: wanted.promptsListChanged && cap('prompts', 'listChanged'),
    resourcesListChanged: wanted.resourcesListChanged && cap('resources', 'listChanged'),
    resourceSubscriptions: cap('resources', 'subscribe') ? [...new Set(wanted.resourceSubscriptions)] : [],
  };
}

/** `uri` is `subscribed` or lies under it (a sub-resource). */
function covers(subscribed: string, uri: string): boolean {
  if (uri === subscribed) return true;
  if (!uri.startsWith(subscribed)) return false;
  return subscribed.endsWith('/') || uri[subscribed.length] === '/';
}

export class ListenHub {
  private readonly streams = new Set<ListenStream>();
  /** Places taken, per principal: its open streams and those being opened. */
  private readonly perPrincipal = new PrincipalCounts();
  /** Listens being opened (their server starting): they hold a place already, so that listens arriving together cannot pass the bounds. */
  private reserved = 0;
  private readonly unsubscribe: () => void;

  constructor(
    bus: Bus,
    private readonly connections: SseConnections,
    readonly limits: ListenLimits,
  ) {
    this.unsubscribe = bus.subscribe((e) => this.deliver(e));
  }

  get size(): number {
    return this.streams.size;
  }

  /** Takes a place for one more listen of this principal, or says why there is none. `open` or `unreserve` gives it back. */
  reserve(principal: string | undefined): string | undefined {
    if (this.streams.size + this.reserved >= this.limits.maxStreams) return 'this server has reached its limit of open subscriptions/listen streams; retry later';
    if (this.perPrincipal.full(principal, this.limits.maxPerPrincipal)) {
      return 'this principal has reached its limit of open subscriptions/listen streams; close one first';
    }
    this.reserved++;
    this.perPrincipal.add(principal);
    return undefined;
  }

  /** The reserved listen will not be opened. */
  unreserve(principal: string | undefined): void {
    this.reserved--;
    this.perPrincipal.remove(principal);
  }

  /** Opens the reserved stream on `res` and writes the acknowledgement, always its first message. */
  open(res: ServerResponse, id: RequestId, filter: ListenFilter, principal: string | undefined, serverInfo: unknown, released: () => void = () => {}): ListenStream {
    const notifications: Record<string, unknown> = {};
    if (filter.toolsListChanged) notifications.toolsListChanged = true;
    if (filter.promptsListChanged) notifications.promptsListChanged = true;
    if (filter.resourcesListChanged) notifications.resourcesListChanged = true;
    if (filter.resourceSubscriptions.length > 0) notifications.resourceSubscriptions = filter.resourceSubscriptions;
    const ack = { jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { _meta: { [META.subscriptionId]: id }, notifications } };
    const conn = new SseConnection(res, this.connections);
    const stream: ListenStream = { id, filter, uris: new Set(filter.resourceSubscriptions), conn, principal, serverInfo, released };
    this.reserved--;
    this.streams.add(stream);
    conn.onClosed = () => this.forget(stream);
    conn.start(undefined, frame(ack));
    return stream;
  }

  private forget(s: ListenStream): void {
    if (!this.streams.delete(s)) return;
    s.released();
    this.perPrincipal.remove(s.principal);
  }

  private deliver(event: ChangeEvent): void {
    for (const s of this.streams) this.deliverTo(s, event);
  }

  /** Writes `event` to one stream, if it asked for it (a change its own backend announced). */
  deliverTo(s: ListenStream, event: ChangeEvent): void {
    if (!this.streams.has(s) || !wants(s, event)) return;
    const params: Record<string, unknown> = { _meta: { [META.subscriptionId]: s.id } };
    if (event.kind === 'resource_updated') params.uri = event.uri;
    s.conn.writeNamed('message', JSON.stringify({ jsonrpc: '2.0', method: changeMethod(event), params }));
  }

  /** Ends a listen the way the server ends one: its result, then the end of the stream. */
  end(s: ListenStream): void {
    if (!this.streams.has(s)) return;
    const result = { resultType: 'complete', _meta: { [META.subscriptionId]: s.id, [META.serverInfo]: s.serverInfo } };
    s.conn.writeNamed('message', JSON.stringify({ jsonrpc: '2.0', id: s.id, result }));
    s.conn.finish();
  }

  /** Ends every listen (shutdown). */
  closeAll(): void {
    for (const s of [...this.streams]) this.end(s);
    this.unsubscribe();
  }
}

function wants(s: ListenStream, e: ChangeEvent): boolean {
  switch (e.kind) {
    case 'tools_list_changed':
      return s.filter.toolsListChanged;
    case 'prompts_list_changed':
      return s.filter.promptsListChanged;
    case 'resources_list_changed':
      return s.filter.resourcesListChanged;
    case 'resource_updated':
      if (s.uris.has(e.uri)) return true;
      for (const u of s.uris) if (covers(u, e.uri)) return true;
      return false;
    case 'notification':
      // A broadcast is for sessions: a listen names the notifications it takes, and these are not among them.
      return false;
  }
}

function frame(message: unknown): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}
