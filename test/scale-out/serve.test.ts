// Three `mcpwire serve` instances on one folder and one Redis (the README's example): each instance
// watches the folder and sees every change, yet subscribers hear of each change once, and of each
// stats tick once per period, whichever instance their session lives on.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { STATS_URI } from '../../src/serve/system-stats.js';
import { sleep, waitFor } from '../helpers.js';
import { makeRoot, notifiedClient, removeRoot, startFolder } from '../serve/helpers.js';
import { startRedis, type RedisServer } from './redis.js';
import { startRoundRobin, type RoundRobinProxy } from './rr-proxy.js';

const TICK_MS = 300;

let redis: RedisServer;
let root: string;
const instances: FolderServer[] = [];

before(async () => {
  redis = await startRedis();
  root = await makeRoot();
  for (let i = 0; i < 3; i++) instances.push(await startFolder(root, { debounceMs: 100, tickMs: TICK_MS, redis: { url: redis.url, prefix: 'sv:' } }));
});
after(async () => {
  for (const i of instances) await i.close();
  await removeRoot(root);
  await redis.close();
});

test('each change of the folder reaches each subscriber once, though every instance saw it', async () => {
  const a = await notifiedClient(instances[0]!.server.url, 'mcp');
  const c = await notifiedClient(instances[2]!.server.url, 'sse');
  for (const s of [a, c]) await s.client.subscribeResource({ uri: 'file:///hello.txt' });
  const settle = () => sleep(1_000); // past the debounce on every instance, and time for late copies

  for (let k = 1; k <= 2; k++) {
    await writeFile(join(root, 'hello.txt'), `version ${k}\n`);
    await settle();
    for (const s of [a, c]) assert.equal(s.got.updated.length, k, `updates after write ${k}`);
  }
  // The same file added and removed twice: the same listing twice over, yet four changes, each told once.
  for (let k = 1; k <= 4; k++) {
    if (k % 2) await writeFile(join(root, 'new.txt'), `new ${k}\n`);
    else await rm(join(root, 'new.txt'));
    await settle();
    for (const s of [a, c]) assert.equal(s.got.listChanged.length, k, `list changes after step ${k}`);
  }
  await a.client.close();
  await c.client.close();
});

test('stats ticks: one per period for the cluster, though subscribers on two instances make both tick', async () => {
  const ticks = [0, 0];
  const clients = await Promise.all([notifiedClient(instances[0]!.server.url, 'mcp'), notifiedClient(instances[1]!.server.url, 'mcp')]);
  clients.forEach(({ client }, i) => {
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void (n.params.uri === STATS_URI && ticks[i]!++));
  });
  for (const { client } of clients) await client.subscribeResource({ uri: STATS_URI });
  await waitFor(() => ticks.every((t) => t > 0), 5_000, 'a first tick on both');
  const start = [...ticks];
  const WINDOW_MS = 3_000;
  await sleep(WINDOW_MS);
  for (const [i, t] of ticks.entries()) {
    const got = t - start[i]!;
    assert.ok(got >= WINDOW_MS / TICK_MS - 3 && got <= WINDOW_MS / TICK_MS + 2, `${got} ticks in ${WINDOW_MS} ms (period ${TICK_MS} ms)`);
  }
  for (const { client } of clients) await client.close();
});

test('the dashboard behind a round-robin balancer: a pass one instance gave is good on every instance', async () => {
  const guarded: FolderServer[] = [];
  let proxy: RoundRobinProxy | undefined;
  try {
    for (let i = 0; i < 2; i++) guarded.push(await startFolder(root, { auth: { tokens: ['pass-token-1234'] }, redis: { url: redis.url, prefix: 'sv-auth:' } }));
    proxy = await startRoundRobin(() => guarded.map((g) => g.server.port));
    const login = await fetch(`${proxy.url}/?token=pass-token-1234`, { redirect: 'manual' });
    assert.equal(login.status, 303);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    assert.match(cookie, new RegExp(`^mcpwire_dashboard_${new URL(proxy.url).port}=`), "named after the port the browser sees, not an instance's");
    for (let i = 0; i < 4; i++) {
      const page = await fetch(`${proxy.url}/`, { headers: { Cookie: cookie } });
      assert.equal(page.status, 200, `request ${i + 1}`);
      await page.text();
    }
    assert.ok(proxy.counts.every((n) => n >= 2), `both instances answered: ${proxy.counts.join(', ')}`);
  } finally {
    await proxy?.close();
    for (const g of guarded) await g.close();
  }
});
