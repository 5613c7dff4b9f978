// The `search` tool: a plain-text search over the folder's text files that reports progress and log
// messages while it runs, stops at once when the client cancels, and returns a bounded list of matches.
import type { FileIndex } from './file-index.js';
import { Folder, mayBeText } from './folder.js';
import type { SearchCounters } from './system-stats.js';
import { ToolInputError, boolArg, intArg, stringArg, textResult, type Tool } from './tool.js';

const MAX_QUERY = 256;
const MAX_RESULTS = 500;
const DEFAULT_RESULTS = 50;
const SNIPPET = 160;
/** Progress notifications at most this often (plus the first and the last). */
const PROGRESS_EVERY_MS = 50;

interface Match {
  uri: string;
  line: number;
  text: string;
}

export function searchTool(folder: Folder, index: FileIndex, counters: SearchCounters): Tool {
  return {
    name: 'search',
    title: 'Search the folder',
    description:
      'Finds lines containing a text in the served files (case-insensitive unless caseSensitive). Reports progress when the request has a progressToken, and can be cancelled.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', minLength: 1, maxLength: MAX_QUERY, description: 'the text to find' },
        path: { type: 'string', description: 'only files under this folder (relative to the root, e.g. "docs")' },
        caseSensitive: { type: 'boolean', default: false },
        maxResults: { type: 'integer', minimum: 1, maximum: MAX_RESULTS, default: DEFAULT_RESULTS },
      },
      required: ['query'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
    async call({ args, extra, log }) {
      const query = stringArg(args, 'query', { maxLength: MAX_QUERY });
      const under = stringArg(args, 'path', { maxLength: 1024, optional: true });
      const caseSensitive = boolArg(args, 'caseSensitive');
      const maxResults = intArg(args, 'maxResults', 1, MAX_RESULTS, DEFAULT_RESULTS);
      let prefix = '';
      if (under !== undefined) {
        const rel = Folder.relOfPath(under.replace(/\/+$/, ''));
        if (rel === undefined) throw new ToolInputError('path must be a folder path relative to the root, without . or ..');
        prefix = rel + '/';
      }
      const files = index.list().filter((r) => r.startsWith(prefix) && mayBeText(Folder.mimeOf(r)));
      const needle = caseSensitive ? query : query.toLowerCase();
      const token = extra._meta?.progressToken;
      let lastProgress = 0;
      const progress = async (done: number, force: boolean) => {
        if (token === undefined) return;
        const now = Date.now();
        if (!force && now - lastProgress < PROGRESS_EVERY_MS) return;
        lastProgress = now;
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress: done, total: files.length, message: `${done} of ${files.length} files` },
        });
      };

      counters.running++;
      try {
        await log('info', `search: ${files.length} files to search`);
        await progress(0, true);
        const matches: Match[] = [];
        let searched = 0;
        let truncated = false;
        for (const rel of files) {
          if (extra.signal.aborted) break;
          const uri = Folder.uriOf(rel);
          const contents = await folder.read(uri).catch(() => undefined);
          searched++;
          if (contents && 'text' in contents) {
            truncated = findIn(contents.text, needle, caseSensitive, uri, matches, maxResults);
            if (truncated) break;
          }
          await progress(searched, false);
        }
        if (extra.signal.aborted) {
          counters.cancelled++;
          // The SDK sends no response to a cancelled request; this only ends the handler.
          return textResult('cancelled');
        }
        await progress(searched, true);
        await log('info', `search: ${matches.length} matches in ${searched} files${truncated ? ' (stopped at maxResults)' : ''}`);
        counters.completed++;
        const summary = matches.length === 0 ? 'no matches' : matches.map((m) => `${m.uri}:${m.line}: ${m.text}`).join('\n');
        return textResult(summary, { matches, filesSearched: searched, truncated });
      } catch (err) {
        counters.failed++;
        throw err;
      } finally {
        counters.running--;
      }
    },
  };
}

/** Appends the matching lines of `text`; returns true when `max` was reached. */
function findIn(text: string, needle: string, caseSensitive: boolean, uri: string, out: Match[], max: number): boolean {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const at = (caseSensitive ? line : line.toLowerCase()).indexOf(needle);
    if (at === -1) continue;
    const from = Math.max(0, at - SNIPPET / 2);
    out.push({ uri, line: i + 1, text: line.slice(from, from + SNIPPET).trim() });
    if (out.length >= max) return true;
  }
  return false;
}
