// Heap per SDK McpServer built the way a per-session factory builds it, with and without README's two
// habits (zod shapes built once; lazyJsonSchemaValidator): N servers kept alive, heap measured after a
// full GC. Run: node --expose-gc --import tsx bench/sdk-server-memory.ts
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { lazyJsonSchemaValidator } from '../src/backend/lazy-validator.js';

const N = 5_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const ECHO_INPUT = { text: z.string() };
const COUNT_INPUT = { n: z.number().int().min(1).max(100_000) };

function build(shapesOnce: boolean, lazyAjv: boolean): McpServer {
  const mcp = new McpServer(
    { name: 'bench', version: '1.0.0' },
    { capabilities: { tools: {}, logging: {} }, ...(lazyAjv ? { jsonSchemaValidator: lazyJsonSchemaValidator() } : {}) },
  );
  mcp.registerTool('echo', { inputSchema: shapesOnce ? ECHO_INPUT : { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  mcp.registerTool('count', { inputSchema: shapesOnce ? COUNT_INPUT : { n: z.number().int().min(1).max(100_000) } }, async ({ n }) => ({
    content: [{ type: 'text', text: String(n) }],
  }));
  return mcp;
}

for (const [label, shapesOnce, lazyAjv] of [
  ['as written in most examples', false, false],
  ['lazyJsonSchemaValidator', false, true],
  ['zod shapes built once', true, false],
  ['both', true, true],
] as const) {
  const kept: McpServer[] = [];
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < N; i++) kept.push(build(shapesOnce, lazyAjv));
  gc();
  const kib = (process.memoryUsage().heapUsed - before) / N / 1024;
  console.log(`${label.padEnd(28)} ${kib.toFixed(1)} KiB per McpServer (${kept.length} kept)`);
}
