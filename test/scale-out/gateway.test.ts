// The gateway over Redis: a session's stdio child lives on its owner, requests landing on any
// instance reach it; when the owner dies the child cannot move, so the session ends with a clear error.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startCliGateway, type CliGateway } from '../gateway/fixtures/cli.js';
import { STREAMABLE_HEADERS, connectClient, rawSession, waitFor } from '../helpers.js';
import { startRedis, type RedisServer } from './redis.js';
import { startRoundRobin, type RoundRobinProxy } from './rr-proxy.js';

let redis: RedisServer;
let gateways: CliGateway[];
let proxy: RoundRobinProxy;
const dead = new Set<CliGateway>();

before(async () => {
  redis = await startRedis();
  const args = ['--redis', redis.url, '--redis-prefix', 'gw:', '--lease-ms', '1000', '--', process.execPath, 'test/gateway/fixtures/tiny-server.mjs'];
  gateways = await Promise.all([startCliGateway(args), startCliGateway(args)]);
  proxy = await startRoundRobin(() => gateways.filter((g) => !dead.has(g)).map((g) => Number(new URL(g.url).port)));
});
after(async () => {
  await proxy.close();
  for (const g of gateways) if (!dead.has(g)) await g.stop();
  await redis.close();
});

test('one child per session, reached from either instance; its death with the owner ends the session clearly', async () => {
  for (const wire of ['mcp', 'sse'] as const) {
    const client = await connectClient(proxy.url, wire);
    const pids = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const r = await client.callTool({ name: 'whoami', arguments: {} });
      pids.add(JSON.parse((r.content as Array<{ text: string }>)[0]!.text).pid);
    }
    assert.equal(pids.size, 1, 'every call reached the same child, whichever instance took it');
    await client.close();
  }

  const sid = await rawSession(proxy.url);
  const ownerId = (await redis.command('HGET', `gw:{${sid}}`, 'own')) as string;
  const health = await Promise.all(gateways.map(async (g) => ((await (await fetch(`${g.url}/health`)).json()) as { redis: { instance: string } }).redis.instance));
  const ownerGateway = gateways[health.indexOf(ownerId)]!;
  assert.ok(ownerGateway, 'the owner is one of the two gateways');
  const whoami = await fetch(`${proxy.url}/mcp`, {
    method: 'POST',
    headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
  });
  const childPid = JSON.parse(JSON.parse(/data: (\{.*"result".*\})/.exec(await whoami.text())![1]!).result.content[0].text).pid as number;

  ownerGateway.proc.kill('SIGKILL');
  dead.add(ownerGateway);
  await waitFor(() => !existsSync(`/proc/${childPid}`), 15_000, 'the dead instance’s child to be gone');

  // The next request lands on the survivor, which finds the owner's lease gone and ends the session.
  let status = 0;
  const deadline = Date.now() + 15_000;
  while (status !== 404 && Date.now() < deadline) {
    const r = await fetch(`${proxy.url}/mcp`, {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    });
    status = r.status;
    await r.text();
    if (status !== 404) await new Promise((res) => setTimeout(res, 200));
  }
  assert.equal(status, 404, 'the session ended: the client is told to start a new one');
  const fresh = await connectClient(proxy.url, 'mcp');
  assert.deepEqual((await fresh.callTool({ name: 'echo', arguments: { text: 'again' } })).content, [{ type: 'text', text: 'again' }]);
  await fresh.close();
});
