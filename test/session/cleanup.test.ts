// Connection cleanup: a closed legacy stream, a DELETE, the idle TTL and shutdown each end the session,
// close its SDK server and free everything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { serve, type McpWireServer } from '../../src/index.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { INIT, STREAMABLE_HEADERS, rawSession, waitFor } from '../helpers.js';

function counted(options: Parameters<typeof serve>[0] = {}) {
  const counts = { created: 0, closed: 0 };
  const start = () =>
    serve({
      port: 0,
      ...options,
      createServer: () => {
        const mcp: McpServer = createEverythingServer();
        counts.created++;
        mcp.server.onclose = () => void counts.closed++;
        return mcp;
      },
    });
  return { counts, start };
}

async function openLegacy(server: McpWireServer): Promise<void> {
  const controller = new AbortController();
  const res = await fetch(new URL('/sse', server.url), { headers: { Accept: 'text/event-stream' }, signal: controller.signal });
  const reader = res.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const endpoint = /data: (\S+)/.exec(first)![1]!;
  // The SDK server is started by the first message, as with any client.
  const post = await fetch(new URL(endpoint, server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(INIT) });
  assert.equal(post.status, 202);
  await post.text();
  let seen = '';
  while (!seen.includes('"id":0')) seen += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
}

async function inBatches(total: number, width: number, one: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < total; i += width) {
    await Promise.all(Array.from({ length: Math.min(width, total - i) }, (_, k) => one(i + k)));
  }
}

describe('session cleanup', () => {
  test('2,000 sessions (DELETE, closed legacy stream, idle TTL) leave nothing behind', async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    // The idle TTL must outlast the gap between initialize and initialized on a loaded machine.
    const { counts, start } = counted({ sessionIdleMs: 2_000, legacyReconnectGraceMs: 50, keepAliveMs: 1000 });
    const server = await start();
    const engine = server.handler.sessions;
    try {
      await inBatches(2000, 40, async (i) => {
        if (i % 3 === 0) {
          const id = await rawSession(server.url);
          const del = await fetch(new URL('/mcp', server.url), { method: 'DELETE', headers: { 'Mcp-Session-Id': id } });
          assert.equal(del.status, 200);
        } else if (i % 3 === 1) {
          await openLegacy(server);
        } else {
          await rawSession(server.url); // left alone: the idle TTL ends it
        }
      });
      await waitFor(() => engine.sessions.size === 0, 60_000, 'every session to end');
      await waitFor(() => counts.closed === counts.created, 30_000, 'every SDK server to close');
      assert.equal(counts.created, 2000);
      assert.equal(engine.connections.open.size, 0);
      assert.equal(server.handler.stats.sessionsEnded, 2000);
      assert.deepEqual(server.handler.health().sessions, { legacy: 0, streamable: 0 });
    } finally {
      await server.close();
    }
    assert.equal(server.httpServer.listening, false);
    await waitFor(
      () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length <= timersBefore,
      5_000,
      'the engine timers to stop',
    );
  });

  test('shutdown ends every session, closes every SDK server and every stream', async () => {
    const { counts, start } = counted();
    const server = await start();
    const ids = await Promise.all(Array.from({ length: 20 }, () => rawSession(server.url)));
    const streams = await Promise.all(
      ids.map((id) => fetch(new URL('/mcp', server.url), { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': id } })),
    );
    await Promise.all(Array.from({ length: 20 }, () => openLegacyKept(server)));
    assert.equal(server.handler.sessions.sessions.size, 40);
    await server.close();
    assert.equal(server.handler.sessions.sessions.size, 0);
    await waitFor(() => counts.closed === 40, 5_000, 'SDK servers to close');
    for (const s of streams) {
      // Each stream ends (with a retry hint) rather than hanging.
      const text = await s.text();
      assert.match(text, /retry: 1000/);
    }
  });

  test('a session whose SDK server closes itself ends', async () => {
    let mcp: McpServer | undefined;
    const server = await serve({ port: 0, createServer: () => (mcp = createEverythingServer()) });
    const id = await rawSession(server.url);
    assert.equal(server.handler.sessions.sessions.size, 1);
    await mcp!.close();
    await waitFor(() => server.handler.sessions.sessions.size === 0, 2_000, 'the session to end');
    const res = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    assert.equal(res.status, 404);
    await server.close();
  });

  test('maxSessions refuses new sessions with 503 and Retry-After, on both wire formats', async () => {
    const server = await serve({ port: 0, maxSessions: 2, createServer: () => createEverythingServer() });
    await rawSession(server.url);
    await rawSession(server.url);
    const more = await fetch(new URL('/mcp', server.url), { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify(INIT) });
    assert.equal(more.status, 503);
    assert.ok(more.headers.get('retry-after'));
    assert.equal(((await more.json()) as { error: { code: number } }).error.code, -32000);
    const legacy = await fetch(new URL('/sse', server.url), { headers: { Accept: 'text/event-stream' } });
    assert.equal(legacy.status, 503);
    await legacy.text();
    await server.close();
  });
});

async function openLegacyKept(server: McpWireServer): Promise<void> {
  const res = await fetch(new URL('/sse', server.url), { headers: { Accept: 'text/event-stream' } });
  const reader = res.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const endpoint = /data: (\S+)/.exec(first)![1]!;
  const post = await fetch(new URL(endpoint, server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(INIT) });
  await post.text();
  void (async () => {
    for (;;) if ((await reader.read()).done) return;
  })().catch(() => {});
}
