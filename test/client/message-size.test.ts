// maxMessageBytes counts UTF-8 bytes, the same on every path (SSE events and JSON bodies), whatever
// the characters; and on a listening stream an oversized event is skipped, reported by its bound
// (never its content), without ending the stream: what follows it arrives.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  LoggingMessageNotificationSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { ModernHttpClientTransport, StreamableHttpClientTransport, type McpWireServer } from '../../src/index.js';
import { sleep, startServer, waitFor } from '../helpers.js';
import { sseEvent, startBreakingServer } from './breaking-server.js';

const MAX = 2_048;
const TOO_LARGE = /^mcpwire: the server sent a message larger than 2048 bytes \(maxMessageBytes\); it was dropped$/;

const log = (data: string) => ({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data } });

/** A logging notification of exactly `bytes` bytes of JSON (UTF-8), its data `unit` repeated, padded with 'x'. */
function sized(bytes: number, unit: string, tag: string): { message: object; data: string } {
  const room = bytes - Buffer.byteLength(JSON.stringify(log(tag)));
  const n = Math.floor(room / Buffer.byteLength(unit));
  const data = tag + unit.repeat(n) + 'x'.repeat(room - n * Buffer.byteLength(unit));
  assert.equal(Buffer.byteLength(JSON.stringify(log(data))), bytes);
  return { message: log(data), data };
}

/** An event written in two pieces, the first all of its data line but the line end: the parser holds it, `data: ` and all. */
function split(m: object): string[] {
  const e = sseEvent(m);
  return [e.slice(0, -2), e.slice(-2)];
}

/** An event of `size` characters of data in `lines` data lines and no id, written in pieces of 1 000. */
function oversizedPieces(size: number, lines: number): string[] {
  const line = 'z'.repeat(Math.ceil(size / lines));
  const text = Array.from({ length: lines }, () => `data: ${line}\n`).join('') + '\n';
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += 1_000) pieces.push(text.slice(i, i + 1_000));
  return pieces;
}

const ACK = { jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: {} };
const changed = (what: string) => ({ jsonrpc: '2.0', method: `notifications/${what}/list_changed` });

async function body(req: IncomingMessage): Promise<{ id?: unknown; method?: string }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

/** A 2026-07-28 server whose one listen stream carries `pieces` (written apart), then stays open. */
async function modernServer(pieces: string[]): Promise<{ url: string; listens(): number; close(): Promise<void> }> {
  let listens = 0;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const m = await body(req);
    if (m.method === 'server/discover') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const capabilities = { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { listChanged: true }, logging: {} };
      res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { supportedVersions: ['2026-07-28'], capabilities } }));
      return;
    }
    if (m.method === 'subscriptions/listen') {
      listens++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sseEvent(ACK));
      for (const p of pieces) {
        await sleep(5);
        if (res.destroyed) return;
        res.write(p);
      }
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    listens: () => listens,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** An SDK client over 2026-07-28 that records the notifications it gets, in order, and its errors. */
async function modernClient(url: string): Promise<{ client: Client; t: ModernHttpClientTransport; seen: string[]; errors: Error[] }> {
  const client = new Client({ name: 'message-size', version: '1' });
  const seen: string[] = [];
  const errors: Error[] = [];
  client.onerror = (e) => void errors.push(e);
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => void seen.push('tools'));
  client.setNotificationHandler(PromptListChangedNotificationSchema, () => void seen.push('prompts'));
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void seen.push('resources'));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void seen.push(String(n.params.data).slice(0, 12)));
  const t = new ModernHttpClientTransport(url, { maxMessageBytes: MAX });
  await client.connect(t);
  return { client, t, seen, errors };
}

