// One mcpwire instance of a cluster for the scale-out tests: the "everything" fixture over Redis.
// Settings from the environment: REDIS_URL, PREFIX, LEASE_MS, HIBERNATE_MS, SESSION_IDLE_MS,
// RESPONSE_MODE. Serves /metrics too. Prints its URL and instance id on one line, then serves until killed.
import { z } from 'zod';
import { metricsRoute, serve, type McpWireServer } from '../../src/index.js';
import { createEverythingServer } from '../fixtures/everything.js';

let server: McpWireServer | undefined;
const createServer = () => {
  const mcp = createEverythingServer();
  // A change published from whichever instance runs this tool reaches subscribers on every instance.
  mcp.registerTool('publish_update', { description: 'Announces that a resource changed', inputSchema: { uri: z.string() } }, async ({ uri }) => {
    await server!.handler.notifyResourceUpdated(uri);
    return { content: [{ type: 'text' as const, text: `published ${uri}` }] };
  });
  mcp.registerTool('publish_list_change', { description: 'Announces that the resource list changed', inputSchema: {} }, async () => {
    await server!.handler.notifyListChanged('resources');
    return { content: [{ type: 'text' as const, text: 'published' }] };
  });
  mcp.registerTool(
    'broadcast_log',
    { description: 'Broadcasts a log message to every session', inputSchema: { level: z.enum(['info', 'error']), data: z.string() } },
    async ({ level, data }) => {
      await server!.handler.broadcast({ method: 'notifications/message', params: { level, data } });
      return { content: [{ type: 'text' as const, text: 'broadcast' }] };
    },
  );
  // Which of this server object's calls this one is: the order in which the owner delivered them.
  let calls = 0;
  mcp.registerTool('seq', { description: 'Its position among this server object\'s seq calls', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text' as const, text: `${calls++} ${text}` }],
  }));
  return mcp;
};

server = await serve({
  port: 0,
  createServer,
  sessionIdleMs: Number(process.env.SESSION_IDLE_MS ?? 60_000),
  hibernateAfterMs: Number(process.env.HIBERNATE_MS ?? 0),
  responseMode: process.env.RESPONSE_MODE === 'json' ? 'json' : 'sse',
  redis: { url: process.env.REDIS_URL!, prefix: process.env.PREFIX ?? 'mcpw:', leaseMs: Number(process.env.LEASE_MS ?? 1500) },
});
metricsRoute(server.handler, { processMetrics: false });
const health = server.handler.health() as { redis?: { instance: string } };
process.stdout.write(`listening ${server.url} ${health.redis?.instance}\n`);
const stop = () => void server.close({ drainMs: 500 }).then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', () => process.exit(0)).resume();
