// `mcpwire serve` as the seeds' real-time notification server: SDK clients over /sse and /mcp subscribe
// to files, the test changes the folder, and the notifications arrive only where they should.
import assert from 'node:assert/strict';
import { rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { sleep, waitFor, type WireName } from '../helpers.js';
import { startRedis, type RedisServer } from '../scale-out/redis.js';
import { makeRoot, notifiedClient, put, removeRoot, startFolder, type Received } from './helpers.js';

for (const wire of ['sse', 'mcp'] as WireName[]) {
  describe(`notifications over ${wire === 'sse' ? 'legacy HTTP+SSE (/sse)' : 'Streamable HTTP (/mcp)'}`, () => {
    let root: string;
    let running: FolderServer;
    let subscriber: { client: Client; got: Received };
    let bystander: { client: Client; got: Received };

    before(async () => {
      root = await makeRoot();
      running = await startFolder(root, { debounceMs: 100 });
      subscriber = await notifiedClient(running.server.url, wire);
      bystander = await notifiedClient(running.server.url, wire);
      await subscriber.client.subscribeResource({ uri: 'file:///hello.txt' });
    });
    after(async () => {
      await subscriber.client.close();
      await bystander.client.close();
      await running.close();
      await removeRoot(root);
    });

    test('a write reaches the subscriber within 1 s, and only the subscriber', async (t) => {
      const before = subscriber.got.updated.length;
      const wroteAt = Date.now();
      await writeFile(join(root, 'hello.txt'), `changed at ${wroteAt}\n`);
      await waitFor(() => subscriber.got.updated.length > before, 5_000, 'the update notification');
      const n = subscriber.got.updated[before]!;
      assert.equal(n.uri, 'file:///hello.txt');
      const latency = n.at - wroteAt;
      t.diagnostic(`file write → notification at the SDK client: ${latency} ms`);
      assert.ok(latency < 1_000, `the update took ${latency} ms`);
      // The bystander never subscribed: give a stray notification every chance to arrive, then check.
      await sleep(300);
      assert.equal(bystander.got.updated.length, 0);
      const read = await subscriber.client.readResource({ uri: 'file:///hello.txt' });
      assert.equal((read.contents[0] as { text: string }).text, `changed at ${wroteAt}\n`);
    });

    test('a burst of writes is one notification', async () => {
      await sleep(300);
      const before = subscriber.got.updated.length;
      for (let i = 0; i < 5; i++) await writeFile(join(root, 'hello.txt'), `burst ${i}\n`);
      await waitFor(() => subscriber.got.updated.length > before, 5_000, 'the update notification');
      await sleep(700); // past the debounce and the longest wait: a second notification would be here by now
      assert.equal(subscriber.got.updated.length - before, 1);
    });

    test('changing an unsubscribed file notifies nobody', async () => {
      await sleep(300);
      const before = subscriber.got.updated.length;
      await writeFile(join(root, 'notes/todo.md'), '# changed\n');
      await sleep(700);
      assert.equal(subscriber.got.updated.length, before);
      assert.equal(bystander.got.updated.length, 0);
    });

    test('adding and removing a file gives list_changed to every session', async () => {
      const s0 = subscriber.got.listChanged.length;
      const b0 = bystander.got.listChanged.length;
      await put(root, 'new/added.txt', 'new\n');
      await waitFor(() => subscriber.got.listChanged.length > s0 && bystander.got.listChanged.length > b0, 5_000, 'list_changed');
      const { resources } = await subscriber.client.listResources();
      assert.ok(resources.some((r) => r.uri === 'file:///new/added.txt'));
      await unlink(join(root, 'new/added.txt'));
      await waitFor(() => subscriber.got.listChanged.length > s0 + 1 && bystander.got.listChanged.length > b0 + 1, 5_000, 'list_changed');
      const after = await subscriber.client.listResources();
      assert.ok(!after.resources.some((r) => r.uri === 'file:///new/added.txt'));
    });

    test('after unsubscribe, changes are no longer sent', async () => {
      await subscriber.client.unsubscribeResource({ uri: 'file:///hello.txt' });
      await sleep(300);
      const before = subscriber.got.updated.length;
      await writeFile(join(root, 'hello.txt'), 'after unsubscribe\n');
      await sleep(700);
      assert.equal(subscriber.got.updated.length, before);
    });

    test('a deleted subscribed file is an update (a read then says not found)', async () => {
      await put(root, 'doomed.txt', 'bye\n');
      await waitFor(() => running.app.index.has('doomed.txt'), 5_000, 'the index to have the file');
      await subscriber.client.subscribeResource({ uri: 'file:///doomed.txt' });
      const before = subscriber.got.updated.length;
      await unlink(join(root, 'doomed.txt'));
      await waitFor(() => subscriber.got.updated.some((u, i) => i >= before && u.uri === 'file:///doomed.txt'), 5_000, 'the update');
      await assert.rejects(subscriber.client.readResource({ uri: 'file:///doomed.txt' }), /-32002/);
    });

    test('a file just written can be subscribed at once, before the watcher has listed it', async () => {
      await put(root, 'fresh.txt', 'new\n');
      await subscriber.client.subscribeResource({ uri: 'file:///fresh.txt' });
      await waitFor(() => running.app.index.has('fresh.txt'), 5_000, 'the index to have the file');
      await sleep(300);
      const before = subscriber.got.updated.length;
      await writeFile(join(root, 'fresh.txt'), 'changed\n');
      await waitFor(() => subscriber.got.updated.some((u, i) => i >= before && u.uri === 'file:///fresh.txt'), 5_000, 'the update');
    });

    test('a subscribed file deleted, then created again later, is an update each time', async () => {
      await put(root, 'phoenix.txt', 'first\n');
      await waitFor(() => running.app.index.has('phoenix.txt'), 5_000, 'the index to have the file');
      await subscriber.client.subscribeResource({ uri: 'file:///phoenix.txt' });
      const updates = () => subscriber.got.updated.filter((u) => u.uri === 'file:///phoenix.txt').length;
      await unlink(join(root, 'phoenix.txt'));
      await waitFor(() => updates() === 1 && !running.app.index.has('phoenix.txt'), 5_000, 'the deletion');
      await put(root, 'phoenix.txt', 'second\n');
      await waitFor(() => updates() === 2, 5_000, 'the update when the file is back');
      const read = await subscriber.client.readResource({ uri: 'file:///phoenix.txt' });
      assert.equal((read.contents[0] as { text: string }).text, 'second\n');
    });

    test('a subscribed symlink hears of its target: changed, then gone', async () => {
      await put(root, 'target.txt', 't1\n');
      await symlink('target.txt', join(root, 'link.txt'));
      await waitFor(() => running.app.index.has('link.txt'), 5_000, 'the index to have the link');
      await subscriber.client.subscribeResource({ uri: 'file:///link.txt' });
      const updates = () => subscriber.got.updated.filter((u) => u.uri === 'file:///link.txt').length;
      await writeFile(join(root, 'target.txt'), 't2\n');
      await waitFor(() => updates() === 1, 5_000, 'the update of the link');
      assert.equal(((await subscriber.client.readResource({ uri: 'file:///link.txt' })).contents[0] as { text: string }).text, 't2\n');
      const lists = subscriber.got.listChanged.length;
      await rm(join(root, 'target.txt'));
      await waitFor(() => updates() === 2, 5_000, 'the update of the now dangling link');
      await waitFor(() => subscriber.got.listChanged.length > lists, 5_000, 'list_changed');
      assert.ok(!running.app.index.has('link.txt'), 'a dangling link is still listed');
      await rm(join(root, 'link.txt'));
    });
  });
}

describe('system://stats', () => {
  let root: string;
  let running: FolderServer;
  before(async () => {
    root = await makeRoot();
    running = await startFolder(root, { tickMs: 100 });
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
  });

  test('subscribers get an update every tick; the resource reads as current stats', async () => {
    const a = await notifiedClient(running.server.url, 'mcp');
    const b = await notifiedClient(running.server.url, 'sse');
    try {
      await a.client.subscribeResource({ uri: 'system://stats' });
      await waitFor(() => a.got.updated.filter((u) => u.uri === 'system://stats').length >= 3, 5_000, 'three ticks');
      assert.equal(b.got.updated.length, 0);
      const read = await a.client.readResource({ uri: 'system://stats' });
      const stats = JSON.parse((read.contents[0] as { text: string }).text);
      assert.deepEqual(stats.sessions, { legacy: 1, streamable: 1 });
      assert.equal(stats.loadavg.length, 3);
      assert.ok(stats.memory.rssBytes > 0);
      assert.equal(stats.files.indexed, 4);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });
});

describe('with Redis (changes announced once per cluster)', () => {
  let redis: RedisServer;
  let root: string;
  let running: FolderServer;
  before(async () => {
    redis = await startRedis();
    root = await makeRoot({ 'a.txt': 'a\n' });
    running = await startFolder(root, { debounceMs: 100, redis: { url: redis.url, prefix: 'names:' } });
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
    await redis.close();
  });

  test('a file no URI can name, changed in the same burst as an added file, does not cost the list_changed', async () => {
    const { client, got } = await notifiedClient(running.server.url, 'mcp');
    try {
      await put(root, 'back\\slash.txt', 'b\n');
      await sleep(700); // past the longest wait: the file is handled on its own first
      const lists = got.listChanged.length;
      await writeFile(join(root, 'back\\slash.txt'), 'b changed\n');
      await put(root, 'plain.txt', 'p\n');
      await waitFor(() => got.listChanged.length > lists, 5_000, 'list_changed');
      const { resources } = await client.listResources();
      assert.deepEqual(resources.map((r) => r.uri), ['system://stats', 'file:///a.txt', 'file:///plain.txt']);
    } finally {
      await client.close();
    }
  });
});
