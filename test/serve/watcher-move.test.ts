// Folders moved out of the served folder, and into it. On Linux parcel watches each folder with an
// inotify watch, which follows the folder (its inode), not its path: a folder moved out must leave the
// list as a deleted one would, its watches must go, and what is done in it afterwards must reach no one,
// not even as a change of whatever took its name. A folder moved in is followed, subfolders included.
import assert from 'node:assert/strict';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { FileIndex } from '../../src/serve/file-index.js';
import { Folder } from '../../src/serve/folder.js';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { FolderWatcher, type FolderChanges } from '../../src/serve/watcher.js';
import { waitFor } from '../helpers.js';
import { fileUris, inotifyWatches, makeRoot, notifiedClient, put, removeRoot, startFolder, untilListed, type Received } from './helpers.js';

describe('a folder moved out of the served folder, seen by an SDK client', () => {
  let root: string;
  let outside: string;
  let running: FolderServer;
  let client: Client;
  let got: Received;
  before(async () => {
    root = await makeRoot({ 'keep.txt': 'keep\n', 'sub/a.txt': 'a\n', 'sub/deep/er/b.txt': 'b\n' });
    outside = await makeRoot({ 'fresh/top.txt': 'top\n', 'fresh/n/o/h.txt': 'h\n' });
    running = await startFolder(root, { debounceMs: 30 });
    ({ client, got } = await notifiedClient(running.server.url, 'mcp'));
  });
  after(async () => {
    await client.close();
    await running.close();
    await removeRoot(root);
    await removeRoot(outside);
  });

  /** Subscribes to `rel`, changes it, and waits for its update. */
  async function changeNotifies(rel: string): Promise<void> {
    const uri = `file:///${rel}`;
    await client.subscribeResource({ uri });
    const from = got.updated.length;
    await writeFile(join(root, rel), `changed at ${Date.now()}\n`);
    await waitFor(() => got.updated.slice(from).some((u) => u.uri === uri), 5_000, `the update of ${rel}`);
  }

  test('its files leave the list, and their subscribers are told as for a deletion (updated, list changed)', async () => {
    for (const uri of ['file:///sub/a.txt', 'file:///sub/deep/er/b.txt']) await client.subscribeResource({ uri });
    const updates = got.updated.length;
    const listChanges = got.listChanged.length;
    await rename(join(root, 'sub'), join(outside, 'moved'));
    await untilListed(client, (list) => !list.some((u) => u.startsWith('file:///sub/')), 'the moved-out files gone');
    await waitFor(
      () => ['file:///sub/a.txt', 'file:///sub/deep/er/b.txt'].every((uri) => got.updated.slice(updates).some((u) => u.uri === uri)),
      5_000,
      'the updates of the moved-out files',
    );
    await waitFor(() => got.listChanged.length > listChanges, 5_000, 'resources/list_changed');
    assert.deepEqual(await fileUris(client), ['file:///keep.txt']);
  });

  test('changes made inside the moved-away folder notify nothing, even once a new folder has its name', async () => {
    // A new folder by the old name (the old one was moved aside to make room for it, say).
    let from = got.updated.length;
    await put(root, 'sub/deep/er/b.txt', 'new\n');
    await waitFor(() => got.updated.slice(from).some((u) => u.uri === 'file:///sub/deep/er/b.txt'), 5_000, 'the new b.txt');
    await untilListed(client, (list) => list.includes('file:///sub/deep/er/b.txt'), 'the new b.txt listed');
    // Two changes inside the root, each waited for: every notification the writes before them cause is in by then.
    await changeNotifies('keep.txt');
    await changeNotifies('keep.txt');

    from = got.updated.length;
    const listChanges = got.listChanged.length;
    const away = join(outside, 'moved');
    await writeFile(join(away, 'deep/er/b.txt'), 'changed away\n');
    await writeFile(join(away, 'deep/er/c.txt'), 'new away\n');
    await writeFile(join(away, 'a.txt'), 'changed away\n');
    await mkdir(join(away, 'deep/er/more'));
    await writeFile(join(away, 'deep/er/more/d.txt'), 'new away\n');
    await changeNotifies('keep.txt');
    await changeNotifies('keep.txt');

    const stray = got.updated.slice(from).filter((u) => u.uri !== 'file:///keep.txt');
    assert.deepEqual(stray.map((u) => u.uri), [], 'updates caused by writes outside the served folder');
    assert.equal(got.listChanged.length, listChanges, 'no list change');
    assert.deepEqual(await fileUris(client), ['file:///keep.txt', 'file:///sub/deep/er/b.txt']);
  });

  test('a folder moved in from outside: its files appear, and a change deep inside notifies', async () => {
    const listChanges = got.listChanged.length;
    await rename(join(outside, 'fresh'), join(root, 'fresh'));
    await untilListed(client, (list) => list.includes('file:///fresh/n/o/h.txt') && list.includes('file:///fresh/top.txt'), 'the moved-in files listed');
    await waitFor(() => got.listChanged.length > listChanges, 5_000, 'resources/list_changed');
    await changeNotifies('fresh/n/o/h.txt');
  });
});

