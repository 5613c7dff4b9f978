// The tools of `mcpwire serve`: search (progress, log messages, cancellation, bounded results), stats,
// and write_file only when asked for, never outside the root.
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { connectClient, waitFor, type WireName } from '../helpers.js';
import { makeRoot, notifiedClient, removeRoot, SAMPLE_FILES, startFolder } from './helpers.js';

const MANY = 3_000;

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

const textOf = (r: CallToolResult) => (r.content[0] as { text: string }).text;

describe('search', () => {
  let root: string;
  let running: FolderServer;
  before(async () => {
    const files: Record<string, string | Buffer> = { ...SAMPLE_FILES };
    for (let i = 0; i < MANY; i++) files[`many/${String(i).padStart(4, '0')}.txt`] = `file ${i}\n${i % 500 === 0 ? 'needle here\n' : 'hay\n'}`;
    root = await makeRoot(files);
    running = await startFolder(root);
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
  });

  for (const wire of ['sse', 'mcp'] as WireName[]) {
    test(`finds lines, streams progress and log messages (${wire})`, async () => {
      const client = await connectClient(running.server.url, wire);
      try {
        const logs: unknown[] = [];
        client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
        await client.setLoggingLevel('info');
        const progress: number[] = [];
        const r = (await client.callTool({ name: 'search', arguments: { query: 'NEEDLE' } }, undefined, {
          onprogress: (p) => {
            progress.push(p.progress);
            assert.equal(p.total, MANY + 3);
          },
        })) as CallToolResult;
        const found = r.structuredContent as { matches: { uri: string; line: number; text: string }[]; filesSearched: number; truncated: boolean };
        assert.deepEqual(
          found.matches.map((m) => m.uri),
          ['file:///many/0000.txt', 'file:///many/0500.txt', 'file:///many/1000.txt', 'file:///many/1500.txt', 'file:///many/2000.txt', 'file:///many/2500.txt'],
        );
        assert.deepEqual(found.matches[0], { uri: 'file:///many/0000.txt', line: 2, text: 'needle here' });
        assert.equal(found.filesSearched, MANY + 3); // the PNG is not searched
        assert.match(textOf(r), /file:\/\/\/many\/0500\.txt:2: needle here/);
        assert.ok(progress.length >= 2, `only ${progress.length} progress notifications`);
        assert.equal(progress[0], 0);
        // The SDK client runs notification handlers a microtask late and drops progress after the response,
        // so the final 100% may arrive too late to count: check only that progress moved and stayed in range.
        assert.ok(progress[progress.length - 1]! > 0 && progress[progress.length - 1]! <= MANY + 3);
        assert.ok(progress.every((p, i) => i === 0 || p >= progress[i - 1]!), 'progress went backwards');
        assert.deepEqual(
          logs.map((l) => (l as { logger: string }).logger),
          ['search', 'search'],
        );
        assert.match(String((logs[1] as { data: string }).data), /6 matches in 3003 files/);
      } finally {
        await client.close();
      }
    });

    test(`stops when the client cancels (${wire})`, async () => {
      const client = await connectClient(running.server.url, wire);
      try {
        const before = { ...running.app.searches };
        const abort = new AbortController();
        const pending = client.callTool({ name: "search", arguments: { query: "never there" } }, undefined, {
          signal: abort.signal,
          onprogress: () => abort.abort('enough'),
        });
        await assert.rejects(pending, /enough|abort/i);
        await waitFor(() => running.app.searches.running === 0, 10_000, 'the search to stop');
        assert.equal(running.app.searches.cancelled, before.cancelled + 1);
        assert.equal(running.app.searches.completed, before.completed);
        // The session goes on.
        const s = await call(client, 'stats');
        assert.equal((s.structuredContent as { searches: { cancelled: number } }).searches.cancelled, before.cancelled + 1);
      } finally {
        await client.close();
      }
    });
  }

  test('results are bounded by maxResults; the level set by the client filters log messages', async () => {
    const client = await connectClient(running.server.url, 'mcp');
    try {
      const logs: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
      await client.setLoggingLevel('warning');
      const r = await call(client, 'search', { query: 'file', maxResults: 7, path: 'many' });
      const found = r.structuredContent as { matches: unknown[]; truncated: boolean };
      assert.equal(found.matches.length, 7);
      assert.equal(found.truncated, true);
      assert.deepEqual(logs, []);
    } finally {
      await client.close();
    }
  });

  test('bad arguments are tool errors that say what is wrong, without echoing', async () => {
    const client = await connectClient(running.server.url, 'mcp');
    try {
      for (const args of [{}, { query: '' }, { query: 'x'.repeat(300) }, { query: 'a', maxResults: 0 }, { query: 'a', maxResults: 'ten' }, { query: 'a', path: '../etc' }, { query: 'a', extra: 1 }]) {
        const r = await call(client, 'search', args);
        assert.equal(r.isError, true, JSON.stringify(args));
        assert.match(textOf(r), /^Invalid arguments: /);
        assert.doesNotMatch(textOf(r), /xxxxxxxx|etc|ten/);
      }
      await assert.rejects(call(client, 'no_such_tool'), /-32602/);
    } finally {
      await client.close();
    }
  });
});

