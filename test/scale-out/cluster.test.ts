// Three mcpwire processes behind a plain round-robin proxy, a real redis-server as the shared
// engine: no stickiness, kill -9 of stream holders and owners, a Redis restart, hibernation across
// instances, and keys that never outlive their sessions.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connect } from '../../src/index.js';
import { INIT, STREAMABLE_HEADERS, connectClient, rawSession, readEvents, readToEnd, waitFor } from '../helpers.js';
import { Tally, pump } from '../sse-tally.js';
import { spawnInstance as spawnOne, type Instance } from './instance-process.js';
import { startRedis, type RedisServer } from './redis.js';
import { startRoundRobin, type RoundRobinProxy } from './rr-proxy.js';

const PREFIX = 'cl:';
const LEASE_MS = 1500;

let redis: RedisServer;
let proxy: RoundRobinProxy;
const instances: Instance[] = [];

async function spawnInstance(env: Record<string, string> = {}): Promise<Instance> {
  const instance = await spawnOne({ REDIS_URL: redis.url, PREFIX, LEASE_MS: String(LEASE_MS), HIBERNATE_MS: '700', ...env });
  instances.push(instance);
  return instance;
}

function kill9(i: Instance): void {
  i.child.kill('SIGKILL');
  i.dead = true;
}

const live = () => instances.filter((i) => !i.dead);
const field = (sid: string, key: string, f: string) => redis.command('HGET', `${PREFIX}{${sid}}${key}`, f) as Promise<string | null>;
const byId = (id: string | null) => instances.find((i) => i.id === id);

before(async () => {
  redis = await startRedis();
  await Promise.all([spawnInstance(), spawnInstance(), spawnInstance()]);
  proxy = await startRoundRobin(() => live().map((i) => i.port));
});
after(async () => {
  await proxy.close();
  for (const i of live()) i.child.kill('SIGKILL');
  await redis.close();
});

