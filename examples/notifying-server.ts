// Your own real-time notification server with mcpwire: one resource that changes, pushed to the
// clients subscribed to it, over /sse and /mcp, with the live dashboard and /metrics. Run it with
// `npx tsx examples/notifying-server.ts` (in your project, import from 'mcpwire' instead).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { dashboardRoutes, metricsRoute, serve } from '../src/index.js';

let price = 100;

function createServer(): McpServer {
  const mcp = new McpServer({ name: 'ticker', version: '1.0.0' }, { capabilities: { resources: { subscribe: true } } });
  mcp.registerResource('price', 'ticker://price', { mimeType: 'application/json' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ price, at: new Date().toISOString() }) }],
  }));
  // mcpwire records each session's subscriptions; the server only has to accept them.
  mcp.server.setRequestHandler(SubscribeRequestSchema, async () => ({}));
  mcp.server.setRequestHandler(UnsubscribeRequestSchema, async () => ({}));
  return mcp;
}

const server = await serve({ createServer, port: Number(process.env.PORT ?? 3000) });
const dashboard = dashboardRoutes(server.handler);
metricsRoute(server.handler);
const ticker = setInterval(() => {
  price = Math.max(1, price + Math.round(Math.random() * 10 - 5));
  void server.handler.notifyResourceUpdated('ticker://price'); // only to the sessions subscribed to it
}, Number(process.env.TICK_MS ?? 1000));
console.log(`ticker on ${server.url}/mcp and ${server.url}/sse; dashboard at ${server.url}/`);

process.once('SIGINT', async () => {
  clearInterval(ticker);
  dashboard.close();
  await server.close();
});
