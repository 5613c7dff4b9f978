// Plumbing for the `mcpwire serve` tests: a scratch folder, the real server on it, and SDK clients
// that record the notifications they get.
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { chromium, type Browser } from 'playwright-core';
import {
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { serveFolder, type FolderServer, type ServeFolderOptions } from '../../src/serve/serve-folder.js';
import { connectClient, type WireName } from '../helpers.js';

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

/** Debian's chromium (CI installs it), headless, for the dashboard's page. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
