// The resource requests of a session's server: the folder's files (paged), `system://stats`, the file
// template, reads, and subscriptions. Subscriptions are recorded by the engine (Session.subscriptions)
// when these handlers succeed, so here a subscribe only checks that the URI names a real resource.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  ErrorCode,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type Resource,
} from '@modelcontextprotocol/sdk/types.js';
import type { FileIndex } from './file-index.js';
import { Folder, notFound } from './folder.js';
import { STATS_URI } from './system-stats.js';

export interface ResourceDeps {
  folder: Folder;
  index: FileIndex;
  pageSize: number;
  stats(): Record<string, unknown>;
}

const STATS_RESOURCE: Resource = {
  uri: STATS_URI,
  name: 'stats',
  title: 'Server stats',
  description: 'Load, memory, uptime and open sessions; subscribers get an update every tick',
  mimeType: 'application/json',
};

export function installResources(server: Server, deps: ResourceDeps): void {
  const { folder, index } = deps;

  server.setRequestHandler(ListResourcesRequestSchema, async (req) => {
    const cursor = req.params?.cursor;
    let page;
    try {
      page = index.page(cursor, deps.pageSize);
    } catch {
      throw new McpError(ErrorCode.InvalidParams, 'Invalid params: unknown cursor');
    }
    const files: Resource[] = page.entries.map(({ rel, size }) => {
      const mimeType = Folder.mimeOf(rel);
      return { uri: Folder.uriOf(rel), name: rel, size, ...(mimeType ? { mimeType } : {}) };
    });
    return {
      resources: cursor === undefined ? [STATS_RESOURCE, ...files] : files,
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  });

  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [
      {
        uriTemplate: 'file:///{+path}',
        name: 'file',
        title: 'A file of the served folder',
        description: 'Any file under the served folder, by its path relative to the folder (each segment percent-encoded)',
      },
    ],
  }));

  server.setRequestHandler(ReadResourceRequestSchema, async (req) => {
    const uri = req.params.uri;
    if (uri === STATS_URI) {
      return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(deps.stats()) }] };
    }
    return { contents: [{ uri, ...(await folder.read(uri)) }] };
  });

  server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    const uri = req.params.uri;
    if (uri === STATS_URI) return {};
    const rel = Folder.relOf(uri);
    if (rel === undefined) throw new McpError(ErrorCode.InvalidParams, 'Invalid params: not a file:/// URI of a path inside the served folder');
    // Notifications carry the listed form of the URI; a subscription to another spelling would never match.
    if (Folder.uriOf(rel) !== uri) {
      throw new McpError(ErrorCode.InvalidParams, 'Invalid params: subscribe with the URI exactly as resources/list gives it');
    }
    // A file the full index left out is never watched for: its subscription would never fire. One not in
    // the index yet while there is room (just written, the watcher not done) will be.
    if ((!index.has(rel) && index.size >= index.maxFiles) || (await folder.eligible(rel)) === undefined) throw notFound();
    return {};
  });

  server.setRequestHandler(UnsubscribeRequestSchema, async () => ({}));
}
