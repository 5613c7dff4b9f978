// Writing Server-Sent Events to one HTTP response, with keepalive, backpressure and a byte bound.
import type { ServerResponse } from 'node:http';
import type { Stats } from './stats.js';

/**
 * A logged entry with no message: the end of a POST's stream whose requests were all cancelled.
 * Sinks write nothing for it; it is logged so that an instance holding the stream elsewhere ends it.
 */
export const STREAM_END = '';

/** Where a stream's logged messages go: an SSE connection, or a JSON response being collected. */
export interface StreamSink {
  readonly closed: boolean;
  /** Writes one logged message under its event id. */
  write(eventId: string, data: string, isResponse: boolean): void;
  /** The stream is complete: flush what is buffered and end the response. */
  finish(): void;
  /** Drops the connection now (takeover, eviction, session end); `retryMs` is sent first when given. */
  close(retryMs?: number): void;
  /** Called once when the sink is gone, however it went. */
  onClosed?: () => void;
}

export interface SseLimits {
  /** Bytes a connection may have queued (unsent to the kernel) before it is cut (default 4 MiB). */
  maxBufferedBytes: number;
  /** A connection whose queued bytes have not drained at all for this long is closed (checked on each keepalive tick). */
  stallTimeoutMs: number;
}

/**
 * How long a fresh POST stream's first bytes may wait for its first event. An answer that comes later
 * than the turn its request arrived in (a tool that awaits I/O, a Redis round trip) then leaves in one
 * write with the status line and the priming event, instead of a second write (a syscall and a packet)
 * of its own; a slower one finds the stream open on the client well before it comes.
 */
const FIRST_BYTES_WAIT_MS = 20;

// As a flat [name, value, …] list: writeHead walks it without an object spread per stream.
const SSE_HEADERS: readonly string[] = [
  'Content-Type',
  'text/event-stream',
  'Cache-Control',
  'no-cache, no-transform',
  'Connection',
  'keep-alive',
  'X-Accel-Buffering',
  'no',
];

/** Every open SSE connection, for the shared keepalive and stall timer (one timer, not one per stream). */
export class SseConnections {
  readonly open = new Set<SseConnection>();
  private timer: NodeJS.Timeout | undefined;
  /** Connections holding events written in this turn; each is here at most once. */
  private unflushed: SseConnection[] = [];
  /** Fresh POST streams whose first bytes wait for their first event (emptied every FIRST_BYTES_WAIT_MS). */
  private waiting: Array<SseConnection | undefined> = [];
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly limits: SseLimits,
    readonly stats: Stats,
    private readonly keepAliveMs: number,
  ) {
    if (keepAliveMs > 0) {
      this.timer = setInterval(() => this.tick(), keepAliveMs);
      this.timer.unref();
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const conn of this.open) conn.onTick(now, this.keepAliveMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.releaseWaiting();
  }

  /** `conn`'s first bytes wait until its first event, or until the wait ends. */
  wait(conn: SseConnection): void {
    conn.waitingAt = this.waiting.push(conn) - 1;
    this.waitTimer ??= setTimeout(this.releaseWaiting, FIRST_BYTES_WAIT_MS).unref();
  }

  /** `conn` no longer waits: its slot lets go of it (the connection must not outlive its request here). */
  unwait(conn: SseConnection): void {
    this.waiting[conn.waitingAt] = undefined;
    conn.waitingAt = -1;
  }

  private readonly releaseWaiting = (): void => {
    const conns = this.waiting;
    this.waiting = [];
    this.waitTimer = undefined;
    for (const conn of conns) conn?.sendFirstBytes();
  };

  /** `conn` has its first unsent event of this turn: one flush for every such connection, on the next tick. */
  flushSoon(conn: SseConnection): void {
    if (this.unflushed.push(conn) === 1) process.nextTick(this.flushAll);
  }

  private readonly flushAll = (): void => {
    const conns = this.unflushed;
    this.unflushed = [];
    for (const conn of conns) conn.flush();
  };
}

