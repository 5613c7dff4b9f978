// A client that only listens may send nothing for longer than the idle timeout. As in one process,
// its held GET stream keeps the session in use, on whichever instance the stream is held (the owner's
// or another); once it lets go, the session idles out as usual.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STREAMABLE_HEADERS, rawSession, readEvents, sleep } from '../helpers.js';
import { spawnInstance, type Instance } from './instance-process.js';
import { startRedis, type RedisServer } from './redis.js';

const PREFIX = 'ls:';
// Short enough for a quick test, long enough that a heartbeat delayed by a busy machine still renews in time.
const IDLE_MS = 2_000;
const URI = 'test://watched-resource';

let redis: RedisServer;
let owner: Instance;
let other: Instance;

before(async () => {
  redis = await startRedis();
  const env = { REDIS_URL: redis.url, PREFIX, SESSION_IDLE_MS: String(IDLE_MS), HIBERNATE_MS: '0', LEASE_MS: '600' };
  [owner, other] = await Promise.all([spawnInstance(env), spawnInstance(env)]);
});
after(async () => {
  for (const i of [owner, other]) i.child.kill('SIGKILL');
  await redis.close();
});

const headers = (sid: string) => ({ ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' });
const rpc = (at: Instance, sid: string, id: number, method: string, params: Record<string, unknown>) =>
  fetch(`${at.url}/mcp`, { method: 'POST', headers: headers(sid), body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) });
const exists = async (sid: string) => Number(await redis.command('EXISTS', `${PREFIX}{${sid}}`)) === 1;
/** Whether the session's hash is gone from Redis by `deadline` (polled). */
const goneBy = async (sid: string, deadline: number) => {
  while ((await exists(sid)) && Date.now() < deadline) await sleep(50);
  return !(await exists(sid));
};

test('a listener that sends nothing for 4× the idle timeout keeps its session, on the owner or another instance', async () => {
  // Both sessions are created on `owner`; one listens there, the other on the instance that does not own it.
  const listeners = [
    { sid: await rawSession(owner.url), at: owner },
    { sid: await rawSession(owner.url), at: other },
  ];
  const streams = [];
  for (const l of listeners) {
    await (await rpc(owner, l.sid, 1, 'resources/subscribe', { uri: URI })).text();
    const res = await fetch(`${l.at.url}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': l.sid } });
    assert.equal(res.status, 200);
    streams.push(res);
  }
  await sleep(4 * IDLE_MS);
  for (const l of listeners) assert.ok(await exists(l.sid), 'the session is still in Redis');
  // A change reaches both held streams, and both sessions still take requests.
  const publisher = await rawSession(other.url);
  await (await rpc(other, publisher, 1, 'tools/call', { name: 'publish_update', arguments: { uri: URI } })).text();
  for (const res of streams) {
    const events = await readEvents(res, (e) => e.data.includes('notifications/resources/updated'), 5_000);
    assert.ok(events.some((e) => e.data.includes(URI)), 'the update reached the held stream');
  }
  for (const l of listeners) {
    const res = await rpc(l.at, l.sid, 2, 'tools/call', { name: 'echo', arguments: { text: 'still here' } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /still here/);
  }
  // The streams are gone now (readEvents cancelled them): nothing holds the sessions, and they idle out.
  const deadline = Date.now() + 8 * IDLE_MS;
  for (const l of listeners) assert.ok(await goneBy(l.sid, deadline), 'the session idled out once nothing held it');
});

test('changes fanned out from another instance and the owner’s own notifications interleave on one stream: none is skipped', async () => {
  const sid = await rawSession(owner.url);
  await (await rpc(owner, sid, 1, 'resources/subscribe', { uri: URI })).text();
  const stream = await fetch(`${owner.url}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid } });
  assert.equal(stream.status, 200);
  const publisher = await rawSession(other.url);
  const ROUNDS = 80;
  const received = readEvents(stream, (_e, all) => all.filter((e) => e.data !== '').length >= 2 * ROUNDS, 30_000);
  let next = 0;
  // Each round: a change appended by `other` to the stream, and a notification of the session's own server
  // appended by its owner, racing each other through Redis.
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      while (next < ROUNDS) {
        const k = next++;
        await Promise.all([
          rpc(other, publisher, 100 + k, 'tools/call', { name: 'publish_update', arguments: { uri: URI } }).then((r) => r.text()),
          rpc(owner, sid, 100 + k, 'tools/call', { name: 'test_trigger_tool_change', arguments: {} }).then((r) => r.text()),
        ]);
      }
    }),
  );
  const events = (await received).filter((e) => e.data !== '');
  const count = (method: string) => events.filter((e) => e.data.includes(method)).length;
  assert.equal(count('notifications/resources/updated'), ROUNDS, 'every change reached the live stream');
  assert.equal(count('notifications/tools/list_changed'), ROUNDS, 'every notification of the owner reached it');
  const ids = events.map((e) => e.id!.slice(e.id!.lastIndexOf('.') + 1));
  assert.deepEqual(ids, [...ids].sort(compareStreamIds), 'in log order');
  assert.equal(new Set(ids).size, ids.length, 'none twice');
});

test('a listener that resumes on another instance with nothing left to replay gets only what comes next', async () => {
  const sid = await rawSession(owner.url);
  await (await rpc(owner, sid, 1, 'resources/subscribe', { uri: URI })).text();
  const publisher = await rawSession(other.url);
  const publish = async (id: number) => (await rpc(other, publisher, id, 'tools/call', { name: 'publish_update', arguments: { uri: URI } })).text();
  const data = <T extends { data: string }>(events: T[]) => events.filter((e) => e.data !== '');
  const first = await fetch(`${other.url}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid } });
  await publish(1);
  const [seen] = data(await readEvents(first, (e) => e.data !== ''));
  assert.ok(seen?.id, 'the first change arrived');
  // Resumed where it stopped, on the instance that owns the session (it never held this stream).
  const resumed = await fetch(`${owner.url}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'Last-Event-ID': seen.id } });
  assert.equal(resumed.status, 200);
  await sleep(200);
  await publish(2);
  const after = data(await readEvents(resumed, (_e, all) => data(all).length >= 2, 1_500));
  assert.equal(after.length, 1, `only the second change: ${after.map((e) => e.id).join(', ')}`);
  assert.notEqual(after[0]!.id, seen.id);
});

test('a session whose owner died and whose keys expired leaves the index of live sessions at the next list change', async () => {
  const doomed = await spawnInstance({ REDIS_URL: redis.url, PREFIX, SESSION_IDLE_MS: String(IDLE_MS), HIBERNATE_MS: '0', LEASE_MS: '600' });
  const orphan = await rawSession(doomed.url);
  doomed.child.kill('SIGKILL');
  const indexed = async () => (await redis.command('ZSCORE', `${PREFIX}ss`, orphan)) !== null;
  assert.ok(await indexed(), 'indexed while it lived');
  assert.ok(await goneBy(orphan, Date.now() + 10 * IDLE_MS), 'its keys expired');
  assert.ok(await indexed(), 'still indexed: nobody ended it');
  const publisher = await rawSession(owner.url);
  await (await rpc(owner, publisher, 1, 'tools/call', { name: 'publish_list_change', arguments: {} })).text();
  assert.equal(await indexed(), false);
});

function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}
