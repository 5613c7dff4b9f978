// The files of the served folder that are resources, in a stable order for paging, bounded in count.
// Built by walking the folder once; kept current by the watcher, which names the paths that changed.
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { Folder, SKIPPED_DIRS } from './folder.js';
import { PathTally } from './path-tally.js';

export interface Page {
  entries: { rel: string; size: number }[];
  nextCursor: string | undefined;
}

const CURSOR_PREFIX = 'after:';
/** Unservable names remembered (for the count and the log), past which only full walks count them. */
const BAD_NAMES_KEPT = 1_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class FileIndex {
  private readonly sizes = new Map<string, number>();
  /** Each indexed file's mtime when it was last looked at (with its size, a change the events missed shows). */
  private readonly mtimes = new Map<string, number>();
  /**
   * Indexed symlinks and the root-relative path each resolves to, both ways: a link reads as its
   * target, so a change of the target is a change of the link. Never larger than the index.
   */
  private readonly targetOf = new Map<string, string>();
  private readonly linksOf = new Map<string, Set<string>>();
  /**
   * Every folder walked below the root, and which folder it was (`folderId`): the watcher asks whether a
   * folder it had went away or is another one now. One entry per folder, as many as the inotify watches.
   */
  private readonly folders = new Map<string, string>();
  /** Sorted by code unit; rebuilt lazily after a change. */
  private sorted: string[] | undefined = [];
  /** Files left out because the index was full, each counted once however often it changes. */
  private readonly leftOut: PathTally;
  /** Files whose name has no URI that reads back as it (not UTF-8, a backslash, too long). */
  private readonly badNames = new PathTally(BAD_NAMES_KEPT);

  constructor(
    private readonly folder: Folder,
    readonly maxFiles: number,
  ) {
    this.leftOut = new PathTally(maxFiles);
  }

  get size(): number {
    return this.sizes.size;
  }

  /** Distinct files left out because the index was full. */
  get overflowed(): number {
    return this.leftOut.count;
  }

  /** Distinct files left out because their name cannot be a resource URI; and a few of them. */
  get unservable(): { count: number; sample: string[] } {
    return { count: this.badNames.count, sample: this.badNames.sample(5) };
  }

  has(rel: string): boolean {
    return this.sizes.has(rel);
  }

  /** The indexed symlinks that resolve to `rel`. */
  linksTo(rel: string): string[] {
    return [...(this.linksOf.get(rel) ?? [])];
  }

  /** The size and mtime of an indexed file when it was last looked at: another one says it changed since. */
  version(rel: string): string | undefined {
    const size = this.sizes.get(rel);
    return size === undefined ? undefined : `${size}:${this.mtimes.get(rel)}`;
  }

  /** The `folderId` of the folder at `rel` when it was last walked; undefined when it was none. */
  folderAt(rel: string): string | undefined {
    return this.folders.get(rel);
  }

  /** The folders walked below `rel`. */
  foldersUnder(rel: string): string[] {
    const prefix = rel + '/';
    return [...this.folders.keys()].filter((r) => r.startsWith(prefix));
  }

  /** Whether some indexed path lies below `rel`: then `rel` is, or was, a folder. */
  hasUnder(rel: string): boolean {
    return this.under(rel, 1).length > 0;
  }

  /** The indexed paths below `rel`, sorted (at most `max` of them). */
  under(rel: string, max = Infinity): string[] {
    const all = this.list();
    const prefix = rel === '' ? '' : rel + '/';
    // No indexed path ends in '/' (nor is ''), so the first one after the prefix is the first one under it.
    const found: string[] = [];
    for (let i = upperBound(all, prefix); i < all.length && found.length < max && all[i]!.startsWith(prefix); i++) found.push(all[i]!);
    return found;
  }

  /** Every indexed path, sorted. */
  list(): readonly string[] {
    this.sorted ??= [...this.sizes.keys()].sort();
    return this.sorted;
  }

  /** Walks the whole folder (skipping .git, node_modules and symlinked folders). */
  async rebuild(): Promise<void> {
    this.sizes.clear();
    this.mtimes.clear();
    this.targetOf.clear();
    this.linksOf.clear();
    this.folders.clear();
    this.sorted = undefined;
    this.leftOut.clear();
    this.badNames.clear();
    await this.walk('', true);
  }

  /** Re-checks one path; returns whether it was indexed before and is now. */
  async refresh(rel: string): Promise<{ before: boolean; after: boolean }> {
    const before = this.sizes.has(rel);
    this.set(rel, await this.folder.eligible(rel), false);
    return { before, after: this.sizes.has(rel) };
  }

  /** Re-checks a folder: drops what is gone below it, adds what is there. Returns the paths whose membership changed. */
  async refreshDir(relDir: string): Promise<string[]> {
    const prefix = relDir === '' ? '' : relDir + '/';
    const before = new Set([...this.sizes.keys()].filter((r) => r.startsWith(prefix)));
    for (const r of before) this.set(r, undefined, false);
    this.leftOut.deleteUnder(prefix);
    this.badNames.deleteUnder(prefix);
    for (const r of [...this.folders.keys()]) if (r === relDir || r.startsWith(prefix)) this.folders.delete(r);
    await this.walk(relDir, false);
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

  private set(rel: string, file: { size: number; mtimeMs: number; target: string } | undefined, fullWalk: boolean): void {
    this.unlink(rel);
    if (file === undefined) {
      if (this.sizes.delete(rel)) this.sorted = undefined;
      this.mtimes.delete(rel);
      this.leftOut.delete(rel);
      this.badNames.delete(rel);
      return;
    }
    if (!Folder.servable(rel)) {
      this.badNames.add(rel, fullWalk);
      return;
    }
    if (!this.sizes.has(rel)) {
      if (this.sizes.size >= this.maxFiles) {
        this.leftOut.add(rel, fullWalk);
        return;
      }
      this.leftOut.delete(rel);
      this.sorted = undefined;
    }
    this.sizes.set(rel, file.size);
    this.mtimes.set(rel, file.mtimeMs);
    if (file.target !== rel) {
      this.targetOf.set(rel, file.target);
      let links = this.linksOf.get(file.target);
      if (!links) this.linksOf.set(file.target, (links = new Set()));
      links.add(rel);
    }
  }

  private unlink(rel: string): void {
    const target = this.targetOf.get(rel);
    if (target === undefined) return;
    this.targetOf.delete(rel);
    const links = this.linksOf.get(target)!;
    links.delete(rel);
    if (links.size === 0) this.linksOf.delete(target);
  }

  private async walk(relDir: string, fullWalk: boolean): Promise<void> {
    const abs = relDir === '' ? this.folder.root : this.folder.absolute(relDir);
    if (relDir !== '') {
      const st = await lstat(abs).catch(() => undefined);
      if (!st?.isDirectory()) return;
      this.folders.set(relDir, folderId(st));
    }
    let entries: Dirent<Buffer>[];
    try {
      // As bytes: a name that is not UTF-8 would otherwise turn into U+FFFD and silently name nothing.
      entries = await readdir(abs, { withFileTypes: true, encoding: 'buffer' });
    } catch {
      return;
    }
    for (const e of entries) {
      let name: string;
      try {
        name = utf8.decode(e.name);
      } catch {
        if (e.isDirectory() || e.isFile() || e.isSymbolicLink()) this.badNames.add(join(relDir, e.name.toString()), fullWalk);
        continue;
      }
      const rel = join(relDir, name);
      if (e.isDirectory()) {
        if (!SKIPPED_DIRS.has(name)) await this.walk(rel, fullWalk);
      } else if (e.isFile() || e.isSymbolicLink()) {
        this.set(rel, await this.folder.eligible(rel), fullWalk);
      }
    }
  }
}

/** Which folder this is (device and inode): the same path names another folder once one is moved over it. */
export const folderId = (st: { dev: number; ino: number }) => `${st.dev}:${st.ino}`;

const join = (relDir: string, name: string) => (relDir === '' ? name : `${relDir}/${name}`);

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
