// The bounds of `mcpwire serve`'s own state: the file index holds at most maxFiles, and a flood of file
// events larger than that does not grow the watcher's pending set (it falls back to one rebuild).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { sleep, waitFor } from '../helpers.js';
import { makeRoot, notifiedClient, put, removeRoot, startFolder } from './helpers.js';

describe('maxFiles', () => {
  let root: string;
  let running: FolderServer;
  before(async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 8; i++) files[`f${i}.txt`] = `file ${i}\n`;
    root = await makeRoot(files);
    running = await startFolder(root, { maxFiles: 5 });
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
  });

  test('the index holds at most maxFiles; the rest are counted in stats', async () => {
    const { client } = await notifiedClient(running.server.url, 'mcp');
    try {
      const { resources } = await client.listResources();
      assert.equal(resources.filter((r) => r.uri.startsWith('file:')).length, 5);
      const stats = (await client.callTool({ name: 'stats', arguments: {} })).structuredContent as { files: { indexed: number; leftOut: number } };
      assert.deepEqual(stats.files, { indexed: 5, leftOut: 3, badNames: 0 });
    } finally {
      await client.close();
    }
  });

  test('a left-out file cannot be subscribed, and its changes do not count it again', async () => {
    const { client, got } = await notifiedClient(running.server.url, 'mcp');
    try {
      const listed = new Set((await client.listResources()).resources.map((r) => r.uri));
      const all = Array.from({ length: 8 }, (_, i) => `f${i}.txt`);
      const left = all.find((n) => !listed.has(`file:///${n}`))!;
      const kept = all.find((n) => listed.has(`file:///${n}`))!;
      await assert.rejects(client.subscribeResource({ uri: `file:///${left}` }), (e: { code?: number }) => e.code === -32002);
      await client.subscribeResource({ uri: `file:///${kept}` });
      for (let i = 0; i < 3; i++) {
        await writeFile(join(root, left), `again ${i}\n`);
        await sleep(250); // past the debounce: one flush each
      }
      // Flushes run in order: once this one is told, the left-out file's have been handled.
      await writeFile(join(root, kept), 'changed\n');
      await waitFor(() => got.updated.some((u) => u.uri === `file:///${kept}`), 5_000, 'the update of the indexed file');
      assert.equal(running.app.index.overflowed, 3);
    } finally {
      await client.close();
    }
  });
});

describe('a flood of file events', () => {
  let root: string;
  let running: FolderServer;
  before(async () => {
    root = await makeRoot({ 'keep.txt': 'keep\n', 'b.txt': 'b\n' });
    running = await startFolder(root, { maxFiles: 10, debounceMs: 300 });
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
  });

  test('more paths than maxFiles in one burst: one rebuild, subscribers told, the index still bounded', async () => {
    const { client, got } = await notifiedClient(running.server.url, 'sse');
    try {
      await client.subscribeResource({ uri: 'file:///b.txt' });
      for (let i = 0; i < 40; i++) await put(root, `flood/${i}.txt`, `${i}\n`);
      await writeFile(join(root, 'keep.txt'), 'changed too\n');
      await waitFor(() => got.listChanged.length > 0, 10_000, 'list_changed');
      // Without the list of paths, every resource that was there is announced as possibly changed.
      await waitFor(() => got.updated.some((u) => u.uri === 'file:///b.txt'), 10_000, 'the update of b.txt');
      assert.equal(running.app.index.size, 10);
      assert.ok(running.app.index.overflowed >= 32, `left out: ${running.app.index.overflowed}`);
    } finally {
      await client.close();
    }
  });
});
