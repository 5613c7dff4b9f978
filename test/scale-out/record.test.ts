// The session record written with the answer that makes it true, in the append's one script, against a
// real redis-server: an instance the client turns to next (it posts there as soon as it has the answer)
// always finds the negotiated version; subscriptions answered in any order leave the right set; a fenced
// owner writes nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { RedisPort } from '../../src/store/redis-port.js';
import { FencedError, RedisEventStore, RedisKeys } from '../../src/store/redis.js';
import { CREATE } from '../../src/store/redis-scripts.js';
import { startRedis, type RedisServer } from './redis.js';

let redis: RedisServer;
let port: RedisPort;
let keys: RedisKeys;
let fenced = 0;
let store: RedisEventStore;

before(async () => {
  redis = await startRedis();
  port = new RedisPort({ url: redis.url, prefix: 'rec:', commandTimeoutMs: 2_000, log: pino({ level: 'silent' }) });
  await port.connect();
  keys = new RedisKeys(port.prefix);
  const settings = { maxEvents: 100, ttlMs: 60_000, finishedTtlMs: 60_000, retainFinished: 4, maxOutageMs: 1_000, maxBacklog: 10 };
  store = new RedisEventStore(port, keys, settings, () => ({ me: 'owner', epoch: '1' }), () => fenced++);
});
after(async () => {
  await port.close();
  await redis.close();
});

async function createSession(sid: string): Promise<void> {
  await port.script(CREATE, [keys.session(sid), keys.inbox(sid), keys.streamsMeta(sid), keys.index()], [sid, 'owner', '', 'streamable', Date.now(), 60_000]);
}

const field = (sid: string, name: string) => redis.command('HGET', keys.session(sid), name);

test('the answer to initialize and the negotiated version are stored in one step', async () => {
  await createSession('s1');
  const answer = JSON.stringify({ jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-03-26' } });
  await store.open('s1', 'r.MA').append(answer, true, 0, { pv: '2025-03-26', ip: '{"clientInfo":{"name":"c"}}' });
  assert.equal(await field('s1', 'pv'), '2025-03-26');
  assert.equal(await field('s1', 'ip'), '{"clientInfo":{"name":"c"}}');
});

test('subscriptions answered out of order, repeated or undone leave the right list; the last undone leaves none', async () => {
  await createSession('s2');
  const log = store.open('s2', 'g');
  const answer = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, result: {} });
  // Two subscribe answers whose requests were both in flight: neither may drop the other.
  await Promise.all([log.append(answer(1), false, 1, { 'sb+': 'file:///a' }), log.append(answer(2), false, 2, { 'sb+': 'file:///b' })]);
  await log.append(answer(3), false, 3, { 'sb+': 'file:///a' });
  assert.deepEqual(JSON.parse(String(await field('s2', 'sb'))), ['file:///a', 'file:///b']);
  await log.append(answer(4), false, 4, { 'sb-': 'file:///nothing' });
  await log.append(answer(5), false, 5, { 'sb-': 'file:///a' });
  assert.deepEqual(JSON.parse(String(await field('s2', 'sb'))), ['file:///b']);
  await log.append(answer(6), false, 6, { 'sb-': 'file:///b' });
  assert.equal(await field('s2', 'sb'), '', 'no subscriptions: empty, as a session that never had any');
});

test('an owner fenced off by a newer epoch writes neither the message nor the record', async () => {
  await createSession('s3');
  await redis.command('HSET', keys.session('s3'), 'ep', '2');
  const before = fenced;
  await assert.rejects(async () => store.open('s3', 'g').append('{"jsonrpc":"2.0","id":1,"result":{}}', false, 1, { ll: 'debug' }), FencedError);
  assert.equal(fenced, before + 1);
  assert.equal(await field('s3', 'll'), null);
  assert.equal(await redis.command('EXISTS', keys.stream('s3', 'g')), 0);
});
