// Listening streams that a server (or a proxy) accepts and then ends at once: reopened with a
// growing backoff, never at a constant rate; and never sooner than the server's `retry:`. Each
// server here misbehaves on purpose (no real peer does this), so each is a few lines of node:http;
// where a real server can do the rest, it does.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { createHandler, ModernHttpClientTransport, SseClientTransport, StreamableHttpClientTransport } from '../../src/index.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { sleep } from '../helpers.js';

/** Backoff from 50 ms: at a constant rate that is dozens of reopenings a second; growing, a handful in all. */
const RECONNECT = { initialDelayMs: 50, maxDelayMs: 5_000 };
const WATCH_MS = 3_000;

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function body(req: IncomingMessage): Promise<{ id?: unknown; method?: string }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

const sse = (m: object) => `data: ${JSON.stringify(m)}\n\n`;
const ACK = { jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: { toolsListChanged: true } } };

/** A 2026-07-28 server whose listen streams are acknowledged, carry `extra`, and end at once. */
async function modernServer(extra: string): Promise<{ url: string; listens(): number; close(): Promise<void> }> {
  let listens = 0;
  const s = await listen(async (req, res) => {
    const m = await body(req);
    if (m.method === 'server/discover') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { supportedVersions: ['2026-07-28'], capabilities: { tools: { listChanged: true } } } }));
      return;
    }
    if (m.method === 'subscriptions/listen') {
      listens++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse(ACK) + extra);
      return;
    }
    res.writeHead(404).end();
  });
  return { url: `${s.url}/mcp`, listens: () => listens, close: () => s.close() };
}

async function translatedClient(url: string, reconnect: object): Promise<{ t: ModernHttpClientTransport; listChanged(): number }> {
  const t = new ModernHttpClientTransport(url, { reconnect });
  let listChanged = 0;
  t.onmessage = (m: JSONRPCMessage) => {
    if ((m as { method?: string }).method === 'notifications/tools/list_changed') listChanged++;
  };
  await t.start();
  await t.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'pacing', version: '1' } } });
  await t.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { t, listChanged: () => listChanged };
}

test('2026-07-28: a listen stream acknowledged and ended at once is reopened with a growing backoff', async () => {
  const server = await modernServer('');
  const { t, listChanged } = await translatedClient(server.url, RECONNECT);
  try {
    await sleep(WATCH_MS);
    assert.ok(server.listens() >= 2, `listens: ${server.listens()}`);
    assert.ok(server.listens() < 20, `subscriptions/listen POSTs in ${WATCH_MS} ms: ${server.listens()}`);
    assert.ok(listChanged() < 20, `tools/list_changed announced in ${WATCH_MS} ms: ${listChanged()}`);
  } finally {
    await t.close();
    await server.close();
  }
});

test("2026-07-28: a listen stream that delivered, then ended, is reopened no sooner than the server's retry:", async () => {
  // A stream that delivered a notification worked: the backoff starts over, but its floor is retry:.
  const server = await modernServer(`retry: 1000\n\n${sse({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })}`);
  const { t } = await translatedClient(server.url, { initialDelayMs: 10, maxDelayMs: 5_000 });
  try {
    await sleep(WATCH_MS);
    assert.ok(server.listens() >= 2, `listens: ${server.listens()}`);
    assert.ok(server.listens() < 8, `subscriptions/listen POSTs in ${WATCH_MS} ms with retry: 1000: ${server.listens()}`);
  } finally {
    await t.close();
    await server.close();
  }
});

test('Streamable HTTP: a GET stream accepted and ended at once is reopened with a growing backoff', async () => {
  // mcpwire's own handler serves the session; only the GET stream misbehaves (as a proxy might).
  const mcp = createHandler({ createServer: () => createEverythingServer() });
  let gets = 0;
  const server = await listen((req, res) => {
    if (req.method === 'GET') {
      gets++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(': hello\n\n');
      return;
    }
    mcp(req, res);
  });
  const client = new Client({ name: 'pacing', version: '1' });
  await client.connect(new StreamableHttpClientTransport(`${server.url}/mcp`, { reconnect: RECONNECT }));
  try {
    await sleep(WATCH_MS);
    assert.ok(gets >= 2, `GETs: ${gets}`);
    assert.ok(gets < 20, `GETs in ${WATCH_MS} ms: ${gets}`);
    assert.deepEqual((await client.callTool({ name: 'echo', arguments: { text: 'still fine' } })).content, [{ type: 'text', text: 'still fine' }]);
  } finally {
    await client.close();
    await mcp.close();
    await server.close();
  }
});

test('legacy SSE: a stream that names its endpoint and ends at once is reopened with a growing backoff', async () => {
  let gets = 0;
  const server = await listen((req, res) => {
    if (req.method === 'GET') {
      gets++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('event: endpoint\ndata: /messages?sessionId=s1\n\n');
      return;
    }
    res.writeHead(202).end();
  });
  const t = new SseClientTransport(`${server.url}/sse`, { reconnect: RECONNECT });
  await t.start();
  try {
    await sleep(WATCH_MS);
    assert.ok(gets >= 2, `GETs: ${gets}`);
    assert.ok(gets < 20, `GETs in ${WATCH_MS} ms: ${gets}`);
  } finally {
    await t.close();
    await server.close();
  }
});