test('2026-07-28 listen stream: oversized events without an id are skipped and reported; the stream goes on, nothing else lost', async () => {
  const server = await modernServer([
    sseEvent(changed('tools')),
    // Far past the bound, in many data lines and pieces: the parser gives up on it mid-way.
    ...oversizedPieces(200_000, 40),
    sseEvent(changed('prompts')),
    // Past the bound, but arriving whole (most likely): measured once parsed.
    sseEvent(log('q'.repeat(MAX))),
    sseEvent(changed('resources')),
  ]);
  const { client, t, seen, errors } = await modernClient(server.url);
  try {
    await waitFor(() => seen.length === 3, 5_000, 'the three notifications');
    assert.deepEqual(seen, ['tools', 'prompts', 'resources']);
    assert.equal(errors.length, 2, errors.map((e) => e.message).join('; '));
    for (const e of errors) assert.match(e.message, TOO_LARGE);
    assert.equal(server.listens(), 1, 'the listen stream was not reopened');
    assert.equal(t.stats.streamsLost, 0);
  } finally {
    await client.close();
    await server.close();
  }
});

test('2026-07-28 listen stream: the bound counts UTF-8 bytes, not characters, at its edge', async () => {
  const atBound = sized(MAX, 'x', 'ascii-at');
  const accentAt = sized(MAX, 'é', 'accent-at');
  const accentOver = sized(MAX + 1, 'é', 'accent-over'); // 1 100 characters, 2 049 bytes
  const emojiOver = sized(MAX + 2, '😀', 'emoji-over');
  assert.ok(JSON.stringify(accentOver.message).length < MAX && JSON.stringify(emojiOver.message).length < MAX);
  const server = await modernServer([atBound, accentOver, accentAt, emojiOver].flatMap((s) => split(s.message)).concat(sseEvent(changed('tools'))));
  const { client, seen, errors } = await modernClient(server.url);
  try {
    await waitFor(() => seen.includes('tools'), 5_000, 'the last notification');
    assert.deepEqual(seen, ['ascii-atxxxx', 'accent-atééé', 'tools']);
    assert.equal(errors.length, 2, errors.map((e) => e.message).join('; '));
    for (const e of errors) assert.match(e.message, TOO_LARGE);
  } finally {
    await client.close();
    await server.close();
  }
});

for (const responseMode of ['sse', 'json'] as const) {
  describe(`Streamable HTTP, ${responseMode} answers: the bound in bytes, as for the other kind`, () => {
    let server: McpWireServer;
    before(async () => {
      server = await startServer({ responseMode });
    });
    after(async () => {
      await server.close();
    });

    for (const unit of ['é', '😀']) {
      test(`an answer under the bound in characters but over it in bytes (${unit}) fails its request; the next works`, async () => {
        const client = new Client({ name: 'message-size', version: '1' });
        await client.connect(new StreamableHttpClientTransport(`${server.url}/mcp`, { maxMessageBytes: MAX }));
        try {
          const text = unit.repeat(1_500 / unit.length); // 1 500 UTF-16 units, 3 000 bytes
          await assert.rejects(client.callTool({ name: 'echo', arguments: { text } }), /2048 bytes/);
          const ok = await client.callTool({ name: 'echo', arguments: { text: unit.repeat(100) } });
          assert.deepEqual(ok.content, [{ type: 'text', text: unit.repeat(100) }]);
        } finally {
          await client.close();
        }
      });
    }
  });
}

test('Streamable HTTP GET stream: an oversized event without an id is skipped and reported; the stream goes on, nothing else lost', async () => {
  const server = await startBreakingServer();
  const client = new Client({ name: 'message-size', version: '1' });
  const errors: Error[] = [];
  const seen: unknown[] = [];
  try {
    const t = new StreamableHttpClientTransport(server.url, { maxMessageBytes: MAX });
    await client.connect(t);
    client.onerror = (e) => void errors.push(e);
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void seen.push(n.params.data));
    await waitFor(() => server.getStream() !== undefined, 5_000, 'the GET stream');
    const get = server.getStream()!;
    get.write(sseEvent(log('before')));
    for (const p of oversizedPieces(50_000, 5)) get.write(p);
    get.write(sseEvent(log('after')));
    await waitFor(() => seen.length === 2, 5_000, 'both notifications');
    assert.deepEqual(seen, ['before', 'after']);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, TOO_LARGE);
    assert.equal(t.stats.streamsLost, 0);
  } finally {
    await client.close();
    await server.close();
  }
});
