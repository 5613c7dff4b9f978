// `mcpwire serve`'s MCP side: a folder as live resources. One index and one watcher for the whole
// folder, one small SDK server per session, and the folder's changes turned into notifications.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { pino, type Logger } from 'pino';
import type { McpHandler } from '../server.js';
import { FileIndex } from './file-index.js';
import { Folder } from './folder.js';
import { Notifier } from './notifier.js';
import { searchTool } from './search.js';
import { createSessionServer } from './session-server.js';
import { statsTool, systemStats, type SearchCounters } from './system-stats.js';
import { FolderWatcher } from './watcher.js';
import { writeFileTool } from './write-file.js';

export interface ServeAppOptions {
  /** The folder to serve. */
  root: string;
  /** Interval of `system://stats` updates to its subscribers, in ms (0: off). Default 5000. */
  tickMs?: number;
  /** Offer the `write_file` tool. Default false. */
  writable?: boolean;
  /** Larger files are not resources. Default 1 MiB. */
  maxFileBytes?: number;
  /** Files indexed at most (the rest are left out, and counted). Default 10000. */
  maxFiles?: number;
  /** Resources per resources/list page. Default 100. */
  pageSize?: number;
  /** Quiet time that ends a burst of file events, in ms. Default 100. */
  debounceMs?: number;
  logger?: Logger;
}

export interface ServeApp {
  /** The folder's real path. */
  readonly root: string;
  readonly index: FileIndex;
  readonly searches: SearchCounters;
  /** A new SDK server for one session (give it to `serve`/`createHandler` as `createServer`). */
  createServer(): Server;
  /** Sends the folder's changes and the stats ticks through this handler's sessions. */
  attach(handler: McpHandler): void;
  stats(): Record<string, unknown>;
  close(): Promise<void>;
}

export const SERVE_DEFAULTS = {
  tickMs: 5_000,
  maxFileBytes: 1024 * 1024,
  maxFiles: 10_000,
  pageSize: 100,
  debounceMs: 100,
} as const;

/** Indexes the folder and starts watching it; resolves when both are ready. */
export async function createServeApp(opts: ServeAppOptions): Promise<ServeApp> {
  const log = opts.logger ?? pino({ level: 'warn' });
  const folder = await Folder.open(opts.root, { maxFileBytes: opts.maxFileBytes ?? SERVE_DEFAULTS.maxFileBytes });
  const index = new FileIndex(folder, opts.maxFiles ?? SERVE_DEFAULTS.maxFiles);
  await index.rebuild();
  if (index.overflowed > 0) log.warn({ indexed: index.size, leftOut: index.overflowed }, 'more files than maxFiles: some are not resources');
  const bad = index.unservable;
  if (bad.count > 0) log.warn({ skipped: bad.count, examples: bad.sample }, 'file names that cannot be resource URIs (not UTF-8, a backslash, too long): not served');

  const searches: SearchCounters = { running: 0, completed: 0, cancelled: 0, failed: 0 };
  let notifier: Notifier | undefined;
  let handler: McpHandler | undefined;
  const debounceMs = opts.debounceMs ?? SERVE_DEFAULTS.debounceMs;
  const watcher = new FolderWatcher(folder, index, {
    debounceMs,
    maxWaitMs: Math.max(5 * debounceMs, 500),
    onChanges: (c) => notifier?.folderChanged(c),
    onError: (err) => log.warn({ err }, 'watching the folder failed'),
  });
  await watcher.start();

  const stats = () =>
    systemStats({
      handler: () => handler,
      files: () => ({ indexed: index.size, leftOut: index.overflowed, badNames: index.unservable.count }),
      watcher: () => ({ events: watcher.events, changes: watcher.flushes }),
      searches,
    });
  const tools = [searchTool(folder, index, searches), statsTool(stats)];
  if (opts.writable) tools.push(writeFileTool(folder));
  const pageSize = opts.pageSize ?? SERVE_DEFAULTS.pageSize;

  return {
    root: folder.root,
    index,
    searches,
    createServer: () => createSessionServer({ folder, index, pageSize, stats, tools, log }),
    attach(h) {
      handler = h;
      notifier?.stop();
      notifier = new Notifier(h, folder, opts.tickMs ?? SERVE_DEFAULTS.tickMs, log);
    },
    stats,
    async close() {
      notifier?.stop();
      await watcher.close();
    },
  };
}