describe('the watcher, as folders move out and in', () => {
  let root: string;
  let outside: string;
  before(async () => {
    root = await makeRoot({ 'keep.txt': 'keep\n' });
    outside = await makeRoot({});
  });
  after(async () => {
    await removeRoot(root);
    await removeRoot(outside);
  });

  /** The real index and watcher on `root`, recording what they report. */
  async function watch(): Promise<{ watcher: FolderWatcher; index: FileIndex; changes: FolderChanges[]; errors: unknown[] }> {
    const folder = await Folder.open(root, { maxFileBytes: 1024 * 1024 });
    const index = new FileIndex(folder, 1_000);
    await index.rebuild();
    const changes: FolderChanges[] = [];
    const errors: unknown[] = [];
    const watcher = new FolderWatcher(folder, index, { debounceMs: 20, maxWaitMs: 200, onChanges: (c) => changes.push(c), onError: (e) => errors.push(e) });
    await watcher.start();
    return { watcher, index, changes, errors };
  }

  /** Changes keep.txt and waits until the watcher reports it (every event before it is in by then). */
  async function keepChanged(changes: FolderChanges[]): Promise<void> {
    const from = changes.length;
    await writeFile(join(root, 'keep.txt'), `changed at ${Date.now()}\n`);
    await waitFor(() => changes.slice(from).some((c) => c.updated.includes('keep.txt')), 5_000, 'the change of keep.txt');
  }

  test('writes inside a folder moved out are no events', async () => {
    await put(root, 'sub/deep/er/b.txt', 'b\n');
    const { watcher, index, changes, errors } = await watch();
    try {
      await rename(join(root, 'sub'), join(outside, 'sub'));
      await waitFor(() => !index.has('sub/deep/er/b.txt'), 5_000, 'the moved-out file gone from the index');
      await keepChanged(changes);
      const events = watcher.events;
      const from = changes.length;
      for (let i = 0; i < 40; i++) await writeFile(join(outside, `sub/deep/er/f${i}.txt`), `${i}\n`);
      await writeFile(join(outside, 'sub/deep/er/b.txt'), 'changed\n');
      await keepChanged(changes);
      await keepChanged(changes);
      // The two changes of keep.txt: one event each, or two when a write's events straddle a batch.
      assert.ok(watcher.events - events <= 4, `${watcher.events - events} events for 2 changes inside the root (and 41 outside it)`);
      assert.deepEqual(
        changes.slice(from).flatMap((c) => [...c.updated, ...c.membership]).filter((rel) => rel !== 'keep.txt'),
        [],
      );
      assert.deepEqual(errors, []);
    } finally {
      await watcher.close();
    }
  });

  test('a folder swapped for another at once (moved out, a new one moved in by its name): only the new one is followed', async () => {
    await put(root, 'site/deep/er/page.txt', 'old\n');
    await put(outside, 'next/deep/er/page.txt', 'new\n');
    const { watcher, index, changes, errors } = await watch();
    try {
      const from = changes.length;
      // One after the other, well within one debounce: the watcher sees the path `site` changed, and a folder there.
      await rename(join(root, 'site'), join(outside, 'old-site'));
      await rename(join(outside, 'next'), join(root, 'site'));
      // Changed at once: while the watcher follows the swap (and parcel may drop events not yet handed over).
      await keepChanged(changes);
      await keepChanged(changes);
      assert.ok(index.has('site/deep/er/page.txt'));
      const swap = changes.slice(from);
      const events = watcher.events;
      const after = changes.length;
      for (let i = 0; i < 40; i++) await writeFile(join(outside, `old-site/deep/er/f${i}.txt`), `${i}\n`);
      await writeFile(join(outside, 'old-site/deep/er/page.txt'), 'changed away\n');
      await keepChanged(changes);
      await keepChanged(changes);
      assert.ok(watcher.events - events <= 4, `${watcher.events - events} events for 2 changes inside the root (and 41 outside it)`);
      assert.deepEqual(
        changes.slice(after).flatMap((c) => [...c.updated, ...c.membership]).filter((rel) => rel !== 'keep.txt'),
        [],
      );
      // Another file by the same name: its subscribers are told.
      assert.ok(swap.some((c) => c.updated.includes('site/deep/er/page.txt')), 'the swap reported');
      // The new folder is followed, deep inside too.
      const before = changes.length;
      await writeFile(join(root, 'site/deep/er/page.txt'), 'changed here\n');
      await waitFor(() => changes.slice(before).some((c) => c.updated.includes('site/deep/er/page.txt')), 5_000, 'the change in the new folder');
      assert.deepEqual(errors, []);
    } finally {
      await watcher.close();
    }
  });

  test('20 folders moved in and out again: the inotify watches do not grow', async (t) => {
    const { watcher, index, errors } = await watch();
    try {
      const watches = await inotifyWatches();
      for (let i = 0; i < 20; i++) {
        // A new folder each time (a folder, to inotify, is its inode): a.txt at the top, f.txt two levels down.
        await put(outside, `t${i}/a.txt`, `${i}\n`);
        await put(outside, `t${i}/x/y/f.txt`, `${i}\n`);
        await rename(join(outside, `t${i}`), join(root, 'in'));
        await waitFor(() => index.has('in/x/y/f.txt') && index.has('in/a.txt'), 5_000, `folder ${i} moved in, indexed`);
        await rename(join(root, 'in'), join(outside, `gone${i}`));
        await waitFor(() => !index.has('in/x/y/f.txt') && !index.has('in/a.txt'), 5_000, `folder ${i} moved out, dropped`);
      }
      assert.deepEqual(index.under('in'), []);
      assert.deepEqual(errors, []);
      const now = await inotifyWatches();
      if (watches !== undefined) {
        t.diagnostic(`inotify watches: ${watches} before, ${now} after 20 folders moved in and out`);
        assert.ok(now! <= watches, `${now} inotify watches after 20 folders moved in and out, ${watches} before`);
      } else {
        t.diagnostic('counting inotify watches needs Linux /proc: the subscriptions are counted only');
      }
      assert.equal(watcher.subscriptions, 1, 'parcel subscriptions held: the root only');
    } finally {
      await watcher.close();
    }
  });

  test('a folder renamed inside: its files move to the new name, and a change deep inside is seen', async () => {
    await put(root, 'x/sub/deep/g.txt', 'g\n');
    const { watcher, index, changes } = await watch();
    try {
      const from = changes.length;
      await rename(join(root, 'x'), join(root, 'y'));
      await waitFor(() => index.has('y/sub/deep/g.txt') && !index.has('x/sub/deep/g.txt'), 5_000, 'the file under its new name');
      const reported = changes.slice(from);
      assert.ok(reported.some((c) => c.membership.includes('x/sub/deep/g.txt')), 'the old name left the list');
      assert.ok(reported.some((c) => c.membership.includes('y/sub/deep/g.txt')), 'the new name joined it');
      const before = changes.length;
      await writeFile(join(root, 'y/sub/deep/g.txt'), 'changed\n');
      await waitFor(() => changes.slice(before).some((c) => c.updated.includes('y/sub/deep/g.txt')), 5_000, 'the change under the new name');
    } finally {
      await watcher.close();
    }
  });
});
