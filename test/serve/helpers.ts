// Plumbing for the `mcpwire serve` tests: a scratch folder, the real server on it, and SDK clients
// that record the notifications they get.
import { mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { chromium, type Browser } from 'playwright-core';
import {
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { serveFolder, type FolderServer, type ServeFolderOptions } from '../../src/serve/serve-folder.js';
import { connectClient, waitFor, type WireName } from '../helpers.js';

export const SAMPLE_FILES: Record<string, string | Buffer> = {
  'hello.txt': 'hello world\nsecond line\n',
  'notes/todo.md': '# To do\n- notify the subscribers\n',
  'data/cities.json': '{"cities":["Lisbon","Osaka"]}\n',
  // A 1×1 PNG.
  'images/dot.png': Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==', 'base64'),
};

/** A fresh folder (its real path) holding `files`. */
export async function makeRoot(files: Record<string, string | Buffer> = SAMPLE_FILES): Promise<string> {
  const root = await realpath(await mkdtemp(join(tmpdir(), 'mcpwire-serve-')));
  for (const [rel, content] of Object.entries(files)) await put(root, rel, content);
  return root;
}

export async function put(root: string, rel: string, content: string | Buffer): Promise<void> {
  const path = join(root, ...rel.split('/'));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

export async function removeRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

export function startFolder(root: string, options: Partial<ServeFolderOptions> = {}): Promise<FolderServer> {
  return serveFolder({ root, port: 0, tickMs: 0, ...options });
}

export interface Received {
  updated: { uri: string; at: number }[];
  listChanged: number[];
}

/** An SDK client over `wire` that records resource notifications with their arrival time. */
export async function notifiedClient(url: string, wire: WireName, headers?: Record<string, string>): Promise<{ client: Client; got: Received }> {
  const client = await connectClient(url, wire, {}, headers);
  const got: Received = { updated: [], listChanged: [] };
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void got.updated.push({ uri: n.params.uri, at: Date.now() }));
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void got.listChanged.push(Date.now()));
  return { client, got };
}

/** The file resources `resources/list` gives (the system:// ones left out). */
export async function fileUris(client: Client): Promise<string[]> {
  return (await client.listResources()).resources.map((r) => r.uri).filter((u) => u.startsWith('file:'));
}

/** Polls `resources/list` (its file URIs) until `ok` holds of it; fails after 5 s, saying what was listed. */
export async function untilListed(client: Client, ok: (list: string[]) => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  for (;;) {
    const list = await fileUris(client);
    if (ok(list)) return;
    if (Date.now() >= end) throw new Error(`${what}: not after 5 s (listed: ${list.join(' ')})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The inotify watches this process holds (Linux), or undefined where there is no /proc to ask. */
export async function inotifyWatches(): Promise<number | undefined> {
  if (process.platform !== 'linux') return undefined;
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (!target.includes('inotify')) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
    n += info.split('\n').filter((l) => l.startsWith('inotify wd:')).length;
  }
  return n;
}

/** Debian's chromium (CI installs it), headless, for the dashboard's page. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** An SDK client's session id, on either wire (legacy SSE: from the endpoint the server gave it). */
export function sessionIdOf(client: Client): string {
  const t = client.transport as { sessionId?: string; _endpoint?: URL };
  const id = t.sessionId ?? t._endpoint?.searchParams.get('sessionId');
  if (!id) throw new Error('the client has no session id');
  return id;
}

/** Signs in to the dashboard at `url` with `token`: the `name=pass` cookie it sets. */
export async function dashboardCookie(url: string, token: string): Promise<string> {
  const res = await fetch(`${url}/?token=${encodeURIComponent(token)}`, { redirect: 'manual' });
  await res.body?.cancel();
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}`);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

/** An admin feed read as it comes: every byte of it (`raw`) and its events. */
export interface LiveFeed {
  readonly raw: string;
  readonly events: EventSourceMessage[];
  /** The first event (from the start of the feed) that `match` accepts; waits at most `timeoutMs`. */
  next(match: (e: EventSourceMessage) => boolean, what: string, timeoutMs?: number): Promise<EventSourceMessage>;
  close(): Promise<void>;
}

/** Opens `/_events` with `headers`; fails unless it answers 200. */
export async function openFeed(url: string, headers: Record<string, string> = {}): Promise<LiveFeed> {
  const abort = new AbortController();
  const res = await fetch(`${url}/_events`, { headers, signal: abort.signal });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`the feed answered ${res.status}`);
  }
  const feed = { raw: '', events: [] as EventSourceMessage[] };
  const parser = createParser({ onEvent: (e) => void feed.events.push(e) });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const reading = (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      const text = decoder.decode(r.value, { stream: true });
      feed.raw += text;
      parser.feed(text);
    }
  })().catch(() => {});
  return {
    get raw() {
      return feed.raw;
    },
    events: feed.events,
    async next(match, what, timeoutMs = 15_000) {
      let found: EventSourceMessage | undefined;
      await waitFor(() => (found = feed.events.find(match)) !== undefined, timeoutMs, what);
      return found!;
    },
    async close() {
      abort.abort();
      await reader.cancel().catch(() => {});
      await reading;
    },
  };
}
