// Mounting the handler in other servers, serving SDK v2 servers, JSON-response mode, and /health.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import express from 'express';
import { z } from 'zod';
import { createHandler, serve } from '../../src/index.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { STREAMABLE_HEADERS, connectClient, rawSession, readEvents, startServer } from '../helpers.js';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('an Express app serves both wire formats at a mount path, with its own JSON parser in front', async () => {
  const mcp = createHandler({ createServer: () => createEverythingServer() });
  const app = express();
  app.get('/', (_req, res) => void res.send('the app'));
  app.use('/api', express.json(), mcp);
  app.use((_req, res) => void res.status(404).send('app 404'));
  const http = createServer(app);
  const base = await listen(http);
  try {
    assert.equal(await (await fetch(base)).text(), 'the app');
    for (const wire of ['mcp', 'sse'] as const) {
      const client = await connectClient(`${base}/api/`, wire);
      const r = await client.callTool({ name: 'echo', arguments: { text: `via express ${wire}` } });
      assert.deepEqual(r.content, [{ type: 'text', text: `via express ${wire}` }]);
      await client.close();
    }
    const other = await fetch(`${base}/api/elsewhere`);
    assert.equal(await other.text(), 'app 404', 'unknown paths go to the next middleware');
  } finally {
    await mcp.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  }
});

test('a plain node:http server mounts the handler; other paths get a JSON 404', async () => {
  const mcp = createHandler({ createServer: () => createEverythingServer() });
  const http = createServer(mcp);
  const base = await listen(http);
  try {
    const client = await connectClient(base, 'mcp');
    assert.ok((await client.listTools()).tools.length > 10);
    await client.close();
    const res = await fetch(`${base}/nope`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: number } }).error.code, -32000);
  } finally {
    await mcp.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  }
});

test('an SDK v2 McpServer (@modelcontextprotocol/server 2.x) is served on both wire formats', async () => {
  const server = await serve({
    port: 0,
    createServer: () => {
      const v2 = new McpServerV2({ name: 'v2-server', version: '2.0.0' });
      v2.registerTool('shout', { description: 'Upper-cases', inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({
        content: [{ type: 'text', text: text.toUpperCase() }],
      }));
      return v2;
    },
  });
  try {
    for (const wire of ['mcp', 'sse'] as const) {
      const client = await connectClient(server.url, wire);
      assert.equal(client.getServerVersion()?.name, 'v2-server');
      const r = await client.callTool({ name: 'shout', arguments: { text: 'quiet' } });
      assert.deepEqual(r.content, [{ type: 'text', text: 'QUIET' }]);
      await client.close();
    }
  } finally {
    await server.close();
  }
});

test('JSON-response mode answers with JSON and moves related notifications to the GET stream', async () => {
  const server = await startServer({ responseMode: 'json' });
  try {
    const client = await connectClient(server.url, 'mcp');
    const logs: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.data));
    const progress: number[] = [];
    const r = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => progress.push(p.progress) });
    assert.equal(r.isError, undefined);
    await client.callTool({ name: 'test_tool_with_logging', arguments: {} });
    // They travel on the GET stream, so they may trail the JSON response slightly.
    const end = Date.now() + 3000;
    while ((logs.length < 3 || progress.length < 3) && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(progress, [0, 50, 100]);
    assert.equal(logs.length, 3);
    await client.close();

    const id = await rawSession(server.url);
    const res = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }),
    });
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { jsonrpc: '2.0', id: 9, result: {} });
  } finally {
    await server.close();
  }
});

test('/health reports sessions by wire format, streams, uptime and version; 503 while draining', async () => {
  const server = await startServer();
  const legacy = await connectClient(server.url, 'sse');
  const modern = await connectClient(server.url, 'mcp');
  const res = await fetch(new URL('/health', server.url));
  assert.equal(res.status, 200);
  const h = (await res.json()) as Record<string, unknown>;
  assert.equal(h.status, 'ok');
  assert.deepEqual(h.sessions, { legacy: 1, streamable: 1 });
  assert.ok((h.streams as number) >= 2, 'the legacy stream and the GET stream');
  assert.equal(typeof h.uptimeS, 'number');
  assert.match(h.version as string, /^\d+\.\d+\.\d+/);
  const closing = server.close({ drainMs: 500 });
  const during = await fetch(new URL('/health', server.url)).catch(() => undefined);
  if (during) {
    assert.equal(during.status, 503);
    assert.equal(((await during.json()) as { status: string }).status, 'draining');
  }
  await closing;
  await legacy.close().catch(() => {});
  await modern.close().catch(() => {});
});

test('readEvents sanity: a priming event opens every POST stream', async () => {
  const server = await startServer();
  try {
    const id = await rawSession(server.url);
    const res = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id, 'MCP-Protocol-Version': '2025-03-26' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'p', method: 'ping' }),
    });
    const events = await readEvents(res, (_e, all) => all.length >= 2);
    assert.equal(events[0]!.data, '');
    assert.equal(events[0]!.id, `r.${Buffer.from('"p"').toString('base64url')}.0`);
    assert.deepEqual(JSON.parse(events[1]!.data), { jsonrpc: '2.0', id: 'p', result: {} });
  } finally {
    await server.close();
  }
});
