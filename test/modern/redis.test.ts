// 2026-07-28 over several instances with a real redis-server (L9): a change on one instance reaches
// listen streams on every instance exactly once; a 2025 session elsewhere hears it too; an
// input_required retry may land on another instance; the Redis change stream is bounded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { McpWireServer } from '../../src/index.js';
import { RedisBus } from '../../src/store/redis-bus.js';
import { RedisPort } from '../../src/store/redis-port.js';
import type { ChangeEvent } from '../../src/store/types.js';
import { rawSession, readEvents, sleep, startServer } from '../helpers.js';
import { startRedis, type RedisServer } from '../scale-out/redis.js';
import { isAck, ListenReader, META, modern, openListen, subscriptionIdOf } from './helpers.js';

let redis: RedisServer;
let a: McpWireServer;
let b: McpWireServer;

before(async () => {
  redis = await startRedis();
  const options = { redis: { url: redis.url, prefix: 'mod:', leaseMs: 1_500 } };
  a = await startServer(options);
  b = await startServer(options);
});
after(async () => {
  await a.close();
  await b.close();
  await redis.close();
});

async function listenOn(s: McpWireServer, id: string, notifications: Record<string, unknown>): Promise<ListenReader> {
  const r = new ListenReader(await openListen(s.url, id, notifications));
  await r.next(isAck);
  return r;
}

const count = (r: ListenReader, method: string) => r.events.filter((m) => m.method === method).length;

describe('two instances over Redis', () => {
  test('L9: a tool-list change made on B reaches a listen on A exactly once (and one on B once)', async () => {
    const onA = await listenOn(a, 'l9-a', { toolsListChanged: true });
    const onB = await listenOn(b, 'l9-b', { toolsListChanged: true });
    const t = await modern(b.url, 'tools/call', { name: 'test_trigger_tool_change', arguments: {} });
    assert.equal(t.body!.result!.resultType, 'complete');
    const seen = await onA.next((m) => m.method === 'notifications/tools/list_changed');
    assert.equal(subscriptionIdOf(seen), 'l9-a');
    await onB.next((m) => m.method === 'notifications/tools/list_changed');
    await sleep(1_000);
    assert.equal(count(onA, 'notifications/tools/list_changed'), 1);
    assert.equal(count(onB, 'notifications/tools/list_changed'), 1);
    await onA.close();
    await onB.close();
  });

  test('a resource update announced on A reaches a listen on B; a 2025 session on B hears it once too', async () => {
    const sid = await rawSession(b.url);
    await fetch(new URL('/mcp', b.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: 'file:///shared.txt' } }),
    }).then((r) => r.text());
    const get = await fetch(new URL('/mcp', b.url), { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' } });
    const legacy = readEvents(get, () => false, 2_500);
    const onB = await listenOn(b, 'res-b', { resourceSubscriptions: ['file:///shared.txt'] });
    await sleep(200);
    await a.handler.notifyResourceUpdated('file:///shared.txt');
    const frame = await onB.next((m) => m.method === 'notifications/resources/updated');
    assert.equal((frame.params as { uri: string }).uri, 'file:///shared.txt');
    const events = (await legacy).filter((e) => e.data.includes('notifications/resources/updated'));
    assert.equal(events.length, 1);
    await sleep(300);
    assert.equal(count(onB, 'notifications/resources/updated'), 1);
    await onB.close();
  });

  test('an input_required answered on A may be retried on B (one requestState secret for the cluster)', async () => {
    const meta = { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };
    const first = await modern(a.url, 'tools/call', { name: 'test_input_required_result_request_state', arguments: {} }, { meta });
    const state = first.body!.result!.requestState;
    const retry = await modern(b.url, 'tools/call', {
      name: 'test_input_required_result_request_state',
      arguments: {},
      inputResponses: { confirm: { action: 'accept', content: { ok: true } } },
      requestState: state,
    }, { meta });
    assert.equal(retry.body!.result!.resultType, 'complete', JSON.stringify(retry.body));
  });

  test('stateless requests leave no key in Redis', async () => {
    const before = ((await redis.command('KEYS', 'mod:*')) as string[]).sort();
    for (let i = 0; i < 5; i++) await modern(b.url, 'tools/call', { name: 'echo', arguments: { text: `n${i}` } });
    await modern(a.url, 'server/discover');
    const afterKeys = ((await redis.command('KEYS', 'mod:*')) as string[]).sort();
    assert.deepEqual(afterKeys, before);
  });
});

describe('RedisBus bounds', () => {
  test('the change stream is capped and expires; a reader on another bus sees each change once', async () => {
    const log = pino({ level: 'silent' });
    const port1 = new RedisPort({ url: redis.url, prefix: 'bus:', commandTimeoutMs: 2_000, log });
    const port2 = new RedisPort({ url: redis.url, prefix: 'bus:', commandTimeoutMs: 2_000, log });
    await port1.connect();
    await port2.connect();
    const one = new RedisBus(port1, { maxLen: 50, ttlMs: 3_000, blockMs: 300, log });
    const two = new RedisBus(port2, { maxLen: 50, ttlMs: 3_000, blockMs: 300, log });
    await one.start();
    await two.start();
    const heardByOne: ChangeEvent[] = [];
    const heardByTwo: ChangeEvent[] = [];
    one.subscribe((e) => heardByOne.push(e));
    two.subscribe((e) => heardByTwo.push(e));
    try {
      for (let i = 0; i < 500; i++) await one.publish({ kind: 'resource_updated', uri: `file:///${i}` });
      const end = Date.now() + 10_000;
      while (heardByTwo.length < 500 && Date.now() < end) await sleep(20);
      assert.equal(heardByOne.length, 500, 'the publisher hears its own changes once (at once, not read back)');
      assert.equal(heardByTwo.length, 500);
      assert.deepEqual(heardByTwo.map((e) => (e as { uri: string }).uri), heardByOne.map((e) => (e as { uri: string }).uri));
      const len = Number(await redis.command('XLEN', 'bus:changes'));
      assert.ok(len >= 50 && len <= 250, `stream length ${len}`);
      const ttl = Number(await redis.command('PTTL', 'bus:changes'));
      assert.ok(ttl > 0 && ttl <= 3_000, `ttl ${ttl}`);
    } finally {
      one.stop();
      two.stop();
      await port1.close();
      await port2.close();
    }
  });
});
