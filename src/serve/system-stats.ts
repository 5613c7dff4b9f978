// What `system://stats` and the `stats` tool report: the machine, the process, the sessions, the folder.
import { freemem, loadavg, totalmem } from 'node:os';
import type { McpHandler } from '../server.js';
import { textResult, type Tool } from './tool.js';

export const STATS_URI = 'system://stats';

/** Counters of the `search` tool, shared by every session. */
export interface SearchCounters {
  running: number;
  completed: number;
  cancelled: number;
  failed: number;
}

export interface StatsSources {
  handler(): McpHandler | undefined;
  files(): { indexed: number; leftOut: number; badNames: number };
  watcher(): { events: number; changes: number };
  searches: SearchCounters;
}

export function systemStats(src: StatsSources): Record<string, unknown> {
  const handler = src.handler();
  const health = handler?.health();
  const mem = process.memoryUsage();
  return {
    at: new Date().toISOString(),
    loadavg: loadavg(),
    memory: { totalBytes: totalmem(), freeBytes: freemem(), rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
    uptimeS: Math.round(process.uptime()),
    sessions: health?.sessions ?? { legacy: 0, streamable: 0 },
    streams: health?.streams ?? 0,
    files: src.files(),
    watcher: src.watcher(),
    searches: { ...src.searches },
  };
}

export function statsTool(stats: () => Record<string, unknown>): Tool {
  return {
    name: 'stats',
    title: 'Server stats',
    description: 'Load, memory, uptime, open sessions and streams, indexed files and searches of this server',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    annotations: { readOnlyHint: true, openWorldHint: false },
    async call() {
      const s = stats();
      return textResult(JSON.stringify(s, null, 2), s);
    },
  };
}
