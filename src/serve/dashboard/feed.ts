// The dashboard's admin SSE feed: a snapshot on connect, then sessions opening and ending and change
// notifications (with the sessions that got them) as they happen, and the counters once a second.
// Bounded: a few feeds at once, a byte bound per connection (a browser that stops reading is cut and
// its EventSource reconnects to a fresh snapshot), and a fixed number of recent notifications kept.
// Each feed belongs to a viewer's principal (see auth.ts) and lists that principal's sessions only: in
// the snapshot, the counters' session table, sessions opening and ending, and the sessions a
// notification reached. The counts and rates are the instance's. With auth off, every session and
// every viewer has principal undefined: everyone sees everything.
import type { ServerResponse } from 'node:http';
import { ErrorCode } from '../../jsonrpc.js';
import { VERSION } from '../../http/health.js';
import { streamsByWire } from '../../http/metrics.js';
import { sendError } from '../../http/responses.js';
import type { EngineEvent } from '../../session/manager.js';
import type { McpHandler } from '../../server.js';

export interface FeedOptions {
  /** Feeds open at once; more get 503. */
  maxFeeds: number;
  /** Unsent bytes a feed connection may have before it is cut. */
  maxBufferedBytes: number;
  /** Interval of the counters event. */
  tickMs: number;
}

const RECENT_CHANGES = 50;
/** Session ids shown per notification; the count says how many got it. */
const IDS_PER_CHANGE = 12;
const SESSIONS_SHOWN = 50;

/** URI characters kept per notification, so that the snapshot stays well under the byte bound. */
const MAX_URI = 1024;

/** Enough of a session id to tell sessions apart on screen, not enough to use it. */
const short = (id: string) => id.slice(0, 8);
const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** A notification as one viewer sees it: the recipients are that viewer's sessions only. */
interface ChangeRow {
  at: number;
  kind: string;
  uri?: string;
  method?: string;
  recipients: number;
  sessions: string[];
}

/** A notification as kept: every recipient with its principal, so that each viewer gets its own row. */
interface ChangeRecord {
  at: number;
  kind: string;
  uri?: string;
  /** A broadcast notification's method. */
  method?: string;
  /** The engine's array of recipients' ids (not copied); `owners[i]` is `ids[i]`'s principal. */
  ids: readonly string[];
  owners: (string | undefined)[];
}

