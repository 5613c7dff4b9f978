// The files of the served folder that are resources, in a stable order for paging, bounded in count.
// Built by walking the folder once; kept current by the watcher, which names the paths that changed.
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { Folder, SKIPPED_DIRS } from './folder.js';

export interface Page {
  entries: { rel: string; size: number }[];
  nextCursor: string | undefined;
}

const CURSOR_PREFIX = 'after:';

export class FileIndex {
  private readonly sizes = new Map<string, number>();
  /** Sorted by code unit; rebuilt lazily after a change. */
  private sorted: string[] | undefined = [];
  /** Files left out because the index was full. */
  overflowed = 0;

  constructor(
    private readonly folder: Folder,
    readonly maxFiles: number,
  ) {}

  get size(): number {
    return this.sizes.size;
  }

  has(rel: string): boolean {
    return this.sizes.has(rel);
  }

  /** Every indexed path, sorted. */
  list(): readonly string[] {
    this.sorted ??= [...this.sizes.keys()].sort();
    return this.sorted;
  }

  /** Walks the whole folder (skipping .git, node_modules and symlinked folders). */
  async rebuild(): Promise<void> {
    this.sizes.clear();
    this.sorted = undefined;
    this.overflowed = 0;
    await this.walk('');
  }

  /** Re-checks one path; returns whether it was indexed before and is now. */
  async refresh(rel: string): Promise<{ before: boolean; after: boolean }> {
    const before = this.sizes.has(rel);
    const size = await this.folder.eligible(rel);
    this.set(rel, size);
    return { before, after: this.sizes.has(rel) };
  }

  /** Re-checks a folder: drops what is gone below it, adds what is there. Returns the paths whose membership changed. */
  async refreshDir(relDir: string): Promise<string[]> {
    const prefix = relDir === '' ? '' : relDir + '/';
    const before = new Set([...this.sizes.keys()].filter((r) => r.startsWith(prefix)));
    for (const r of before) this.set(r, undefined);
    await this.walk(relDir);
    const changed: string[] = [];
    for (const r of before) if (!this.sizes.has(r)) changed.push(r);
    for (const r of this.sizes.keys()) if (r.startsWith(prefix) && !before.has(r)) changed.push(r);
    return changed;
  }

  /** The page after `cursor` (an opaque string from a previous page); throws on a cursor not issued here. */
  page(cursor: string | undefined, pageSize: number): Page {
    const all = this.list();
    let start = 0;
    if (cursor !== undefined) {
      const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
      if (!decoded.startsWith(CURSOR_PREFIX)) throw new TypeError('invalid cursor');
      start = upperBound(all, decoded.slice(CURSOR_PREFIX.length));
    }
    const rels = all.slice(start, start + pageSize);
    const more = start + pageSize < all.length;
    return {
      entries: rels.map((rel) => ({ rel, size: this.sizes.get(rel)! })),
      nextCursor: more ? Buffer.from(CURSOR_PREFIX + rels[rels.length - 1]!, 'utf8').toString('base64url') : undefined,
    };
  }

  private set(rel: string, size: number | undefined): void {
    if (size === undefined) {
      if (this.sizes.delete(rel)) this.sorted = undefined;
      return;
    }
    if (!this.sizes.has(rel)) {
      if (this.sizes.size >= this.maxFiles) {
        this.overflowed++;
        return;
      }
      this.sorted = undefined;
    }
    this.sizes.set(rel, size);
  }

  private async walk(relDir: string): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(relDir === '' ? this.folder.root : this.folder.absolute(relDir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = relDir === '' ? e.name : `${relDir}/${e.name}`;
      if (e.isDirectory()) {
        if (!SKIPPED_DIRS.has(e.name)) await this.walk(rel);
      } else if (e.isFile() || e.isSymbolicLink()) {
        this.set(rel, await this.folder.eligible(rel));
      }
    }
  }
}

/** The index of the first element greater than `key`. */
function upperBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
