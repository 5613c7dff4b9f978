// `mcpwire serve`: the real-time notification server. (Grows into the live folder server.)
import { loadavg, totalmem, freemem } from 'node:os';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { McpHandler } from '../server.js';

export interface ServeAppOptions {
  root: string;
  tickMs: number;
}

export interface ServeApp {
  createServer(): McpServer;
  /** Starts the periodic and change notifications through the handler's sessions. */
  start(handler: McpHandler): void;
  stop(): Promise<void>;
}

export function createServeApp(opts: ServeAppOptions): ServeApp {
  let handler: McpHandler | undefined;
  let timer: NodeJS.Timeout | undefined;
  const stats = () => ({
    loadavg: loadavg(),
    memory: { totalBytes: totalmem(), freeBytes: freemem(), rssBytes: process.memoryUsage().rss },
    uptimeS: Math.round(process.uptime()),
    sessions: handler ? handler.health().sessions : { legacy: 0, streamable: 0 },
  });
  return {
    createServer() {
      const mcp = new McpServer({ name: 'mcpwire-serve', version: '0.1.0' }, { capabilities: { resources: { subscribe: true, listChanged: true } } });
      mcp.registerResource('stats', 'system://stats', { mimeType: 'application/json', description: 'Load, memory, uptime, open sessions' }, async (uri) => ({
        contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(stats()) }],
      }));
      mcp.registerTool('stats', { description: 'Load, memory, uptime and open sessions of this server' }, async () => ({
        content: [{ type: 'text', text: JSON.stringify(stats()) }],
      }));
      mcp.server.setRequestHandler(SubscribeRequestSchema, async () => ({}));
      mcp.server.setRequestHandler(UnsubscribeRequestSchema, async () => ({}));
      return mcp;
    },
    start(h) {
      handler = h;
      if (opts.tickMs > 0) {
        timer = setInterval(() => void h.notifyResourceUpdated('system://stats'), opts.tickMs);
        timer.unref();
      }
    },
    async stop() {
      if (timer) clearInterval(timer);
    },
  };
}
