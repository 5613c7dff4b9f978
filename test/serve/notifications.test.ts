// `mcpwire serve` as the seeds' real-time notification server: SDK clients over /sse and /mcp subscribe
// to files, the test changes the folder, and the notifications arrive only where they should.
import assert from 'node:assert/strict';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { sleep, waitFor, type WireName } from '../helpers.js';
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
