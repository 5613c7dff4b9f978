// The MCP server every implementation under test runs, one per session: `echo` and `broadcast`.
// `broadcast` sends n numbered notifications, each stamped with its send time, to every session:
// through each live session's SDK server (`notification()`, all an SDK transport offers), or through
// the `broadcast` function given (mcpwire's, which serializes each once). Written as README's
// "Memory per session" advises (schemas built once, Ajv only when used), which every SDK-based
// implementation under test shares.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { lazyJsonSchemaValidator } from '../../src/backend/lazy-validator.js';
import { wallMs } from './args.js';

const live = new Set<McpServer>();
const ECHO_INPUT = { text: z.string() };
const BROADCAST_INPUT = { n: z.number().int().min(1).max(100_000) };

type Notification = { method: string; params: Record<string, unknown> };

export function createBenchServer(broadcast?: (n: Notification) => unknown): McpServer {
  const mcp = new McpServer({ name: 'mcpwire-bench', version: '1.0.0' }, { capabilities: { tools: {}, logging: {} }, jsonSchemaValidator: lazyJsonSchemaValidator() });
  live.add(mcp);
  mcp.server.onclose = () => void live.delete(mcp);
  mcp.registerTool('echo', { description: 'Returns its text', inputSchema: ECHO_INPUT }, async ({ text }) => ({
    content: [{ type: 'text' as const, text }],
  }));
  mcp.registerTool(
    'broadcast',
    {
      description: 'Sends n numbered, timestamped notifications to every session',
      inputSchema: BROADCAST_INPUT,
    },
    async ({ n }) => {
      for (let seq = 1; seq <= n; seq++) {
        const note = { method: 'notifications/message', params: { level: 'info', data: { seq, t: wallMs() } } };
        if (broadcast) void broadcast(note);
        else for (const s of live) void s.server.notification(note);
        // Let sockets drain between rounds, as a real producer's event loop would.
        if (seq % 20 === 0) await new Promise((r) => setImmediate(r));
      }
      return { content: [{ type: 'text' as const, text: `broadcast ${n} to ${live.size}` }] };
    },
  );
  return mcp;
}
