// The dashboard's admin SSE feed: a snapshot on connect, then sessions opening and ending and change
// notifications (with the sessions that got them) as they happen, and the counters once a second.
// Bounded: a few feeds at once, a byte bound per connection (a browser that stops reading is cut and
// its EventSource reconnects to a fresh snapshot), and a fixed number of recent notifications kept.
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

interface ChangeRow {
  at: number;
  kind: string;
  uri?: string;
  recipients: number;
  sessions: string[];
}

export class DashboardFeed {
  private readonly feeds = new Set<ServerResponse>();
  private readonly recent: ChangeRow[] = [];
  private readonly unwatch: () => void;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly handler: McpHandler,
    private readonly opts: FeedOptions,
  ) {
    this.unwatch = handler.sessions.watch((e) => this.onEngineEvent(e));
  }

  get open(): number {
    return this.feeds.size;
  }

  attach(res: ServerResponse): void {
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
    this.feeds.add(res);
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
      recent: this.recent,
      ...this.counters(),
    });
    if (!this.timer) {
      this.timer = setInterval(() => this.broadcast('stats', this.counters()), this.opts.tickMs);
      this.timer.unref();
    }
  }

  private onEngineEvent(e: EngineEvent): void {
    if (e.type === 'change') {
      const row: ChangeRow = {
        at: Date.now(),
        kind: e.change.kind,
        ...(e.change.kind === 'resource_updated' ? { uri: clip(e.change.uri, MAX_URI) } : {}),
        recipients: e.sessionIds.length,
        sessions: e.sessionIds.slice(0, IDS_PER_CHANGE).map(short),
      };
      this.recent.push(row);
      if (this.recent.length > RECENT_CHANGES) this.recent.shift();
      this.broadcast('change', row);
    } else if (this.feeds.size > 0) {
      const ended = e.type === 'session-ended';
      this.broadcast('session', { at: Date.now(), id: short(e.sessionId), wire: e.wire, event: ended ? 'ended' : 'opened', ...(ended ? { reason: e.reason } : {}) });
    }
  }

  private counters(): Record<string, unknown> {
    const h = this.handler;
    const st = h.stats;
    const sessions: unknown[] = [];
    const all = [...h.sessions.sessions.values()].slice(-SESSIONS_SHOWN);
    for (const s of all.reverse()) {
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
    return {
      at: Date.now(),
      sessionsByWire: { ...h.sessions.byWire },
      streamsByWire: streamsByWire(h),
      sessions,
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

  private broadcast(event: string, data: unknown): void {
    if (this.feeds.size === 0) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.feeds) this.send(res, frame);
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
    for (const res of this.feeds) res.end();
    this.feeds.clear();
  }
}