const post = (sid: string, body: unknown, base: string = proxy.url) =>
  fetch(`${base}/mcp`, { method: 'POST', headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' }, body: JSON.stringify(body) });
const call = (sid: string, id: number, name: string, args: Record<string, unknown>, base?: string) =>
  post(sid, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }, base);
const get = (sid: string, lastEventId?: string) =>
  fetch(`${proxy.url}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) } });

/** Streams resumed with Last-Event-ID, over every live instance. */
async function replays(): Promise<number> {
  const counts = await Promise.all(live().map(async (i) => Number(/^mcpwire_replays_total (\d+)$/m.exec(await (await fetch(`${i.url}/metrics`)).text())?.[1])));
  return counts.reduce((a, b) => a + b, 0);
}

/** Opens the session's GET stream through the proxy until an instance other than `avoid` holds it. */
async function getAwayFrom(sid: string, avoid: Instance): Promise<Response> {
  for (;;) {
    const res = await get(sid);
    if (byId(await field(sid, ':om', 'h:g'))?.id !== avoid.id) return res;
    await res.body?.cancel();
  }
}

/** Keeps a stream going through the proxy: each time its connection breaks, resume with Last-Event-ID. */
function follow(sid: string, tally: Tally, first: Response): { stop(): void; done: Promise<void>; resumes: number } {
  const state = { stopped: false, resumes: 0 };
  const done = (async () => {
    let res = first;
    for (;;) {
      const end = await pump(res, tally.onEvent);
      if (state.stopped || end === 'ended') return;
      for (;;) {
        try {
          res = await get(sid, tally.lastId);
          if (res.status === 200) break;
          if (res.status === 204) return;
          await res.text();
        } catch {
          // the proxy's backend died mid-request: try again
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      state.resumes++;
    }
  })();
  return {
    stop: () => (state.stopped = true),
    done,
    get resumes() {
      return state.resumes;
    },
  };
}

describe('three instances behind a round-robin proxy', () => {
  test('both wire formats work with no stickiness; requests spread over every instance', async () => {
    const before = [...proxy.counts];
    for (const wire of ['mcp', 'sse'] as const) {
      const client = await connectClient(proxy.url, wire, { sampling: {} });
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({
        role: 'assistant',
        model: 'm',
        content: { type: 'text', text: 'sampled across instances' },
      }));
      for (let i = 0; i < 30; i++) {
        const r = await client.callTool({ name: 'echo', arguments: { text: `${wire}-${i}` } });
        assert.deepEqual(r.content, [{ type: 'text', text: `${wire}-${i}` }]);
      }
      const seen: number[] = [];
      await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => seen.push(p.progress) });
      assert.deepEqual(seen, [0, 50, 100]);
      const sampled = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'x' } });
      assert.deepEqual(sampled.content, [{ type: 'text', text: 'sampled: sampled across instances' }], 'a server→client request answered through another instance');
      if (wire === 'mcp') {
        const resumed = await replays();
        for (let i = 0; i < 3; i++) {
          const r = await client.callTool({ name: 'test_reconnection', arguments: {} });
          assert.deepEqual(r.content, [{ type: 'text', text: 'answered after the stream was closed' }], 'a POST stream its server closed, resumed through the proxy');
        }
        assert.equal((await replays()) - resumed, 3, 'each call\'s stream was closed and resumed once');
      }
      await client.close();
    }
    const spread = proxy.counts.map((c, i) => c - (before[i] ?? 0));
    const total = spread.reduce((a, b) => a + b, 0);
    for (const share of spread) assert.ok(share >= total * 0.25, `every instance took its share: ${spread.join('/')}`);
  });

  test('concurrent calls landing on every instance: the owner runs each exactly once, each caller\'s in its order; the stream metadata stays bounded', async () => {
    const sid = await rawSession(proxy.url);
    const TOTAL = 300;
    const positions: number[] = [];
    const byWorker: number[][] = [];
    let next = 0;
    const worker = async (w: number) => {
      byWorker[w] = [];
      while (next < TOTAL) {
        const k = next++;
        // Straight to an instance, a different one each time: most calls reach the owner by a doorbell.
        const res = await call(sid, 1000 + k, 'seq', { text: `c${k}` }, live()[k % live().length]!.url);
        const events = await readEvents(res, (e) => e.data.includes('"result"'));
        const text = (JSON.parse(events.at(-1)!.data) as { result: { content: Array<{ text: string }> } }).result.content[0]!.text;
        const [position, echoed] = text.split(' ');
        assert.equal(echoed, `c${k}`);
        positions.push(Number(position));
        byWorker[w]!.push(Number(position));
      }
    };
    await Promise.all(Array.from({ length: 12 }, (_, w) => worker(w)));
    assert.deepEqual(
      [...positions].sort((a, b) => a - b),
      Array.from({ length: TOTAL }, (_, i) => i),
      'the server object ran every call once: none twice, none skipped',
    );
    for (const mine of byWorker) assert.deepEqual(mine, [...mine].sort((a, b) => a - b), 'a call sent after an answer runs after that call');
    // A busy session's stream metadata stays bounded: only the retained finished streams (100 by default)
    // keep their fields and logs.
    const fields = Number(await redis.command('HLEN', `${PREFIX}{${sid}}:om`));
    assert.ok(fields <= 100 * 5 + 10, `${fields} stream metadata fields after ${TOTAL} calls`);
    assert.equal(Number(await redis.command('ZCARD', `${PREFIX}{${sid}}:of`)), 100);
    const logs = (await redis.command('KEYS', `${PREFIX}{${sid}}:o:r.*`)) as string[];
    assert.ok(logs.length <= 100, `${logs.length} POST stream logs kept`);
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  test('messages too large to ride a doorbell cross instances through the logs', async () => {
    const sid = await rawSession(proxy.url);
    const owner = byId(await field(sid, '', 'own'))!;
    const other = live().find((i) => i.id !== owner.id)!;
    const big = 'x'.repeat(100_000); // over the 16 KiB a doorbell carries, both ways
    for (let k = 0; k < 3; k++) {
      const res = await call(sid, 2000 + k, 'echo', { text: `${k}${big}` }, other.url);
      const events = await readEvents(res, (e) => e.data.includes('"result"'));
      const answer = JSON.parse(events.at(-1)!.data) as { result: { content: Array<{ text: string }> } };
      assert.equal(answer.result.content[0]!.text, `${k}${big}`);
    }
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  test('a call cancelled through a third instance: its POST stream ends where it is held, with no response', async () => {
    const sid = await rawSession(proxy.url);
    const owner = byId(await field(sid, '', 'own'))!;
    const [entry, third] = live().filter((i) => i.id !== owner.id) as [Instance, Instance];
    for (let id = 1; id <= 3; id++) {
      const res = await call(sid, id, 'wait_for_cancel', {}, entry.url);
      assert.equal(res.status, 200);
      const cancelled = await post(sid, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'moved on' } }, third.url);
      assert.equal(cancelled.status, 202);
      const events = await readToEnd(res);
      assert.deepEqual(events.filter((e) => e.data !== '').map((e) => e.data), [], 'no response to a cancelled request');
    }
    const res = await call(sid, 4, 'echo', { text: 'after' }, third.url);
    const events = await readEvents(res, (e) => e.data.includes('"result"'));
    assert.match(events.at(-1)!.data, /"text":"after"/);
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  /** A 2025-03-26 session (batches allowed), its owner, and another instance to post batches to. */
  async function batchSession() {
    const v = { 'MCP-Protocol-Version': '2025-03-26' };
    const init = await fetch(`${proxy.url}/mcp`, { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify({ ...INIT, params: { ...INIT.params, protocolVersion: '2025-03-26' } }) });
    await init.text();
    const sid = init.headers.get('mcp-session-id')!;
    const owner = byId(await field(sid, '', 'own'))!;
    const other = live().find((i) => i.id !== owner.id)!;
    const postAt = (at: Instance, body: unknown) => fetch(`${at.url}/mcp`, { method: 'POST', headers: { ...STREAMABLE_HEADERS, ...v, 'Mcp-Session-Id': sid }, body: JSON.stringify(body) });
    const toOther = (body: unknown) => postAt(other, body);
    assert.equal((await toOther({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
    const slow = (id: number, ms: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms } } });
    const inFlight = async () => ((await redis.command('HKEYS', `${PREFIX}{${sid}}:om`)) as string[]).filter((f) => f.startsWith('k:')).length;
    return { sid, owner, other, postAt, toOther, slow, inFlight };
  }

  test('a 2025-03-26 batch posted to an instance that does not own the session: every answer, then the stream ends; a batch or request naming a request in flight gets 400', async () => {
    const { sid, owner, other, postAt, toOther, slow, inFlight } = await batchSession();
    // The owner answers all of a batch in one turn: each answer is in flight to Redis before the next is sent.
    for (let round = 0; round < 5; round++) {
      const ids = [1, 2, 3].map((k) => round * 10 + k);
      const res = await toOther(ids.map((id) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: `${id}` } } })));
      assert.equal(res.status, 200);
      const answers = (await readToEnd(res)).filter((e) => e.data !== '').map((e) => JSON.parse(e.data) as { id: number });
      assert.deepEqual(answers.map((a) => a.id).sort((a, b) => a - b), ids);
    }
    assert.equal(await inFlight(), 0, 'an answered batch leaves nothing noted as in flight');
    // A batch or a request naming any request still in flight (the first of a batch or another) is refused
    // wherever it lands, and the running ones are left be.
    const running = await toOther([slow(50, 1500), slow(51, 1500)]);
    assert.equal(running.status, 200);
    for (const at of live()) {
      const through = `through ${at === owner ? 'the owner' : at === other ? 'the instance running the POST' : 'a third instance'}`;
      for (const body of [[slow(50, 0)], [slow(60, 0), slow(51, 0)], slow(51, 0)]) {
        const dup = await postAt(at, body);
        assert.equal(dup.status, 400, `${JSON.stringify(body)} ${through}`);
        assert.match(await dup.text(), /already in use/);
      }
    }
    const slept = (await readToEnd(running)).filter((e) => e.data !== '').map((e) => JSON.parse(e.data) as { id: number; result: { content: Array<{ text: string }> } });
    assert.deepEqual(slept.map((m) => [m.id, m.result.content[0]!.text]).sort(), [[50, 'slept 1500'], [51, 'slept 1500']]);
    // Answered, the ids are free again.
    const reused = await toOther([slow(60, 0), slow(51, 0)]);
    assert.deepEqual((await readToEnd(reused)).filter((e) => e.data !== '').map((e) => (JSON.parse(e.data) as { id: number }).id).sort(), [51, 60]);
    assert.equal(await inFlight(), 0);
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  test('a 2025-03-26 batch in flight when its owner dies: each of its requests is answered owner_lost, then its stream ends', async () => {
    const { sid, owner, toOther, slow, inFlight } = await batchSession();
    const running = await toOther([slow(1, 30_000), slow(2, 30_000), slow(3, 0)]);
    assert.equal(running.status, 200);
    const events: Array<{ data: string }> = [];
    const ended = pump(running, (e) => void events.push(e));
    await waitFor(() => events.some((e) => e.data.includes('"id":3')), 10_000, 'the quick request of the batch answered');
    kill9(owner);
    await ended;
    const answers = events.filter((e) => e.data !== '').map((e) => JSON.parse(e.data) as { id: number; result?: unknown; error?: { data?: { reason?: string } } });
    assert.deepEqual(answers.map((a) => a.id).sort(), [1, 2, 3], 'one answer each, none twice');
    for (const a of answers.filter((x) => x.id !== 3)) assert.equal(a.error?.data?.reason, 'owner_lost', `request ${a.id}`);
    assert.equal(await inFlight(), 0);
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    await spawnInstance();
  });

  test('a tool ends the GET stream\'s connection (closeStandaloneSSEStream): it ends on the instance holding it', async () => {
    const sid = await rawSession(proxy.url);
    const owner = byId(await field(sid, '', 'own'))!;
    const listening = await getAwayFrom(sid, owner);
    const holder = byId(await field(sid, ':om', 'h:g'))!;
    const third = live().find((i) => i.id !== owner.id && i.id !== holder.id)!;
    const res = await call(sid, 1, 'close_get_stream', {}, third.url);
    assert.match((await readEvents(res, (e) => e.data.includes('"result"'))).at(-1)!.data, /"text":"closed"/);
    await readToEnd(listening);
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  test('DELETE through a third instance: the GET stream held on another ends, and every instance answers 404 after', async () => {
    const sid = await rawSession(proxy.url);
    const owner = byId(await field(sid, '', 'own'))!;
    const listening = await getAwayFrom(sid, owner);
    assert.equal(listening.status, 200);
    const holder = byId(await field(sid, ':om', 'h:g'))!;
    const third = live().find((i) => i.id !== owner.id && i.id !== holder.id)!;
    const del = await fetch(`${third.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    assert.equal(del.status, 200);
    await readToEnd(listening);
    for (const i of live()) {
      const res = await call(sid, 9, 'echo', { text: 'gone?' }, i.url);
      assert.equal(res.status, 404, `instance ${i.id} knows the session is gone`);
      await res.text();
    }
  });

  test('a request sent again while it runs, through any instance: the new POST joins its stream, it runs once; its id can be used again after', async () => {
    const sid = await rawSession(proxy.url);
    const owner = byId(await field(sid, '', 'own'))!;
    const [other, third] = live().filter((i) => i.id !== owner.id) as [Instance, Instance];
    const results = async (res: Response) => (await readToEnd(res)).filter((e) => e.data.includes('"result"')).map((e) => (JSON.parse(e.data) as { result: { content: Array<{ text: string }> } }).result.content[0]!.text);
    let id = 100;
    for (const [first, again] of [[owner, owner], [other, other], [other, third], [owner, other]] as const) {
      id++;
      const running = await call(sid, id, 'slow', { ms: 800 }, first.url);
      assert.equal(running.status, 200);
      await new Promise((r) => setTimeout(r, 200));
      // Sent again with the same id: the session already runs this request, so it is not run a second time.
      const joined = await call(sid, id, 'echo', { text: 'run twice' }, again.url);
      assert.equal(joined.status, 200);
      assert.deepEqual(await results(running), [], 'the first connection lets go of the stream');
      assert.deepEqual(await results(joined), ['slept 800'], `POSTs through ${first === owner ? 'the owner' : 'another'}, then ${again === owner ? 'the owner' : again === first ? 'the same' : 'a third'} instance`);
      const reused = await call(sid, id, 'echo', { text: `again ${id}` }, again.url);
      assert.deepEqual(await results(reused), [`again ${id}`], 'once answered, the id may be used again');
    }
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  test('a Last-Event-ID naming a POST stream the session never had: 410 on every instance, and nothing of it is kept', async () => {
    const sid = await rawSession(proxy.url);
    const metaBefore = (await redis.command('HKEYS', `${PREFIX}{${sid}}:om`)) as string[];
    for (let k = 0; k < 30; k++) {
      const tag = `r.${Buffer.from(JSON.stringify(`made-up-${k}`)).toString('base64url')}`;
      const res = await get(sid, `${tag}.1-0`);
      assert.equal(res.status, 410);
      assert.equal(((await res.json()) as { error: { data: { reason: string } } }).error.data.reason, 'stream_unknown');
    }
    assert.deepEqual(((await redis.command('HKEYS', `${PREFIX}{${sid}}:om`)) as string[]).sort(), metaBefore.sort(), 'no holder noted for a stream that does not exist');
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  test('the GET stream resumed on its owner again and again while it appends: every number once, in order', async () => {
    const sid = await rawSession(proxy.url);
    const owner = byId(await field(sid, '', 'own'))!;
    const getOwner = (lastEventId: string | undefined, signal: AbortSignal) =>
      fetch(`${owner.url}/mcp`, { signal, headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) } });
    const tally = new Tally('tick');
    const tick = call(sid, 1, 'tick', { n: 1000, delayMs: 0 }, owner.url).then((r) => r.text());
    // Each connection is cut after a few events; the next resumes from the last id it saw, on the owner,
    // while the owner goes on appending: a replay and the owner's own writes meet at every attach.
    let resumes = 0;
    while (tally.numbers.length < 1000 && resumes < 400) {
      const abort = new AbortController();
      const res = await getOwner(tally.lastId, abort.signal);
      assert.equal(res.status, 200);
      // Cut once the connection is up (its replay is already on the way), so that every round gets somewhere.
      const cut = setTimeout(() => abort.abort(), 15);
      await pump(res, tally.onEvent); // 'broken' once cut
      clearTimeout(cut);
      resumes++;
    }
    await tick;
    tally.assertExactlyOnceInOrder(1000);
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  test('kill -9 of the instance holding the GET stream mid-burst: every number once, in order', async () => {
    const sid = await rawSession(proxy.url);
    const owner = byId(await field(sid, '', 'own'))!;
    // Open the GET stream until it lands on an instance other than the owner.
    const res = await getAwayFrom(sid, owner);
    const holder = byId(await field(sid, ':om', 'h:g'))!;
    const tally = new Tally('tick');
    const stream = follow(sid, tally, res);
    const tick = call(sid, 1, 'tick', { n: 1000, delayMs: 2 }).then((r) => r.text()).catch(() => '');
    await waitFor(() => tally.numbers.length >= 300, 30_000, '300 notifications');
    kill9(holder);
    await waitFor(() => tally.numbers.length >= 1000, 60_000, 'all 1,000 notifications');
    tally.assertExactlyOnceInOrder(1000);
    assert.ok(stream.resumes >= 1, 'the stream was resumed on another instance');
    stream.stop();
    await tick;
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    await stream.done;
    await spawnInstance();
  });

  test('kill -9 of the owner mid-burst: the logged numbers once, in order; one owner_lost; the session lives on', async () => {
    const sid = await rawSession(proxy.url);
    const owner = byId(await field(sid, '', 'own'))!;
    const res = await getAwayFrom(sid, owner);
    const tally = new Tally('tick');
    const stream = follow(sid, tally, res);
    // The tool call's own stream, followed through resumes too: it must end with exactly one answer.
    const answers = new Tally('tick');
    const callStream = follow(sid, answers, await call(sid, 7, 'tick', { n: 1000, delayMs: 2 }));
    await waitFor(() => tally.numbers.length >= 300, 30_000, '300 notifications');
    const killedAt = Date.now();
    kill9(owner);
    await callStream.done;
    const recovery = Date.now() - killedAt;
    const lost = answers.errors;
    assert.equal(lost.length, 1, 'exactly one answer to the interrupted call');
    assert.equal((lost[0] as { data?: { reason?: string; retryable?: boolean } }).data?.reason, 'owner_lost');
    assert.equal((lost[0] as { data?: { retryable?: boolean } }).data?.retryable, true);
    const k = tally.numbers.length;
    assert.ok(k < 1000);
    tally.assertExactlyOnceInOrder(k);
    console.log(`owner killed after ${k} of 1,000: its call answered owner_lost ${recovery} ms later (lease ${LEASE_MS} ms)`);
    // The session goes on, with a new owner rebuilt from the record; the retried call delivers all.
    const newOwner = await field(sid, '', 'own');
    assert.notEqual(newOwner, owner.id);
    const again = new Tally('tick');
    tally.numbers.length = 0;
    const retried = follow(sid, again, await call(sid, 8, 'tick', { n: 1000, delayMs: 0 }));
    await retried.done;
    await waitFor(() => tally.numbers.length >= 1000, 30_000, 'the retried 1,000 on the GET stream');
    tally.assertExactlyOnceInOrder(1000);
    stream.stop();
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    await stream.done;
    await spawnInstance();
  });

  test('a paused owner (SIGSTOP past its lease) is fenced when it wakes: nothing it sends afterwards gets out', async () => {
    const sid = await rawSession(proxy.url);
    const owner = byId(await field(sid, '', 'own'))!;
    const other = live().find((i) => i !== owner)!;
    const direct = (body: unknown) =>
      fetch(`${other.url}/mcp`, { method: 'POST', headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' }, body: JSON.stringify(body) });
    const res = await getAwayFrom(sid, owner);
    const tally = new Tally('tick');
    const stream = follow(sid, tally, res);
    const answers = new Tally('tick');
    const tickCall = follow(sid, answers, await direct({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'tick', arguments: { n: 1000, delayMs: 2 } } }));
    await waitFor(() => tally.numbers.length >= 200, 30_000, '200 notifications');
    owner.child.kill('SIGSTOP');
    try {
      await new Promise((r) => setTimeout(r, 2 * LEASE_MS + 500));
      // Another instance takes the session over: the paused call is answered owner_lost, a new call works.
      const echo = await direct({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo', arguments: { text: 'after the pause' } } });
      assert.match(await echo.text(), /after the pause/);
      await tickCall.done;
      assert.equal((answers.errors[0] as { data?: { reason?: string } }).data?.reason, 'owner_lost');
    } finally {
      owner.child.kill('SIGCONT');
    }
    const k = tally.numbers.length;
    await new Promise((r) => setTimeout(r, 1_000)); // the old owner runs again and tries to go on
    assert.equal(tally.numbers.length, k, 'nothing from the fenced owner reached the client');
    tally.assertExactlyOnceInOrder(k);
    const logged = (await redis.command('XRANGE', `${PREFIX}{${sid}}:o:g`, '-', '+')) as Array<[string, string[]]>;
    assert.equal(logged.length, k, 'nothing from the fenced owner reached the log either');
    stream.stop();
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    await stream.done;
  });

  /** kill -9 of an owner; returns once Redis has dropped its connections, while its lease still holds (LEASE_MS). */
  async function killBeforeLeaseLapses(owner: Instance): Promise<void> {
    kill9(owner);
    const listeners = async () => ((await redis.command('PUBSUB', 'NUMSUB', `${PREFIX}b:${owner.id}`)) as [string, number])[1];
    for (const end = Date.now() + 5_000; (await listeners()) !== 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
    assert.equal(await listeners(), 0, 'Redis saw the dead owner leave its channel');
    assert.equal(await redis.command('EXISTS', `${PREFIX}i:${owner.id}`), 1, 'the dead owner still holds its lease');
  }

  /**
   * A legacy session whose stream one instance holds while another owns it (it went to sleep and a
   * call through the other woke it): killing the owner leaves the client's stream standing.
   */
  async function legacySplit() {
    const events: Array<{ event?: string; data: string }> = [];
    const holder = live()[0]!;
    const hangUp = new AbortController();
    const stream = await fetch(`${holder.url}/sse`, { headers: { Accept: 'text/event-stream' }, signal: hangUp.signal });
    const pumped = pump(stream, (e) => void events.push(e));
    await waitFor(() => events.some((e) => e.event === 'endpoint'), 5_000, 'the endpoint event');
    const endpoint = events.find((e) => e.event === 'endpoint')!.data;
    const sid = new URL(endpoint, holder.url).searchParams.get('sessionId')!;
    const postTo = (i: Instance, body: unknown) =>
      fetch(new URL(endpoint, i.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const answer = async (id: number) => {
      await waitFor(() => events.some((e) => e.data.includes(`"id":${id}`)), 15_000, `the answer to ${id}`);
      return JSON.parse(events.find((e) => e.data.includes(`"id":${id}`))!.data) as { result?: { content: Array<{ text: string }> }; error?: { data?: { reason?: string } } };
    };
    await postTo(holder, INIT);
    await answer(0);
    await postTo(holder, { jsonrpc: '2.0', method: 'notifications/initialized' });
    for (const end = Date.now() + 15_000; (await field(sid, '', 'st')) !== 'hib' && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
    const owner = live().find((i) => i !== holder)!;
    assert.equal((await postTo(owner, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'wake' } } })).status, 202);
    await answer(1);
    assert.equal(await field(sid, '', 'own'), owner.id);
    const killOwner = () => killBeforeLeaseLapses(owner);
    const close = async () => {
      hangUp.abort();
      await pumped;
      await spawnInstance();
    };
    return { sid, holder, owner, postTo, answer, killOwner, close };
  }

  test('legacy /sse: a request posted after its owner died, before its lease lapsed, is run by the instance taking over', async () => {
    const { sid, holder, postTo, answer, killOwner, close } = await legacySplit();
    await killOwner();
    const third = live().find((i) => i !== holder)!;
    const sent = Date.now();
    assert.equal((await postTo(third, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'after the owner died' } } })).status, 202);
    const r = await answer(2);
    console.log(`failover (legacy): the call posted after the owner died was answered in ${Date.now() - sent} ms (lease ${LEASE_MS} ms)`);
    assert.equal(r.result?.content[0]?.text, 'after the owner died', 'run by the instance that took over, not failed as lost');
    const om = (await redis.command('HKEYS', `${PREFIX}{${sid}}:om`)) as string[];
    assert.deepEqual(om.filter((f) => f.startsWith('n:') || f.startsWith('q:')), [], 'answered: nothing of it is left in flight');
    await close();
  });

  test('legacy /sse: a request in flight when its owner dies is answered owner_lost on the stream held elsewhere, with no further message', async () => {
    const { owner, postTo, answer, killOwner, close } = await legacySplit();
    assert.equal((await postTo(owner, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: { ms: 30_000 } } })).status, 202);
    await new Promise((r) => setTimeout(r, 200)); // the owner runs it
    const killed = Date.now();
    await killOwner();
    // The holder was told who woke the session: its check of owners' leases sees this one lapse.
    const r = await answer(2);
    console.log(`failover (legacy, in flight): owner_lost ${Date.now() - killed} ms after kill -9 (lease ${LEASE_MS} ms)`);
    assert.equal(r.error?.data?.reason, 'owner_lost');
    await close();
  });

  test('a paused owner does not run, once it wakes, what it was handed before its lease lapsed', async () => {
    // B listens for a URI; A's owner is paused, then handed a call that publishes a change of that URI.
    const uri = 'test://paused-owner';
    const sidB = await rawSession(proxy.url);
    await (await post(sidB, { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri } })).text();
    const sidA = await rawSession(proxy.url);
    const owner = byId(await field(sidA, '', 'own'))!;
    const other = live().find((i) => i !== owner)!;
    owner.child.kill('SIGSTOP');
    let answer;
    try {
      // Its lease still holds and its connections are open: the call is rung to it, as to a live owner.
      assert.equal(await redis.command('EXISTS', `${PREFIX}i:${owner.id}`), 1, 'the paused owner still holds its lease');
      const res = await call(sidA, 2, 'publish_update', { uri }, other.url);
      answer = JSON.parse((await readToEnd(res, 10_000)).at(-1)!.data) as { error?: { data?: { reason?: string } } };
    } finally {
      owner.child.kill('SIGCONT');
    }
    // The lease lapsed, another instance took A over and answered the call it cannot know the fate of.
    assert.equal(answer.error?.data?.reason, 'owner_lost');
    assert.notEqual(await field(sidA, '', 'own'), owner.id);
    await new Promise((r) => setTimeout(r, 1_000)); // the old owner runs again, with that doorbell waiting
    assert.equal(await redis.command('XLEN', `${PREFIX}{${sidB}}:o:g`), 0, 'the woken owner did not run the call: no change was published');
    const after = await call(sidA, 3, 'echo', { text: 'still served' });
    assert.match(await after.text(), /still served/);
  });

  test('the mcpwire client through the proxy: kill -9 of the instance holding its GET stream mid-burst, then of its owner; every notification once, in order; calls go on', async (t) => {
    const client = await connect(`${proxy.url}/mcp`, { transport: 'streamable', reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
    t.after(() => client.close());
    const sid = (client.transport as { sessionId?: string }).sessionId!;
    const ticks: number[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void ticks.push((n.params.data as { tick: number }).tick));
    let holderId: string | null = null;
    for (const end = Date.now() + 10_000; !holderId && Date.now() < end; ) {
      holderId = await field(sid, ':om', 'h:g');
      if (!holderId) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(holderId, 'the client opened its GET stream');
    const holder = byId(holderId)!;
    // initialize, initialized and the GET went to three instances in turn.
    assert.notEqual(holder.id, await field(sid, '', 'own'));

    const burst = client.callTool({ name: 'tick', arguments: { n: 600, delayMs: 2 } });
    await waitFor(() => ticks.length >= 150, 30_000, '150 notifications');
    kill9(holder);
    assert.deepEqual((await burst).content, [{ type: 'text', text: 'ticked 600' }]);
    await waitFor(() => ticks.length >= 600, 30_000, 'all 600 notifications');
    assert.deepEqual(ticks, Array.from({ length: 600 }, (_, i) => i + 1), 'every number once, in order, across the resume');
    await spawnInstance();

    // The session may have gone to sleep since (HIBERNATE_MS): a call wakes it; kill whoever owns it then.
    ticks.length = 0;
    await client.callTool({ name: 'tick', arguments: { n: 1 } });
    const owner = byId(await field(sid, '', 'own'))!;
    assert.ok(owner, 'the session has a live owner');
    await killBeforeLeaseLapses(owner);
    ticks.length = 0;
    const sent = Date.now();
    const r = await client.callTool({ name: 'tick', arguments: { n: 50 } });
    console.log(`failover: the call sent after the owner died was answered in ${Date.now() - sent} ms (lease ${LEASE_MS} ms)`);
    assert.deepEqual(r.content, [{ type: 'text', text: 'ticked 50' }], 'a call sent after the owner died, before its lease lapsed: the instance taking the session over runs it (the dead owner never had it)');
    await waitFor(() => ticks.length >= 50, 30_000, 'the next 50 notifications');
    assert.deepEqual(ticks, Array.from({ length: 50 }, (_, i) => i + 1));
    assert.notEqual(await field(sid, '', 'own'), owner.id);
    const om = (await redis.command('HKEYS', `${PREFIX}{${sid}}:om`)) as string[];
    assert.deepEqual(om.filter((f) => f.startsWith('n:')), [], 'the mark of the call taken after the owner died is cleared once the new owner delivers it');
    await spawnInstance();
  });

  for (const wire of ['mcp', 'sse'] as const) {
    test(`hibernate, then wake on another instance: client info, tools and subscriptions still work (${wire})`, async () => {
      const client = await connectClient(proxy.url, wire, { sampling: {} });
      const updates: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
      await client.subscribeResource({ uri: 'test://watched-resource' });
      // The legacy transport keeps its session id only in the endpoint URL the server gave it.
      const t = client.transport as { sessionId?: string; _endpoint?: URL };
      const sid = t.sessionId ?? t._endpoint!.searchParams.get('sessionId')!;
      const firstOwner = await field(sid, '', 'own');
      let state: string | null = null;
      const end = Date.now() + 15_000;
      while (state !== 'hib' && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
        state = await field(sid, '', 'st');
      }
      assert.equal(state, 'hib', 'the idle session was put to sleep');
      // Asleep: a change published anywhere still reaches it.
      const other = await connectClient(proxy.url, 'mcp');
      await other.callTool({ name: 'publish_update', arguments: { uri: 'test://watched-resource' } });
      await waitFor(() => updates.length === 1, 10_000, 'the update while asleep');
      // Wake it with calls through the proxy: whichever instance takes them rebuilds the server.
      const who = JSON.parse(((await client.callTool({ name: 'whoami', arguments: {} })).content as Array<{ text: string }>)[0]!.text);
      assert.equal(who.client.name, 'mcpwire-test');
      assert.deepEqual(who.capabilities, { sampling: {} });
      assert.deepEqual(who.subscriptions, ['test://watched-resource']);
      assert.equal(await field(sid, '', 'st'), 'live');
      console.log(`woke: owner ${firstOwner} → ${await field(sid, '', 'own')}`);
      await other.callTool({ name: 'publish_update', arguments: { uri: 'test://watched-resource' } });
      await waitFor(() => updates.length === 2, 10_000, 'the update after waking');
      await client.close();
      await other.close();
    });
  }

  test('a broadcast from one instance reaches sessions held on all of them, as each session\'s log level allows', async () => {
    const clients = await Promise.all([connectClient(proxy.url, 'mcp'), connectClient(proxy.url, 'sse'), connectClient(proxy.url, 'mcp'), connectClient(proxy.url, 'sse')]);
    const logs = clients.map((c) => {
      const got: string[] = [];
      c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void got.push(`${n.params.level} ${String(n.params.data)}`));
      return got;
    });
    // The first two ask for errors only; the level is in the session record, whichever instance broadcasts.
    await clients[0]!.setLoggingLevel('error');
    await clients[1]!.setLoggingLevel('error');
    const owners = new Set(await Promise.all(clients.map((c) => {
      const t = c.transport as { sessionId?: string; _endpoint?: URL };
      return field(t.sessionId ?? t._endpoint!.searchParams.get('sessionId')!, '', 'own');
    })));
    assert.ok(owners.size >= 2, 'the sessions are owned by more than one instance');
    const publisher = await connectClient(proxy.url, 'mcp');
    await publisher.setLoggingLevel('emergency');
    await publisher.callTool({ name: 'broadcast_log', arguments: { level: 'info', data: 'routine' } });
    await publisher.callTool({ name: 'broadcast_log', arguments: { level: 'error', data: 'alarm' } });
    await waitFor(() => logs.every((l, i) => l.length === (i < 2 ? 1 : 2)), 10_000, 'the broadcasts on every instance');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(logs, [['error alarm'], ['error alarm'], ['info routine', 'error alarm'], ['info routine', 'error alarm']]);
    await Promise.all([...clients, publisher].map((c) => c.close()));
  });

  test('a Redis restart: 503 (never 404) while it is down, no acknowledged message lost, recovery after', async () => {
    const sid = await rawSession(proxy.url);
    const acknowledged: number[] = [];
    const answered = new Set<number>();
    const statuses = new Map<number, number>();
    const calls: Array<Promise<void>> = [];
    let n = 0;
    // A call every 50 ms, none waiting for another: some are taken (200 and, later, their answer),
    // the ones that arrive while Redis is down are refused (503), none is lost or told 404.
    const one = async (id: number) => {
      try {
        const res = await call(sid, id, 'echo', { text: `call-${id}` });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status !== 200) {
          await res.text();
          return;
        }
        acknowledged.push(id);
        const t = new Tally('tick');
        await follow(sid, t, res).done;
        if (JSON.stringify(t.results).includes(`call-${id}`)) answered.add(id);
      } catch {
        // a connection cut by the outage before any answer: not acknowledged
      }
    };
    const timer = setInterval(() => calls.push(one(++n)), 50);
    try {
      await waitFor(() => acknowledged.length >= 10, 20_000, 'calls before the outage');
      await redis.stop();
      try {
        await waitFor(() => (statuses.get(503) ?? 0) > 0, 10_000, 'a 503 while Redis is down');
        // Every instance's health says so once its own connection has noticed (a moment after the first 503).
        for (const instance of live()) {
          const deadline = Date.now() + 5_000;
          let down = await fetch(`${instance.url}/health`);
          while (down.status !== 503 && Date.now() < deadline) {
            await down.text();
            await new Promise((r) => setTimeout(r, 20));
            down = await fetch(`${instance.url}/health`);
          }
          assert.equal(down.status, 503, 'health answers 503 while Redis is down');
          assert.equal(((await down.json()) as { redis: { ok: boolean } }).redis.ok, false, 'health says redis is down');
        }
      } finally {
        await redis.start();
      }
      const restartedAt = acknowledged.length;
      await waitFor(() => acknowledged.length >= restartedAt + 10, 30_000, 'calls after the restart');
    } finally {
      clearInterval(timer);
    }
    await Promise.all(calls);
    for (const id of acknowledged) assert.ok(answered.has(id), `acknowledged call ${id} was answered`);
    assert.ok(!statuses.has(404), 'a store outage is never a 404');
    console.log(`redis restart: ${acknowledged.length} calls taken and answered, statuses ${JSON.stringify([...statuses])}`);
    const health = await fetch(`${live()[0]!.url}/health`);
    assert.equal(health.status, 200);
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  test('a busy session renews its keys once per tenth of the TTL, and they outlive its last message by the TTL', async () => {
    const idleMs = 60_000; // the instances' sessionIdleMs, the keys' TTL
    const sid = await rawSession(proxy.url);
    const keys = ['', ':in', ':om'].map((s) => `${PREFIX}{${sid}}${s}`);
    const ttls = () => Promise.all(keys.map(async (k) => (await redis.command('PTTL', k)) as number));
    await readToEnd(await call(sid, 1, 'echo', { text: 'a' }));
    const renewed = await ttls();
    for (const [i, t] of renewed.entries()) assert.ok(t > idleMs, `${keys[i]} renewed a tenth beyond the TTL (${t} ms left)`);
    await new Promise((r) => setTimeout(r, 30));
    await readToEnd(await call(sid, 2, 'echo', { text: 'b' }));
    const later = await ttls();
    for (const [i, t] of later.entries()) {
      assert.ok(t <= renewed[i]! - 25, `${keys[i]} not renewed again within the tenth (${renewed[i]} then ${t} ms left)`);
      assert.ok(t > idleMs, `${keys[i]} still outlives the last message by the TTL (${t} ms left)`);
    }
    // Opening a stream sets the hash's and the stream table's TTLs to the TTL: the next message renews all three.
    const stream = await get(sid);
    assert.equal(stream.status, 200);
    await stream.body!.cancel();
    assert.ok(((await ttls())[0] as number) <= idleMs);
    await readToEnd(await call(sid, 3, 'echo', { text: 'c' }));
    for (const [i, t] of (await ttls()).entries()) assert.ok(t > idleMs, `${keys[i]} renewed after the stream was opened (${t} ms left)`);
    await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  test('1,000 sessions come and go: every key left has a TTL, none is left of them', async () => {
    const keysBefore = (await scanKeys()).length;
    for (let i = 0; i < 1000; i += 25) {
      await Promise.all(
        Array.from({ length: 25 }, async () => {
          const sid = await rawSession(proxy.url);
          const r = await call(sid, 1, 'echo', { text: 'x' });
          await r.text();
          const del = await fetch(`${proxy.url}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
          assert.equal(del.status, 200);
        }),
      );
    }
    const keys = await scanKeys();
    for (const k of keys) {
      const ttl = (await redis.command('PTTL', k)) as number;
      assert.ok(ttl > 0, `${k} has a TTL (${ttl})`);
    }
    assert.ok(keys.length <= keysBefore + 2, `keys: ${keysBefore} before, ${keys.length} after: ${keys.join(', ')}`);
  });
});

async function scanKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await redis.command('SCAN', cursor, 'MATCH', `${PREFIX}*`, 'COUNT', '1000')) as [string, string[]];
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