export class SseConnection implements StreamSink {
  closed = false;
  onClosed?: () => void;
  /**
   * Events written in this turn, sent as one chunk on the next tick: a burst of events costs one
   * `res.write` (one chunk header, one buffer) instead of one each. Node would send them in one
   * syscall anyway (it corks the socket until the next tick), so nothing arrives later than before.
   */
  private unsent = '';
  /** Something was written since the last keepalive tick (cheaper than a clock read per write). */
  private wrote = false;
  /** Set while bytes stay queued across ticks without draining: the client stopped reading. */
  private stalledSince = 0;
  private stalledAt = 0;
  /**
   * The largest event queued since the queue was last empty. The bound is maxBufferedBytes beyond it:
   * a message larger than the bound still reaches a client that reads (a replay that starts with it
   * would otherwise be cut off each time), and a client that does not read is still cut off.
   */
  private largest = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  /** The first bytes are held back until the first event (see FIRST_BYTES_WAIT_MS). */
  private holdFirst = false;
  /** Where the registry keeps this connection while its first bytes wait (-1: not there). */
  waitingAt = -1;

  constructor(
    private readonly res: ServerResponse,
    private readonly registry: SseConnections,
  ) {
    const socket = res.socket;
    if (socket) {
      // Half-open connections (a peer that vanished without a FIN) are found by the kernel. Node
      // remembers both settings per socket, so a keep-alive connection pays for them once.
      socket.setKeepAlive(true, 30_000);
      socket.setNoDelay(true);
      if ((socket as { timeout?: number }).timeout !== 0) socket.setTimeout(0);
    }
    res.on('close', () => this.closedByPeer());
    // The client may have left while its request waited (for a token check, for Redis): its 'close' has
    // come and gone. Found after the caller has attached this connection, it is let go like any other.
    if (res.destroyed || socket?.destroyed === true) queueMicrotask(() => this.closedByPeer());
  }

  /**
   * Sends the status line, headers and a first chunk at once, so proxies and clients see bytes at t=0;
   * with `holdFirst` (a fresh POST's stream, whose answer is usually on its way), they go with the first
   * event instead, or FIRST_BYTES_WAIT_MS later at the most.
   */
  start(extraHeaders: Record<string, string> | undefined, first: string, holdFirst = false): void {
    if (this.closed) return;
    const headers = SSE_HEADERS.slice();
    if (extraHeaders) for (const name in extraHeaders) headers.push(name, extraHeaders[name]!);
    this.res.writeHead(200, headers);
    this.registry.open.add(this);
    this.registry.stats.streamsOpened++;
    this.send(first);
    this.holdFirst = holdFirst;
  }

  /** The wait for a first event is over: the first bytes go now. */
  sendFirstBytes(): void {
    this.waitingAt = -1;
    this.holdFirst = false;
    this.flush();
  }

  /**
   * SSE polling (2025-11-25): ends this connection after `ms` with a `retry:` hint; the stream goes on
   * and the client picks it up again with Last-Event-ID.
   */
  pollAfter(ms: number, retryMs: number): void {
    this.pollTimer = setTimeout(() => this.close(retryMs), ms);
    this.pollTimer.unref();
  }

  write(eventId: string, data: string): void {
    if (data === STREAM_END) return;
    this.send(`event: message\nid: ${eventId}\ndata: ${data}\n\n`);
  }

  /** An event that does not move the client's Last-Event-ID (the legacy `endpoint` event on reattach). */
  writeNamed(event: string, data: string, eventId?: string): void {
    this.send(eventId === undefined ? `event: ${event}\ndata: ${data}\n\n` : `event: ${event}\nid: ${eventId}\ndata: ${data}\n\n`);
  }

  finish(): void {
    if (this.closed) return;
    this.res.end(this.takeUnsent());
    this.cleanup();
  }

  close(retryMs?: number): void {
    if (this.closed) return;
    if (retryMs !== undefined) {
      this.res.end(`${this.takeUnsent()}retry: ${retryMs}\n\n`);
    } else {
      this.res.destroy();
    }
    this.cleanup();
  }

