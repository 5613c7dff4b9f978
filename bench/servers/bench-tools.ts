// The MCP server every implementation under test runs, one per session: `echo` and `broadcast`.
// `broadcast` sends n numbered notifications, each stamped with its send time, to every live
// session's server, so a fan-out costs the same SDK work whatever carries it.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

const live = new Set<McpServer>();

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export function createBenchServer(): McpServer {
  const mcp = new McpServer({ name: 'mcpwire-bench', version: '1.0.0' }, { capabilities: { tools: {}, logging: {} } });
  live.add(mcp);
  mcp.server.onclose = () => void live.delete(mcp);
  mcp.registerTool('echo', { description: 'Returns its text', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text' as const, text }],
  }));
  mcp.registerTool(
    'broadcast',
    {
      description: 'Sends n numbered, timestamped notifications to every session',
      inputSchema: { n: z.number().int().min(1).max(100_000) },
    },
    async ({ n }) => {
      for (let seq = 1; seq <= n; seq++) {
        const t = wallMs();
        for (const s of live) void s.server.notification({ method: 'notifications/message', params: { level: 'info', data: { seq, t } } });
        // Let sockets drain between rounds, as a real producer's event loop would.
        if (seq % 20 === 0) await new Promise((r) => setImmediate(r));
      }
      return { content: [{ type: 'text' as const, text: `broadcast ${n} to ${live.size}` }] };
    },
  );
  return mcp;
}

/** The port a bench server listens on: `--port <n>` (0 for any). */
export function portArg(): number {
  const i = process.argv.indexOf('--port');
  return i === -1 ? 0 : Number(process.argv[i + 1]);
}

/** Tells the runner the server is up: one line on stdout. */
export function ready(port: number): void {
  process.stdout.write(`listening ${port}\n`);
}
