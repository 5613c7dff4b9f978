// /metrics in the Prometheus text format: the engine's counters (read at scrape time, so the hot path
// keeps its plain counters), sessions and streams by wire format, notifications, request durations
// and the process metrics, on a registry of our own (never prom-client's global one).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Wire } from '../backend/types.js';
import type { McpHandler } from '../server.js';
import type { Stats } from '../session/stats.js';
import type { ChangeEvent } from '../store/types.js';

export interface MetricsOptions {
  /** Where to serve the metrics (behind the handler's auth). Default `/metrics`. */
  path?: string;
  /** Add prom-client's process metrics (CPU, memory, event loop, GC). Default true. */
  processMetrics?: boolean;
  /** Add the metrics to this registry instead of a new one. */
  registry?: Registry;
}

export interface HandlerMetrics {
  /** Add your own metrics here; they are served with mcpwire's. */
  readonly registry: Registry;
  /** Stops observing the handler (the route stays, serving the last values). */
  close(): void;
}

const COUNTERS: [name: string, help: string, key: keyof Stats][] = [
  ['sessions_created_total', 'Sessions created', 'sessionsCreated'],
  ['sessions_ended_total', 'Sessions ended', 'sessionsEnded'],
  ['streams_opened_total', 'SSE streams opened', 'streamsOpened'],
  ['streams_closed_total', 'SSE streams closed', 'streamsClosed'],
  ['messages_received_total', 'JSON-RPC messages received from clients', 'messagesIn'],
  ['messages_sent_total', 'JSON-RPC messages sent to clients', 'messagesOut'],
  ['received_bytes_total', 'Size of the request bodies received (bytes)', 'bytesIn'],
  ['sent_bytes_total', 'Size of the messages sent (bytes of their JSON)', 'bytesOut'],
  ['keepalives_sent_total', 'Keepalive comments written on idle streams', 'keepalivesSent'],
  ['replays_total', 'Streams resumed with Last-Event-ID', 'replays'],
  ['events_replayed_total', 'Events written again from a stream log', 'eventsReplayed'],
  ['resume_misses_total', 'Resumptions refused: unknown stream or a cursor that fell off the log', 'resumeMisses'],
  ['events_dropped_total', 'Logged messages that fell off a log before any client received them', 'eventsDropped'],
  ['slow_clients_evicted_total', 'Connections cut because their unsent bytes passed the bound', 'slowClientsEvicted'],
  ['stalled_streams_closed_total', 'Connections cut because the client stopped reading', 'stalledStreamsClosed'],
  ['stream_takeovers_total', 'Connections replaced by a newer one for the same stream', 'takeovers'],
  ['orphan_responses_total', 'Responses with no pending request to go to', 'orphanResponses'],
  ['http_errors_total', 'Requests refused with an HTTP error', 'httpErrors'],
];

const METHODS = new Set(['GET', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PUT', 'PATCH']);
const WIRES: Wire[] = ['legacy', 'streamable'];
const KINDS: ChangeEvent['kind'][] = ['resource_updated', 'resources_list_changed', 'tools_list_changed', 'prompts_list_changed'];

/** Open streams (connections attached to a session's stream) by wire format. */
export function streamsByWire(handler: McpHandler): Record<Wire, number> {
  const n: Record<Wire, number> = { legacy: 0, streamable: 0 };
  for (const s of handler.sessions.sessions.values()) n[s.wire] += s.attachedStreams;
  return n;
}

/** Serves `handler`'s metrics at `options.path` (default `/metrics`), behind the handler's auth. */
export function metricsRoute(handler: McpHandler, options: MetricsOptions = {}): HandlerMetrics {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  const stats = handler.stats;

  for (const [name, help, key] of COUNTERS) {
    new Counter({
      name: `mcpwire_${name}`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(stats[key]);
      },
    });
  }
  new Gauge({
    name: 'mcpwire_sessions',
    help: 'Open sessions by wire format',
    labelNames: ['wire'],
    registers,
    collect() {
      for (const w of WIRES) this.set({ wire: w }, handler.sessions.byWire[w]);
    },
  });
  new Gauge({
    name: 'mcpwire_streams',
    help: 'Open streams (client connections attached to a session) by wire format',
    labelNames: ['wire'],
    registers,
    collect() {
      const n = streamsByWire(handler);
      for (const w of WIRES) this.set({ wire: w }, n[w]);
    },
  });
  new Gauge({
    name: 'mcpwire_pending_requests',
    help: 'Client requests in flight',
    registers,
    collect() {
      this.set(handler.sessions.pendingRequests);
    },
  });

  const notifications = new Counter({
    name: 'mcpwire_notifications_total',
    help: 'Change notifications published (resource updated, list changed)',
    labelNames: ['kind'],
    registers,
  });
  const deliveries = new Counter({
    name: 'mcpwire_notification_deliveries_total',
    help: 'Change notifications sent to a session',
    labelNames: ['kind'],
    registers,
  });
  // Every kind from the start: a series that first appears at 1 is a first increment increase() misses.
  for (const kind of KINDS) {
    notifications.inc({ kind }, 0);
    deliveries.inc({ kind }, 0);
  }
  const unwatch = handler.sessions.watch((e) => {
    if (e.type !== 'change') return;
    notifications.inc({ kind: e.change.kind });
    deliveries.inc({ kind: e.change.kind }, e.sessionIds.length);
  });

  const durations = new Histogram({
    name: 'mcpwire_http_request_duration_seconds',
    help: 'Time from request to the end of the response (for SSE streams, the life of the stream)',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers,
  });
  const unobserve = handler.observeRequests((o) => {
    durations.observe({ route: o.route, method: METHODS.has(o.method) ? o.method : 'other', status: String(o.status) }, o.durationMs / 1000);
  });

  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  handler.addRoute(options.path ?? '/metrics', async ({ res }) => {
    const body = await registry.metrics();
    res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
    res.end(body);
  });
  return {
    registry,
    close() {
      unwatch();
      unobserve();
    },
  };
}
