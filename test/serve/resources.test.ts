// The folder as resources: paged listing, reads with the right MIME type, the template, what is
// skipped, and every way of asking for something outside the root refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, writeFileSync } from 'node:fs';
import { open, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { connectClient } from '../helpers.js';
import { makeRoot, put, removeRoot, SAMPLE_FILES, startFolder } from './helpers.js';

const SECRET = 'TOP SECRET, outside the root';

let outside: string;
let root: string;
let running: FolderServer;
let client: Client;

before(async () => {
  outside = await makeRoot({ 'secret.txt': SECRET });
  root = await makeRoot({
    ...SAMPLE_FILES,
    LICENSE: 'MIT License\n',
    'blob.dat': Buffer.from([0, 1, 2, 3, 255]),
    'big.txt': 'x'.repeat(2_000),
    '.git/config': '[core]\n',
    'node_modules/pkg/index.js': 'module.exports = 1;\n',
    'with space & more.txt': 'spaced\n',
    // Legal names on Linux that no file:/// URI here can name (`%5c` is refused as a separator).
    'back\\slash.txt': 'bs\n',
  });
  writeFileSync(Buffer.concat([Buffer.from(join(root, 'latin1-')), Buffer.from([0xe9]), Buffer.from('.txt')]), 'latin1\n');
  execFileSync('mkfifo', [join(root, 'pipe')]);
  await symlink(join(outside, 'secret.txt'), join(root, 'link-out.txt'));
  await symlink(outside, join(root, 'dir-out'));
  await symlink(join(root, 'hello.txt'), join(root, 'link-in.txt'));
  await symlink(join(outside, 'missing.txt'), join(root, 'dangling.txt'));
  running = await startFolder(root, { maxFileBytes: 1_024, pageSize: 3 });
  client = await connectClient(running.server.url, 'mcp');
});
after(async () => {
  await client.close();
  await running.close();
  await removeRoot(root);
  await removeRoot(outside);
});

async function listAll(): Promise<{ uris: string[]; pages: number }> {
  const uris: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const r = await client.listResources(cursor === undefined ? {} : { cursor });
    uris.push(...r.resources.map((x) => x.uri));
    cursor = r.nextCursor;
    pages++;
  } while (cursor !== undefined && pages < 100);
  return { uris, pages };
}

describe('resources/list', () => {
  test('pages through every served file, system://stats first, in a stable order', async () => {
    const { uris, pages } = await listAll();
    assert.deepEqual(uris, [
      'system://stats',
      'file:///LICENSE',
      'file:///blob.dat',
      'file:///data/cities.json',
      'file:///hello.txt',
      'file:///images/dot.png',
      'file:///link-in.txt',
      'file:///notes/todo.md',
      'file:///with%20space%20%26%20more.txt',
    ]);
    assert.equal(pages, 3);
  });

  test('skips .git, node_modules, files over the size cap and symlinks leaving the root', async () => {
    const { uris } = await listAll();
    for (const gone of ['.git', 'node_modules', 'big.txt', 'link-out', 'dir-out', 'dangling', 'secret']) {
      assert.ok(!uris.some((u) => u.includes(gone)), `${gone} is listed`);
    }
  });

  test('entries carry name, size and MIME type', async () => {
    const cities = (await client.listResources()).resources.find((r) => r.uri === 'file:///data/cities.json');
    assert.deepEqual(cities, {
      uri: 'file:///data/cities.json',
      name: 'data/cities.json',
      size: Buffer.byteLength(SAMPLE_FILES['data/cities.json'] as string),
      mimeType: 'application/json',
    });
  });

  test('a cursor not issued by the server is invalid params', async () => {
    await assert.rejects(client.listResources({ cursor: 'bm9wZQ' }), (e: { code?: number }) => e.code === -32602);
  });

  test('templates/list offers the file template', async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    assert.equal(resourceTemplates[0]!.uriTemplate, 'file:///{+path}');
  });
});

describe('resources/read', () => {
  const text = async (uri: string) => {
    const r = await client.readResource({ uri });
    return r.contents[0] as { uri: string; mimeType: string; text?: string; blob?: string };
  };

  test('text files come back as text with their MIME type', async () => {
    assert.deepEqual(await text('file:///hello.txt'), { uri: 'file:///hello.txt', mimeType: 'text/plain', text: SAMPLE_FILES['hello.txt'] });
    assert.equal((await text('file:///notes/todo.md')).mimeType, 'text/markdown');
    assert.equal((await text('file:///data/cities.json')).text, SAMPLE_FILES['data/cities.json']);
    assert.equal((await text('file:///with%20space%20%26%20more.txt')).text, 'spaced\n');
  });

  test('an image is a base64 blob; unknown types are sniffed', async () => {
    const png = await text('file:///images/dot.png');
    assert.equal(png.mimeType, 'image/png');
    assert.equal(png.blob, (SAMPLE_FILES['images/dot.png'] as Buffer).toString('base64'));
    assert.deepEqual(await text('file:///LICENSE'), { uri: 'file:///LICENSE', mimeType: 'text/plain', text: 'MIT License\n' });
    const dat = await text('file:///blob.dat');
    assert.equal(dat.mimeType, 'application/octet-stream');
    assert.equal(dat.blob, Buffer.from([0, 1, 2, 3, 255]).toString('base64'));
  });

  test('a symlink to a file inside the root reads as that file', async () => {
    assert.equal((await text('file:///link-in.txt')).text, SAMPLE_FILES['hello.txt']);
  });
});

