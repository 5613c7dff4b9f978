// Diagnostic: what the bench's SDK McpServer alone costs per `tools/call echo`, with no HTTP and no
// transport work: messages are handed to it in-process, one at a time, after a warm-up. Prints one
// line of JSON. This is the floor under any server that keeps an SDK server behind each session.
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { createBenchServer } from './bench-tools.js';

const SESSIONS = 16;
const at = process.argv.indexOf('--calls');
const CALLS = at === -1 ? 200_000 : Number(process.argv[at + 1]);

interface Inline extends Transport {
  answered?: () => void;
}

async function connectOne(): Promise<(m: JSONRPCMessage) => Promise<void>> {
  const t: Inline = {
    start: async () => {},
    close: async () => {},
    send: async () => {
      const done = t.answered;
      t.answered = undefined;
      done?.();
    },
  };
  await createBenchServer().connect(t);
  const call = (m: JSONRPCMessage) =>
    new Promise<void>((resolve) => {
      t.answered = resolve;
      t.onmessage?.(m, { requestInfo: { headers: {} } });
    });
  await call({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'floor', version: '1' } } });
  t.onmessage?.({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return call;
}

const sessions = await Promise.all(Array.from({ length: SESSIONS }, connectOne));
const params = { name: 'echo', arguments: { text: 'hello from the mcpwire bench' } };
const run = async (n: number) => {
  for (let i = 1; i <= n; i++) await sessions[i % SESSIONS]!({ jsonrpc: '2.0', id: i, method: 'tools/call', params });
};
await run(CALLS / 4);
const before = process.cpuUsage();
await run(CALLS);
const used = process.cpuUsage(before);
process.stdout.write(JSON.stringify({ sessions: SESSIONS, calls: CALLS, usPerCall: Math.round(((used.user + used.system) / CALLS) * 10) / 10 }) + '\n');
