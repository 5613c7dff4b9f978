// What watching the folder costs, and the folder moves it must follow: one inotify watch per folder
// (none per file), a change deep inside a folder that was moved in, renamed or made in one burst still
// reaches the subscriber, and past the inotify limit the server says so and still serves.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { connectClient, waitFor } from '../helpers.js';
import { fileUris, inotifyWatches, makeRoot, notifiedClient, put, removeRoot, startFolder, untilListed, type Received } from './helpers.js';

describe('watching a folder of many files in few folders', () => {
  const LEAVES = 30;
  const FILES_PER_LEAF = 100;
  let root: string;
  let outside: string;
  let running: FolderServer;
  const folders = new Set<string>(['']);
  let watchesBefore: number | undefined;
  let watchesServing: number | undefined;
  before(async () => {
    root = await makeRoot({});
    // 30 leaf folders three levels down (a0/b0/c0 …), 100 files each: 3,000 files in 64 folders.
    const writes: Promise<void>[] = [];
    for (let f = 0; f < LEAVES; f++) {
      const dir = `a${f % 3}/b${f % 10}/c${f}`;
      for (let i = 0; i < dir.length; i++) if (dir[i] === '/') folders.add(dir.slice(0, i));
      folders.add(dir);
      for (let i = 0; i < FILES_PER_LEAF; i++) writes.push(put(root, `${dir}/f${i}.txt`, `${f}/${i}\n`));
    }
    // Not watched: .git, node_modules, and a symlinked folder (here to 100 folders outside the root).
    for (let i = 0; i < 100; i++) writes.push(put(root, `.git/objects/o${i}/x`, 'x'), put(root, `node_modules/m${i}/x.js`, 'x'));
    outside = await makeRoot({});
    for (let i = 0; i < 100; i++) writes.push(put(outside, `o${i}/x.txt`, 'x'));
    await Promise.all(writes);
    await symlink(outside, join(root, 'linked'));
    watchesBefore = await inotifyWatches();
    running = await startFolder(root, { debounceMs: 50 });
    watchesServing = await inotifyWatches();
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
    await removeRoot(outside);
  });

  test('one inotify watch per folder, none per file', async (t) => {
    if (watchesBefore === undefined || watchesServing === undefined) {
      t.skip('counting inotify watches needs Linux /proc');
      return;
    }
    const held = watchesServing - watchesBefore;
    t.diagnostic(`inotify watches for ${LEAVES * FILES_PER_LEAF} files in ${folders.size} folders: ${held}`);
    assert.ok(held > 0, 'the folder is watched');
    // A watch per file would be 3,000 more; following the symlink, or .git and node_modules, 100 more each.
    assert.ok(held <= folders.size + 2, `${held} inotify watches for ${folders.size} folders`);
  });

  test('a change to a file deep in the tree reaches the subscriber', async () => {
    const { client, got } = await notifiedClient(running.server.url, 'mcp');
    try {
      const uri = 'file:///a2/b9/c29/f99.txt';
      await client.subscribeResource({ uri });
      await writeFile(join(root, 'a2/b9/c29/f99.txt'), 'changed\n');
      await waitFor(() => got.updated.some((u) => u.uri === uri), 5_000, 'the update of the deep file');
    } finally {
      await client.close();
    }
  });
});