export class DashboardFeed {
  /** Open feeds, each with its viewer's principal. */
  private readonly feeds = new Map<ServerResponse, string | undefined>();
  private readonly recent: ChangeRecord[] = [];
  /**
   * Every live session's principal, for its 'ended' event (the engine has forgotten the session by
   * then). As many entries as the engine has sessions.
   */
  private readonly owners = new Map<string, string | undefined>();
  private readonly unwatch: () => void;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly handler: McpHandler,
    private readonly opts: FeedOptions,
  ) {
    for (const s of handler.sessions.sessions.values()) this.owners.set(s.id, s.principal);
    this.unwatch = handler.sessions.watch((e) => this.onEngineEvent(e));
  }

  get open(): number {
    return this.feeds.size;
  }

  /** Opens a feed of `principal`'s sessions (undefined: auth is off). */
  attach(res: ServerResponse, principal: string | undefined): void {
    // The client left while its token was checked: its 'close' has fired already and would never
    // free the place.
    if (res.destroyed) return;
    if (this.feeds.size >= this.opts.maxFeeds) {
      this.handler.stats.httpErrors++;
      sendError(res, 503, ErrorCode.ServerError, 'Service Unavailable: too many dashboards open', { 'Retry-After': '5' });
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    this.feeds.set(res, principal);
    res.on('close', () => {
      this.feeds.delete(res);
      if (this.feeds.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    });
    this.write(res, 'hello', {
      version: VERSION,
      startedAt: this.startedAt,
      tickMs: this.opts.tickMs,
      recent: this.recent.map((r) => changeRow(r, principal)),
      ...this.instanceCounters(),
      ...this.sessionsOf(principal),
    });
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.opts.tickMs);
      this.timer.unref();
    }
  }

  private onEngineEvent(e: EngineEvent): void {
    if (e.type === 'change') {
      const sessions = this.handler.sessions.sessions;
      const record: ChangeRecord = {
        at: Date.now(),
        kind: e.change.kind,
        ...(e.change.kind === 'resource_updated' ? { uri: clip(e.change.uri, MAX_URI) } : {}),
        ...(e.change.kind === 'notification' ? { method: clip(e.change.method, MAX_URI) } : {}),
        ids: e.sessionIds,
        owners: e.sessionIds.map((id) => (sessions.has(id) ? sessions.get(id)!.principal : this.owners.get(id))),
      };
      this.recent.push(record);
      if (this.recent.length > RECENT_CHANGES) this.recent.shift();
      this.broadcast('change', (principal) => changeRow(record, principal));
      return;
    }
    let owner: string | undefined;
    if (e.type === 'session-opened') {
      owner = this.handler.sessions.sessions.get(e.sessionId)?.principal;
      this.owners.set(e.sessionId, owner);
    } else {
      owner = this.owners.get(e.sessionId);
      this.owners.delete(e.sessionId);
    }
    if (this.feeds.size === 0) return;
    const ended = e.type === 'session-ended';
    const data = { at: Date.now(), id: short(e.sessionId), wire: e.wire, event: ended ? 'ended' : 'opened', ...(ended ? { reason: e.reason } : {}) };
    this.broadcast('session', (principal) => (principal === owner ? data : undefined));
  }

  /** The counters event: the instance's figures once, each viewer's sessions once per principal. */
  private tick(): void {
    if (this.feeds.size === 0) return;
    const figures = this.instanceCounters();
    this.broadcast('stats', (principal) => ({ ...figures, ...this.sessionsOf(principal) }));
  }

  /** `principal`'s newest sessions (`sessions`) and how many it has (`sessionsVisible`). */
  private sessionsOf(principal: string | undefined): { sessions: unknown[]; sessionsVisible: number } {
    const own = [];
    for (const s of this.handler.sessions.sessions.values()) if (s.principal === principal) own.push(s);
    const sessions: unknown[] = [];
    for (const s of own.slice(-SESSIONS_SHOWN).reverse()) {
      const client = (s.initializeParams as { clientInfo?: { name?: unknown; version?: unknown } } | undefined)?.clientInfo;
      sessions.push({
        id: short(s.id),
        wire: s.wire,
        client: client && typeof client.name === 'string' ? `${client.name.slice(0, 64)} ${String(client.version ?? '').slice(0, 16)}`.trim() : '',
        protocol: s.protocolVersion ?? '',
        subscriptions: s.subscriptions.size,
        streams: s.attachedStreams,
        since: s.createdAt,
      });
    }
    return { sessions, sessionsVisible: own.length };
  }

  /** The instance's figures, the same for every viewer. */
  private instanceCounters(): Record<string, unknown> {
    const h = this.handler;
    const st = h.stats;
    return {
      at: Date.now(),
      sessionsByWire: { ...h.sessions.byWire },
      streamsByWire: streamsByWire(h),
      counters: {
        messagesIn: st.messagesIn,
        messagesOut: st.messagesOut,
        bytesIn: st.bytesIn,
        bytesOut: st.bytesOut,
        keepalivesSent: st.keepalivesSent,
        replays: st.replays,
        eventsReplayed: st.eventsReplayed,
        resumeMisses: st.resumeMisses,
        eventsDropped: st.eventsDropped,
        slowClientsEvicted: st.slowClientsEvicted,
        stalledStreamsClosed: st.stalledStreamsClosed,
        takeovers: st.takeovers,
        sessionsCreated: st.sessionsCreated,
        sessionsEnded: st.sessionsEnded,
        httpErrors: st.httpErrors,
      },
    };
  }

  /**
   * Sends each feed `data(its principal)`, if any: computed once per principal, not once per feed.
   */
  private broadcast(event: string, data: (principal: string | undefined) => unknown): void {
    if (this.feeds.size === 0) return;
    const frames = new Map<string | undefined, string | undefined>();
    for (const [res, principal] of this.feeds) {
      let frame = frames.get(principal);
      if (!frames.has(principal)) {
        const d = data(principal);
        frame = d === undefined ? undefined : `event: ${event}\ndata: ${JSON.stringify(d)}\n\n`;
        frames.set(principal, frame);
      }
      if (frame !== undefined) this.send(res, frame);
    }
  }

  /** The snapshot is never cut: one larger than the bound would be cut on every reconnect. */
  private write(res: ServerResponse, event: string, data: unknown): void {
    res.write(`retry: 2000\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private send(res: ServerResponse, frame: string): void {
    res.write(frame);
    if (res.writableLength > this.opts.maxBufferedBytes) res.destroy();
  }

  close(): void {
    this.unwatch();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const res of this.feeds.keys()) res.end();
    this.feeds.clear();
  }
}

/** A notification as `principal` sees it: how many of its sessions got it, and the first few. */
function changeRow(r: ChangeRecord, principal: string | undefined): ChangeRow {
  let recipients = 0;
  const sessions: string[] = [];
  for (let i = 0; i < r.ids.length; i++) {
    if (r.owners[i] !== principal) continue;
    recipients++;
    if (sessions.length < IDS_PER_CHANGE) sessions.push(short(r.ids[i]!));
  }
  return { at: r.at, kind: r.kind, ...(r.uri !== undefined ? { uri: r.uri } : {}), ...(r.method !== undefined ? { method: r.method } : {}), recipients, sessions };
}
