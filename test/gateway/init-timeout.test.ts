// --init-timeout-ms in the default mode (one child per session): a child that never answers its
// session's initialize is stopped as failed once the deadline passes; the initialize gets a JSON-RPC
// error, the session ends and its place under --max-children is freed. A child that answers in time
// is untouched (no deadline outlives the handshake), and 0 keeps the old wait for ever.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sleep, STREAMABLE_HEADERS, waitFor } from '../helpers.js';
import { TINY, alive, call, capturingLogger, gatewayPerTest, initialize, openSession, post, processesMarked, textOf, type RunningGateway } from './fixtures/gateway.js';

const gateway = gatewayPerTest();

/** A file TINY_INIT_HANG_ONCE creates: the first child of the gateway never answers initialize, and writes its pid there. */
const hangMarker = () => join(mkdtempSync(join(tmpdir(), 'mcpwire-init-timeout-')), 'hung');

async function health(url: string): Promise<Record<string, any>> {
  const res = await fetch(new URL('/health', url), { signal: AbortSignal.timeout(5_000) });
  return ((await res.json()) as { children: Record<string, any> }).children;
}

/** The gateway is back to nothing: no child (nor its watcher) runs, no session is open. */
async function nothingLeft(gw: RunningGateway): Promise<void> {
  await waitFor(() => gw.gateway.children === 0, 10_000, 'the gateway to count no child');
  await waitFor(() => gw.server.handler.sessions.sessions.size === 0, 5_000, 'the session to end');
  await waitFor(() => processesMarked(gw.marker).length === 0, 10_000, 'no process of the gateway left');
  assert.equal((await health(gw.url)).alive, 0);
}

describe('isolated mode: --init-timeout-ms', () => {
  test('a child that never answers initialize: the initialize gets an error with its id, the child is stopped and reaped, the session ends and frees its place', async () => {
    const marker = hangMarker();
    const { logger, records } = capturingLogger();
    // One child at most: the next session only gets one if the hung one's place was given back.
    const gw = await gateway({ ...TINY, logger, maxChildren: 1, initTimeoutMs: 300, env: { TINY_INIT_HANG_ONCE: marker } });
    const started = Date.now();
    const r = await post(gw.url, initialize('handshake-1'), undefined, 10_000);
    const took = Date.now() - started;
    assert.equal(r.status, 200);
    assert.equal(r.body?.jsonrpc, '2.0', JSON.stringify(r.body));
    assert.equal(r.body.id, 'handshake-1', 'answered under the client’s id');
    assert.equal(r.body.error?.code, -32603, JSON.stringify(r.body));
    assert.match(r.body.error.message, /The server process did not answer initialize within 300 ms/);
    assert.doesNotMatch(JSON.stringify(r.body), /gateway-test|2025-11-25/, 'nothing the client sent is echoed');
    assert.ok(took >= 300 && took < 5_000, `answered after the deadline, not long after (${took} ms)`);

    const hung = Number(readFileSync(marker, 'utf8'));
    await waitFor(() => !alive(hung), 10_000, 'the hung child to be gone');
    await nothingLeft(gw);
    assert.equal(gw.gateway.stats.failed, 1, 'counted as a failure');
    assert.equal(gw.gateway.stats.exited, 1);
    const line = records.find((l) => l.level === 50 && /server process did not answer initialize within 300 ms/.test(l.msg));
    assert.ok(line, 'an error log line says why the child was stopped');
    assert.equal(line.sessionId, r.sessionId);

    // The place is free, and the next child (which answers) serves a session normally.
    const sid = await openSession(gw.url);
    assert.equal(textOf((await post(gw.url, call(1, 'echo', { text: 'after the hang' }), sid, 10_000)).body), 'after the hang');
    assert.equal(gw.gateway.children, 1);
  });

  for (const wire of ['mcp', 'sse'] as const) {
    test(`${wire === 'mcp' ? 'Streamable HTTP' : 'HTTP+SSE'}: an SDK client’s connect fails with the error instead of waiting; the next client connects`, async () => {
      const marker = hangMarker();
      const gw = await gateway({ ...TINY, logger: capturingLogger().logger, maxChildren: 1, initTimeoutMs: 300, env: { TINY_INIT_HANG_ONCE: marker } });
      const connect = async () => {
        const client = new Client({ name: 'init-timeout', version: '1' });
        const base = new URL(wire === 'mcp' ? '/mcp' : '/sse', gw.url);
        await client.connect(wire === 'mcp' ? new StreamableHTTPClientTransport(base) : new SSEClientTransport(base), { timeout: 10_000 });
        return client;
      };
      await assert.rejects(connect(), /did not answer initialize within 300 ms/);
      await nothingLeft(gw);
      const client = await connect();
      try {
        const r = await client.callTool({ name: 'echo', arguments: { text: 'second client' } }, undefined, { timeout: 10_000 });
        assert.deepEqual(r.content, [{ type: 'text', text: 'second client' }]);
      } finally {
        await client.close();
      }
    });
  }

  test('a child that answers in time is untouched: its session outlives the deadline, with the same child', async () => {
    const gw = await gateway({ ...TINY, initTimeoutMs: 300, env: { TINY_INIT_DELAY_MS: '100' } });
    const sid = await openSession(gw.url);
    const who = async () => JSON.parse(textOf((await post(gw.url, call('who', 'whoami'), sid, 10_000)).body)) as { pid: number };
    const { pid } = await who();
    // Runs well past the deadline of the handshake: a deadline left running would stop the child under it.
    assert.equal(textOf((await post(gw.url, call(1, 'slow', { ms: 700 }), sid, 10_000)).body), 'slept 700');
    assert.equal((await who()).pid, pid);
    assert.ok(alive(pid));
    assert.equal(gw.gateway.stats.failed, 0);
    assert.equal(gw.gateway.children, 1);
  });

  test('0: no deadline; the child is left to answer for as long as the client waits', async () => {
    const marker = hangMarker();
    const gw = await gateway({ ...TINY, initTimeoutMs: 0, env: { TINY_INIT_HANG_ONCE: marker } });
    const controller = new AbortController();
    const pending = fetch(new URL('/mcp', gw.url), { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify(initialize()), signal: controller.signal }).catch(() => undefined);
    try {
      await waitFor(() => existsSync(marker) && readFileSync(marker, 'utf8') !== '', 10_000, 'the child to get the initialize');
      const hung = Number(readFileSync(marker, 'utf8'));
      await sleep(900);
      assert.ok(alive(hung), 'the child still runs');
      assert.equal(gw.gateway.children, 1);
      assert.equal(gw.server.handler.sessions.sessions.size, 1);
      assert.equal(gw.gateway.stats.failed, 0);
    } finally {
      controller.abort();
      await (await pending)?.body?.cancel().catch(() => {});
    }
  });
});