describe('write_file', () => {
  let outside: string;
  let root: string;
  before(async () => {
    outside = await makeRoot({ 'secret.txt': 'outside\n' });
    root = await makeRoot();
    await symlink(outside, join(root, 'dir-out'));
    await symlink(join(outside, 'secret.txt'), join(root, 'link-out.txt'));
    await symlink(join(outside, 'new.txt'), join(root, 'dangling.txt'));
    // A link inside the root to a skipped folder: writing through it must be refused like writing to .git.
    await mkdir(join(root, '.git/hooks'), { recursive: true });
    await symlink('.git', join(root, 'g'));
  });
  after(async () => {
    await removeRoot(root);
    await removeRoot(outside);
  });

  test('is not offered without --writable', async () => {
    const running = await startFolder(root);
    const client = await connectClient(running.server.url, 'mcp');
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ['search', 'stats']);
      await assert.rejects(call(client, 'write_file', { path: 'x.txt', content: 'x' }), /-32602/);
    } finally {
      await client.close();
      await running.close();
    }
  });

  test('with --writable, writes under the root, and the subscribers hear of it', async () => {
    const running = await startFolder(root, { writable: true });
    const { client, got } = await notifiedClient(running.server.url, 'sse');
    try {
      await client.subscribeResource({ uri: 'file:///hello.txt' });
      const r = await call(client, 'write_file', { path: 'hello.txt', content: 'rewritten\n' });
      assert.equal(r.isError, undefined);
      assert.deepEqual(r.structuredContent, { uri: 'file:///hello.txt', bytes: 10 });
      assert.equal(await readFile(join(root, 'hello.txt'), 'utf8'), 'rewritten\n');
      await waitFor(() => got.updated.some((u) => u.uri === 'file:///hello.txt'), 5_000, 'the update');

      const made = await call(client, 'write_file', { path: 'deep/new/dir/file.bin', content: Buffer.from([1, 2, 3]).toString('base64'), encoding: 'base64' });
      assert.equal(made.isError, undefined);
      assert.deepEqual(await readFile(join(root, 'deep/new/dir/file.bin')), Buffer.from([1, 2, 3]));
      await waitFor(() => got.listChanged.length > 0, 5_000, 'list_changed');
    } finally {
      await client.close();
      await running.close();
    }
  });

  test('refuses every path outside the root', async () => {
    const running = await startFolder(root, { writable: true, maxFileBytes: 64 });
    const client = await connectClient(running.server.url, 'mcp');
    try {
      for (const path of ['../escape.txt', '/tmp/escape.txt', 'a/../../escape.txt', 'a//b.txt', './x.txt', 'a\\..\\x.txt', 'file:///../x.txt', 'dir-out/secret.txt', 'dir-out/new.txt', 'link-out.txt', 'dangling.txt', '.git/hooks/pre-commit', 'node_modules/x.js', 'g/hooks/pre-commit', 'g/new/dir/x.txt', 'g/config']) {
        const r = await call(client, 'write_file', { path, content: 'pwned\n' });
        assert.equal(r.isError, true, path);
        assert.match(textOf(r), /^Invalid arguments: /, path);
      }
      const big = await call(client, 'write_file', { path: 'big.txt', content: 'x'.repeat(65) });
      assert.equal(big.isError, true);
      assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'outside\n');
      await assert.rejects(readFile(join(outside, 'new.txt')));
      await assert.rejects(readFile(join(outside, 'escape.txt')));
      assert.deepEqual(await readdir(join(root, '.git'), { recursive: true }), ['hooks']);
    } finally {
      await client.close();
      await running.close();
    }
  });
});
