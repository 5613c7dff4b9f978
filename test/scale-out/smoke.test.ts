import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
import { connectClient, startServer } from '../helpers.js';
import { startRedis, type RedisServer } from './redis.js';
import { startRoundRobin, type RoundRobinProxy } from './rr-proxy.js';

let redis: RedisServer;
let instances: McpWireServer[];
let proxy: RoundRobinProxy;
before(async () => {
  redis = await startRedis();
  instances = [];
  for (let i = 0; i < 3; i++) instances.push(await startServer({ redis: { url: redis.url, prefix: 'smoke:', leaseMs: 1000 } }));
  proxy = await startRoundRobin(() => instances.map((s) => s.port));
});
after(async () => {
  await proxy.close();
  for (const s of instances) await s.close();
  await redis.close();
});

for (const wire of ['mcp', 'sse'] as const) {
  test(`smoke ${wire}`, async () => {
    const client = await connectClient(proxy.url, wire);
    for (let i = 0; i < 10; i++) {
      const r = await client.callTool({ name: 'echo', arguments: { text: `n${i}` } });
      assert.deepEqual(r.content, [{ type: 'text', text: `n${i}` }]);
    }
    const seen: number[] = [];
    const r = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => seen.push(p.progress) });
    assert.equal(r.isError, undefined);
    assert.deepEqual(seen, [0, 50, 100]);
    await client.close();
    console.log('counts', proxy.counts);
  });
}
