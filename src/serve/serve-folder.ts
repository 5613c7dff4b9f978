// `mcpwire serve` as one call: the folder app, the HTTP server on every wire format, the dashboard
// and /metrics. The CLI and the tests both start the server this way.
import { Counter, Gauge } from 'prom-client';
import { metricsRoute, type HandlerMetrics } from '../http/metrics.js';
import { serve, type McpWireServer, type ServeOptions } from '../server.js';
import { createServeApp, type ServeApp, type ServeAppOptions } from './app.js';
import { dashboardRoutes, type Dashboard } from './dashboard/routes.js';

export interface ServeFolderOptions extends Omit<ServeOptions, 'createServer' | 'backend'>, ServeAppOptions {
  /** The live dashboard at `/`. Default true. */
  dashboard?: boolean;
  /** Prometheus metrics at `/metrics`. Default true. */
  metrics?: boolean;
}

export interface FolderServer {
  readonly server: McpWireServer;
  readonly app: ServeApp;
  readonly metrics: HandlerMetrics | undefined;
  readonly dashboard: Dashboard | undefined;
  close(options?: { drainMs?: number }): Promise<void>;
}

export async function serveFolder(options: ServeFolderOptions): Promise<FolderServer> {
  const { dashboard: withDashboard = true, metrics: withMetrics = true, ...rest } = options;
  const app = await createServeApp(rest);
  let server: McpWireServer;
  try {
    server = await serve({ ...rest, createServer: () => app.createServer() });
  } catch (err) {
    await app.close();
    throw err;
  }
  app.attach(server.handler);
  let dashboard: Dashboard | undefined;
  let metrics: HandlerMetrics | undefined;
  try {
    if (withDashboard) dashboard = dashboardRoutes(server.handler);
    if (withMetrics) {
      metrics = metricsRoute(server.handler);
      addFolderMetrics(metrics, app);
    }
  } catch (err) {
    await app.close();
    await server.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    server,
    app,
    metrics,
    dashboard,
    close(o) {
      closing ??= (async () => {
        dashboard?.close();
        metrics?.close();
        await app.close();
        await server.close(o);
      })();
      return closing;
    },
  };
}

function addFolderMetrics(metrics: HandlerMetrics, app: ServeApp): void {
  const registers = [metrics.registry];
  new Gauge({
    name: 'mcpwire_serve_files',
    help: 'Files of the served folder that are resources',
    registers,
    collect() {
      this.set(app.index.size);
    },
  });
  new Counter({
    name: 'mcpwire_serve_searches_total',
    help: 'search tool calls by outcome',
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset();
      for (const outcome of ['completed', 'cancelled', 'failed'] as const) this.inc({ outcome }, app.searches[outcome]);
    },
  });
}