describe('what cannot be served is not listed', () => {
  test('every listed resource can be read and subscribed; names no URI can give are counted, not listed', async () => {
    const { uris } = await listAll();
    for (const uri of uris) {
      await client.readResource({ uri });
      await client.subscribeResource({ uri });
    }
    assert.ok(!uris.some((u) => /slash|latin1/.test(u)), 'an unservable name is listed');
    const stats = (await client.callTool({ name: 'stats', arguments: {} })).structuredContent as { files: { badNames: number } };
    assert.equal(stats.files.badNames, 2);
  });

  test('a FIFO is not a resource: its read answers -32002 at once, and ordinary reads go on', async () => {
    const quick = { timeout: 2_000 };
    try {
      // More reads than libuv has threads (4): a read that blocks on the FIFO would stall every file read.
      const reads = Array.from({ length: 6 }, () => client.readResource({ uri: 'file:///pipe' }, quick));
      for (const r of reads) await assert.rejects(r, (e: { code?: number }) => e.code === -32002);
      await assert.rejects(client.subscribeResource({ uri: 'file:///pipe' }), (e: { code?: number }) => e.code === -32002);
      const ok = await client.readResource({ uri: 'file:///hello.txt' }, quick);
      assert.equal((ok.contents[0] as { text: string }).text, SAMPLE_FILES['hello.txt']);
    } finally {
      // Had a read blocked, a writer end releases it, so the test process can still exit.
      await (await open(join(root, 'pipe'), constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined))?.close();
    }
  });
});

describe('nothing outside the root is readable', () => {
  const invalid = [
    'file:///../secret.txt',
    'file:///%2e%2e/secret.txt',
    'file:///%2E%2E/%2E%2E/etc/passwd',
    'file:///notes/..%2f..%2fsecret.txt',
    'file:///notes%2F..%2F..%2Fsecret.txt',
    'file:///..%5c..%5csecret.txt',
    'file:///./hello.txt',
    'file:////etc/passwd',
    'file://localhost/etc/passwd',
    'file:///hello.txt%00.png',
    'file:///hello.txt?x=1',
    'file:///%E0%A4%A',
    '/etc/passwd',
    '../secret.txt',
    'http://127.0.0.1/hello.txt',
  ];
  const notFound = [
    'file:///etc/passwd',
    'file:///link-out.txt',
    'file:///dir-out/secret.txt',
    'file:///dangling.txt',
    'file:///.git/config',
    'file:///node_modules/pkg/index.js',
    'file:///big.txt',
    'file:///nope.txt',
  ];

  const refusal = (code: number) => (e: { code?: number; message?: string }) => {
    assert.equal(e.code, code);
    assert.doesNotMatch(String(e.message), /secret|passwd|TOP SECRET/i, 'the error echoes the input or leaks the target');
    return true;
  };

  for (const uri of invalid) {
    test(`read ${uri} → invalid params (-32602)`, async () => {
      await assert.rejects(client.readResource({ uri }), refusal(-32602));
    });
  }
  for (const uri of notFound) {
    test(`read ${uri} → resource not found (-32002)`, async () => {
      await assert.rejects(client.readResource({ uri }), refusal(-32002));
    });
  }

  test('subscribe refuses the same URIs, and a spelling other than the listed one', async () => {
    for (const uri of invalid) await assert.rejects(client.subscribeResource({ uri }), refusal(-32602), uri);
    for (const uri of notFound) await assert.rejects(client.subscribeResource({ uri }), refusal(-32002), uri);
    await assert.rejects(client.subscribeResource({ uri: 'file:///hello%2Etxt' }), refusal(-32602));
    await assert.rejects(client.subscribeResource({ uri: 'file:///with space & more.txt' }), refusal(-32602));
    await client.subscribeResource({ uri: 'file:///with%20space%20%26%20more.txt' });
  });

  test('a symlink pointed outside after listing is refused at read time', async () => {
    await put(root, 'swapped/file.txt', 'inside\n');
    assert.equal((await client.readResource({ uri: 'file:///swapped/file.txt' })).contents.length, 1);
    await rm(join(root, 'swapped'), { recursive: true });
    await symlink(outside, join(root, 'swapped'));
    await assert.rejects(client.readResource({ uri: 'file:///swapped/secret.txt' }), refusal(-32002));
  });

  test('after all that, the session still works', async () => {
    const r = await client.readResource({ uri: 'file:///hello.txt' });
    assert.equal((r.contents[0] as { text: string }).text, SAMPLE_FILES['hello.txt']);
  });
});