describe('folders that move', () => {
  let root: string;
  let outside: string;
  let running: FolderServer;
  let client: Client;
  let got: Received;
  before(async () => {
    root = await makeRoot({ 'keep.txt': 'keep\n', 'x/sub/deep/g.txt': 'g\n' });
    outside = await makeRoot({ 'm/n/o/h.txt': 'h\n', 'm/top.txt': 'top\n' });
    running = await startFolder(root, { debounceMs: 50 });
    ({ client, got } = await notifiedClient(running.server.url, 'mcp'));
  });
  after(async () => {
    await client.close();
    await running.close();
    await removeRoot(root);
    await removeRoot(outside);
  });

  /** Waits for the file to be listed, subscribes, changes it, and waits for the update. */
  async function changeNotifies(rel: string): Promise<void> {
    const uri = `file:///${rel}`;
    await untilListed(client, (list) => list.includes(uri), `${uri} listed`);
    await client.subscribeResource({ uri });
    const before = got.updated.length;
    await writeFile(join(root, rel), `changed at ${Date.now()}\n`);
    await waitFor(() => got.updated.slice(before).some((u) => u.uri === uri), 5_000, `the update of ${rel}`);
  }

  test('a folder moved in from outside, with subfolders: a change deep inside notifies', async () => {
    await rename(join(outside, 'm'), join(root, 'm'));
    await changeNotifies('m/n/o/h.txt');
    await changeNotifies('m/top.txt');
  });

  test('a folder renamed, with subfolders: a change deep inside, under the new name, notifies', async () => {
    await rename(join(root, 'x'), join(root, 'y'));
    await untilListed(client, (list) => !list.includes('file:///x/sub/deep/g.txt'), 'the old name gone');
    await changeNotifies('y/sub/deep/g.txt');
  });

  test('folders made in one burst (mkdir -p): a file deep inside is listed, and its changes notify', async () => {
    await mkdir(join(root, 'p/q/r/s'), { recursive: true });
    await writeFile(join(root, 'p/q/r/s/t.txt'), 't\n');
    await changeNotifies('p/q/r/s/t.txt');
    // A file added later in a folder made in the burst is seen too.
    await writeFile(join(root, 'p/q/later.txt'), 'later\n');
    await changeNotifies('p/q/later.txt');
  });

  test('a folder moved out: its files leave the list; one moved back in is followed again', async () => {
    await rename(join(root, 'm'), join(outside, 'm2'));
    await untilListed(client, (list) => !list.some((u) => u.startsWith('file:///m/')), 'the moved-out files gone');
    await rename(join(outside, 'm2'), join(root, 'm3'));
    await changeNotifies('m3/n/o/h.txt');
  });

  test('a deleted folder takes its files off the list', async () => {
    await rm(join(root, 'p'), { recursive: true });
    await untilListed(client, (list) => !list.some((u) => u.startsWith('file:///p/')), 'the deleted files gone');
    assert.ok((await fileUris(client)).includes('file:///keep.txt'));
  });
});

describe('past the inotify watch limit', () => {
  let root: string;
  before(async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 60; i++) files[`d${i}/f.txt`] = `${i}\n`;
    root = await makeRoot(files);
  });
  after(async () => {
    await removeRoot(root);
  });

  test('the CLI says so and serves the folder without live updates', async (t) => {
    // A user namespace of its own gets its own limit, set low here without touching the machine's.
    if (process.platform !== 'linux' || spawnSync('unshare', ['-U', '-r', 'true']).status !== 0) {
      t.skip('needs Linux user namespaces (unshare -U)');
      return;
    }
    const repo = fileURLToPath(new URL('../../', import.meta.url));
    const script = 'echo 20 > /proc/sys/user/max_inotify_watches && exec "$0" --import tsx src/cli/main.ts serve --root "$1" --port 0 --no-dashboard --no-metrics';
    const proc = spawn('unshare', ['-U', '-r', 'sh', '-c', script, process.execPath, root], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /MCP at (http:\/\/127\.0\.0\.1:\d+)\/mcp/.test(out) || proc.exitCode !== null, 30_000, 'the server to start');
      const url = /MCP at (http:\/\/127\.0\.0\.1:\d+)\/mcp/.exec(out)?.[1];
      assert.ok(url, `the server did not start: ${out.slice(0, 2_000)}`);
      assert.match(out, /inotify watch limit/);
      const client = await connectClient(url, 'mcp');
      try {
        assert.equal((await fileUris(client)).length, 60);
      } finally {
        await client.close();
      }
    } finally {
      proc.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out.slice(-2_000));
  });
});
