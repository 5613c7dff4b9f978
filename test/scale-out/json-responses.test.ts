// JSON-response mode (responseMode: 'json') across instances: a POST landing on an instance that does
// not own its session is answered there with the owner's JSON body, for one request and a 2025-03-26
// batch; what a request sends besides its answer takes the GET stream, as in one process (before, the
// owner did not know the POST wanted JSON and its progress notification became the POST's body).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { INIT, STREAMABLE_HEADERS, connectAnsweringClient, readEvents } from '../helpers.js';
import { spawnInstance, type Instance } from './instance-process.js';
import { startRedis, type RedisServer } from './redis.js';
import { startRoundRobin, type RoundRobinProxy } from './rr-proxy.js';

const PREFIX = 'js:';

let redis: RedisServer;
let owner: Instance;
let other: Instance;
let proxy: RoundRobinProxy;

before(async () => {
  redis = await startRedis();
  const env = { REDIS_URL: redis.url, PREFIX, RESPONSE_MODE: 'json', LEASE_MS: '1500' };
  [owner, other] = await Promise.all([spawnInstance(env), spawnInstance(env)]);
  proxy = await startRoundRobin(() => [owner.port, other.port]);
});
after(async () => {
  await proxy.close();
  for (const i of [owner, other]) i.child.kill('SIGKILL');
  await redis.close();
});

/** A session created on `owner` (so `other` is not its owner) at `version`. */
async function session(version: string): Promise<string> {
  const init = await fetch(`${owner.url}/mcp`, { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify({ ...INIT, params: { ...INIT.params, protocolVersion: version } }) });
  assert.equal(init.status, 200);
  await init.text();
  const sid = init.headers.get('mcp-session-id')!;
  assert.equal((await post(owner, sid, version, { jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
  return sid;
}

const post = (at: Instance, sid: string, version: string, body: unknown) =>
  fetch(`${at.url}/mcp`, { method: 'POST', headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': version }, body: JSON.stringify(body) });
const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
const texts = (body: unknown) =>
  (Array.isArray(body) ? body : [body]).map((m: { id: number; result: { content: Array<{ text: string }> } }) => `${m.id}:${m.result.content[0]!.text}`).sort();

test('a request posted to the instance that does not own its session: the owner\'s answer as the JSON body', async () => {
  const sid = await session('2025-11-25');
  for (let id = 1; id <= 3; id++) {
    const res = await post(other, sid, '2025-11-25', call(id, 'echo', { text: `n${id}` }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(texts(await res.json()), [`${id}:n${id}`]);
  }
});

test('a 2025-03-26 batch posted to the instance that does not own its session: one JSON array with every answer', async () => {
  const sid = await session('2025-03-26');
  for (let round = 0; round < 3; round++) {
    const ids = [1, 2, 3].map((k) => round * 10 + k);
    const res = await post(other, sid, '2025-03-26', ids.map((id) => call(id, 'echo', { text: `n${id}` })));
    assert.equal(res.status, 200);
    assert.deepEqual(texts(await res.json()), ids.map((id) => `${id}:n${id}`).sort());
  }
});

test('a request that reports progress, then is cancelled through the owner: progress on the GET stream, the POST 202 with no body', async () => {
  const sid = await session('2025-11-25');
  // The tool reports progress once it runs (on the GET stream: a JSON body carries only the answer).
  const listen = await fetch(`${other.url}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' } });
  assert.equal(listen.status, 200);
  const pending = post(other, sid, '2025-11-25', { ...call(7, 'wait_for_cancel'), params: { name: 'wait_for_cancel', arguments: {}, _meta: { progressToken: 'p7' } } });
  const heard = await readEvents(listen, (e) => e.data.includes('notifications/progress'));
  assert.match(heard.at(-1)!.data, /"progressToken":"p7"/);
  assert.equal((await post(owner, sid, '2025-11-25', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } })).status, 202);
  const res = await pending;
  assert.equal(res.status, 202);
  assert.equal(await res.text(), '');
  const after = await post(other, sid, '2025-11-25', call(8, 'echo', { text: 'after' }));
  assert.deepEqual(texts(await after.json()), ['8:after']);
});

test('an SDK client through a round-robin proxy: calls, progress, sampling and elicitation answered across the two instances', async () => {
  const client = await connectAnsweringClient(proxy.url, 'mcp');
  try {
    for (let i = 0; i < 10; i++) {
      const r = await client.callTool({ name: 'echo', arguments: { text: `j${i}` } });
      assert.deepEqual(r.content, [{ type: 'text', text: `j${i}` }]);
    }
    const seen: number[] = [];
    await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => seen.push(p.progress) });
    assert.deepEqual(seen, [0, 50, 100]);
    for (let i = 0; i < 2; i++) {
      const sampled = await client.callTool({ name: 'test_sampling', arguments: { prompt: `p${i}` } });
      assert.deepEqual(sampled.content, [{ type: 'text', text: `sampled: echo of p${i}` }]);
      const elicited = await client.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } });
      assert.deepEqual(elicited.content, [{ type: 'text', text: 'elicitation accept: {"username":"ada"}' }]);
    }
  } finally {
    await client.close();
  }
});