  /** Hands this turn's events to the response (the registry calls it on the next tick). */
  flush(): void {
    if (this.closed || this.unsent === '') return;
    if (this.holdFirst) {
      // Nothing but the first bytes in this turn: they wait for an event.
      if (this.waitingAt < 0) this.registry.wait(this);
      return;
    }
    this.res.write(this.takeUnsent());
    if (this.res.writableLength > this.registry.limits.maxBufferedBytes + this.largest) this.evict();
  }

  onTick(now: number, keepAliveMs: number): void {
    if (this.closed) return;
    const queued = this.res.writableLength;
    if (queued > 0) {
      if (this.stalledSince === 0 || queued < this.stalledAt) {
        this.stalledSince = now;
        this.stalledAt = queued;
      } else if (now - this.stalledSince >= Math.max(2 * keepAliveMs, this.registry.limits.stallTimeoutMs)) {
        this.registry.stats.stalledStreamsClosed++;
        this.close();
        return;
      }
    } else {
      this.stalledSince = 0;
      if (this.unsent === '') this.largest = 0;
    }
    if (!this.wrote) {
      this.registry.stats.keepalivesSent++;
      this.send(': keepalive\n\n');
    }
    this.wrote = false;
  }

  private send(chunk: string): void {
    if (this.closed) return;
    if (this.unsent === '') this.registry.flushSoon(this);
    else if (this.holdFirst) {
      this.holdFirst = false;
      // Its first bytes were waiting: they leave with this event.
      if (this.waitingAt >= 0) {
        this.registry.unwait(this);
        this.registry.flushSoon(this);
      }
    }
    this.unsent += chunk;
    this.wrote = true;
    if (chunk.length > this.largest) this.largest = chunk.length;
    // Characters, not bytes, for what is not yet handed over: the bound is a guard, not an exact budget.
    if (this.res.writableLength + this.unsent.length > this.registry.limits.maxBufferedBytes + this.largest) this.evict();
  }

  private takeUnsent(): string {
    const chunk = this.unsent;
    this.unsent = '';
    return chunk;
  }

  /** A client that does not read must not make the process grow; it can resume from the log. */
  private evict(): void {
    this.registry.stats.slowClientsEvicted++;
    this.close();
  }

  private closedByPeer(): void {
    if (this.closed) return;
    this.cleanup();
  }

  private cleanup(): void {
    this.closed = true;
    // Whatever was not handed over goes with the connection: the log has it, and a client resumes from there.
    this.unsent = '';
    if (this.waitingAt >= 0) this.registry.unwait(this);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.registry.open.delete(this);
    this.registry.stats.streamsClosed++;
    const cb = this.onClosed;
    this.onClosed = undefined;
    cb?.();
  }
}

/**
 * JSON-response mode: collects the responses of one POST and writes them as one JSON body when the
 * last one has arrived. Only responses come here; the session routes related notifications and
 * requests to the GET stream instead, so nothing is dropped.
 */
export class JsonSink implements StreamSink {
  closed = false;
  onClosed?: () => void;
  private readonly bodies: string[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
    private readonly batch: boolean,
  ) {
    res.on('close', () => this.markClosed());
  }

  write(_eventId: string, data: string, isResponse: boolean): void {
    if (isResponse && data !== STREAM_END) this.bodies.push(data);
  }

  finish(): void {
    if (this.closed) return;
    if (this.bodies.length === 0) {
      // Every request of the POST was cancelled: there is nothing to answer.
      this.res.writeHead(202, this.headers).end();
      this.markClosed();
      return;
    }
    const body = this.batch ? `[${this.bodies.join(',')}]` : this.bodies[0]!;
    this.res.writeHead(200, { ...this.headers, 'Content-Type': 'application/json' });
    this.res.end(body);
    this.markClosed();
  }

  close(): void {
    if (this.closed) return;
    this.res.destroy();
    this.markClosed();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const cb = this.onClosed;
    this.onClosed = undefined;
    cb?.();
  }
}
