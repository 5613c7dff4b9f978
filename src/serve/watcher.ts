// One @parcel/watcher subscription for the whole folder (not one per session). Its cost follows the
// folders, not the files: on Linux one inotify watch per folder (none per file), and its native tree
// keeps one small entry (path, mtime) per file, outside the JS heap.
// `.git` and `node_modules` are neither watched nor reported; symlinked folders are not followed.
//
// File events are coalesced: the paths touched are collected until the folder has been quiet for
// `debounceMs` (or `maxWaitMs` has passed since the first), then each is re-checked once against the
// file system, so an editor's burst of writes (truncate, write, rename over) becomes one change. More
// paths than the index holds in one go: the index is rebuilt instead (and the subscription made anew).
//
// parcel reports paths, not whether they were folders: a path is treated as a folder when it is one
// now, or when the index holds something below it (it was one). On Linux parcel watches a folder that
// appears but does not look inside it: subfolders already there (a tree moved in or renamed, or made
// faster than the watch was added) would go unwatched, so such a folder gets a subscription of its own,
// dropped when the folder goes.
//
// A folder moved away (out of the root, or renamed in it) is worse off with parcel on Linux (v2.6,
// InotifyBackend::handleSubscription): for the moved folder it forgets its watch without removing it,
// and it keeps the watches of the folders below under their old paths, so that a change made there
// afterwards is reported as one inside the root (a change of whatever took that name), and every
// folder moved out leaves its watches behind. parcel cannot remove one folder's watches, so when a
// folder the index knew went away, or is another one now, every subscription is dropped, which closes
// parcel's inotify instance and every watch with it (unless another subscription in this process keeps
// that instance open: then the moved folder's own watch stays, though it reports nothing), and the
// root is subscribed anew, then walked whole for the files that came, went or changed meanwhile (the
// events parcel had not handed over yet are dropped with the subscription): the cost of a start, per
// flush that moved folders. parcel reports a move and a deletion alike, but a deletion
// (which leaves no watch behind) also reports everything below the folder: then none of this is needed.
import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import parcelWatcher, { type AsyncSubscription } from '@parcel/watcher';
import { folderId, type FileIndex } from './file-index.js';
import { Folder, SKIPPED_DIRS } from './folder.js';

export interface FolderChanges {
  /** Resources (root-relative paths) whose content changed, that went away or came back (subscribers are told). */
  updated: string[];
  /** The paths that appeared or went away (the resource list changed when there is one). */
  membership: string[];
}

export interface WatchOptions {
  debounceMs: number;
  maxWaitMs: number;
  onChanges(changes: FolderChanges): void;
  onError(err: unknown): void;
}

const IGNORE = [...SKIPPED_DIRS].map((name) => `**/${name}`);

/** A subscription for a folder below the root, and which folder (device and inode) it watches. */
interface Extra {
  sub: AsyncSubscription;
  dev: number;
  ino: number;
}

export class FolderWatcher {
  private main: AsyncSubscription | undefined;
  /** Folders that arrived with subfolders parcel had not seen, each with its own subscription; never more than the folders. */
  private readonly extras = new Map<string, Extra>();
  /** Paths touched since the last flush; bounded by the index size. */
  private readonly paths = new Set<string>();
  /** Too many paths at once: the flush rebuilds the index instead. */
  private overflow = false;
  private timer: NodeJS.Timeout | undefined;
  private firstAt = 0;
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Path events seen, and flushes that produced a change (for the stats). */
  events = 0;
  flushes = 0;

  constructor(
    private readonly folder: Folder,
    private readonly index: FileIndex,
    private readonly opts: WatchOptions,
  ) {}

  /** The parcel subscriptions held: the root's, and those of folders that arrived with subfolders. */
  get subscriptions(): number {
    return (this.main ? 1 : 0) + this.extras.size;
  }

  /** Starts watching; resolves once the folder is watched (its initial crawl is not a change). */
  async start(): Promise<void> {
    try {
      this.main = await this.subscribe(this.folder.root);
    } catch (err) {
      // No watches left (the user's inotify limit, say): the folder is still served, without live updates.
      this.opts.onError(explained(err));
    }
  }

  private subscribe(abs: string): Promise<AsyncSubscription> {
    return parcelWatcher.subscribe(
      abs,
      (err, events) => {
        if (err) this.opts.onError(err);
        for (const e of events) this.touch(e.path);
      },
      { ignore: IGNORE },
    );
  }

  private touch(abs: string): void {
    const rel = this.folder.relative(abs);
    if (this.closed || rel === '..' || rel.startsWith('../') || Folder.isSkipped(rel)) return;
    this.events++;
    if (!this.paths.has(rel)) {
      if (this.paths.size >= this.index.maxFiles) this.overflow = true;
      else this.paths.add(rel);
    }
    const now = Date.now();
    if (this.timer === undefined) this.firstAt = now;
    else clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.opts.debounceMs, this.firstAt + this.opts.maxWaitMs - now));
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed) return;
    // One flush at a time: events arriving meanwhile wait for the next one.
    if (this.flushing) {
      this.flushing.then(() => this.flush(), () => this.flush());
      return;
    }
    this.flushing = this.reconcile()
      .then(
        (changes) => {
          if (changes.updated.length > 0 || changes.membership.length > 0) {
            this.flushes++;
            this.opts.onChanges(changes);
          }
        },
        (err: unknown) => this.opts.onError(err),
      )
      .finally(() => {
        this.flushing = undefined;
      });
  }

  private async reconcile(): Promise<FolderChanges> {
    const paths = [...this.paths];
    const overflow = this.overflow;
    this.paths.clear();
    this.overflow = false;
    if (overflow) {
      // Folders made in the burst may hold subfolders parcel never saw: watch the folder afresh first,
      // so that the walk below sees every change made before it.
      await this.resubscribe();
      const before = new Set(this.index.list());
      await this.index.rebuild();
      const after = this.index.list();
      const membership = [...after.filter((r) => !before.has(r)), ...[...before].filter((r) => !this.index.has(r))];
      // Without the list of paths, every resource that was there may have changed, or be back.
      return { updated: [...new Set([...before, ...after])], membership };
    }
    // Folder or file: asked of the index before it changes (was it a folder, which one?) and of the disk.
    const touched = new Set(paths);
    let dirs: string[] = [];
    const files: string[] = [];
    const newDirs: [string, Stats][] = [];
    /** Folders that went away (moved out, renamed, deleted). */
    const gone: string[] = [];
    /** Folders that are other ones now (moved in in their place): what is below them is another file, if by the same name. */
    const replaced: string[] = [];
    for (const rel of paths) {
      const was = this.index.folderAt(rel);
      const wasDir = was !== undefined || this.index.hasUnder(rel);
      const st = await lstat(this.absolute(rel)).catch(() => undefined);
      const isDir = st?.isDirectory() ?? false;
      if (isDir && was !== undefined && was !== folderId(st!)) replaced.push(rel);
      if (wasDir && !isDir) gone.push(rel);
      if (isDir) newDirs.push([rel, st!]);
      if (isDir || wasDir) dirs.push(rel);
      if (!isDir || this.index.has(rel)) files.push(rel);
    }
    // Deleted, not moved: everything known below it was reported gone too (an empty folder cannot tell).
    const deleted = (rel: string) => {
      const below = [...this.index.under(rel), ...this.index.foldersUnder(rel)];
      return below.length > 0 && below.every((r) => touched.has(r));
    };
    /** With the whole folder walked again: what each file was before (its size and mtime). */
    let versions: Map<string, string | undefined> | undefined;
    if (replaced.length > 0 || !gone.every(deleted)) {
      // The watches parcel keeps for a folder that went (see the top of this file) go with every other;
      // the fresh subscription watches every folder there is, and the walk of the whole folder after
      // it sees what came, went or changed meanwhile.
      versions = new Map(this.index.list().map((rel) => [rel, this.index.version(rel)]));
      await this.resubscribe();
      dirs = [''];
    } else {
      for (const [rel, st] of newDirs) await this.watchInside(rel, st, touched);
      await this.dropGoneExtras(touched);
    }

    const updated = new Set<string>(replaced.flatMap((rel) => this.index.under(rel)));
    const membership: string[] = [];
    const checked = new Set<string>();
    const recheck = async (rel: string) => {
      checked.add(rel);
      const { before, after } = await this.index.refresh(rel);
      if (before !== after) membership.push(rel);
      // `after` too: a subscription outlives the file, so one deleted then created again is news.
      if (before || after) updated.add(rel);
    };
    for (const dir of dirs) {
      const changed = await this.index.refreshDir(dir);
      membership.push(...changed);
      for (const rel of changed) updated.add(rel);
    }
    for (const rel of replaced) for (const r of this.index.under(rel)) updated.add(r);
    if (versions) for (const [rel, version] of versions) if (this.index.has(rel) && this.index.version(rel) !== version) updated.add(rel);
    for (const rel of files) await recheck(rel);
    // A symlink reads as its target, and no event names it when only the target changes.
    for (const rel of [...updated, ...files]) {
      for (const link of this.index.linksTo(rel)) if (!checked.has(link)) await recheck(link);
    }
    return { updated: [...updated], membership };
  }

  private absolute(rel: string): string {
    return rel === '' ? this.folder.root : this.folder.absolute(rel);
  }

  /**
   * A folder that appeared (or changed) is watched by parcel, but its subfolders only if parcel saw them
   * appear too: when one it did not see is there, the folder gets a subscription of its own (which
   * watches everything below it). Subscribed before the folder is walked, so nothing falls in between.
   */
  private async watchInside(rel: string, st: Stats, touched: Set<string>): Promise<void> {
    if (rel === '') return;
    const known = this.extras.get(rel);
    if (known) {
      if (known.dev === st.dev && known.ino === st.ino) return;
      // Another folder by that name now: that subscription follows the old one. Dropped first, as
      // parcel would hand a new subscription for the same path the old one's view of it.
      this.extras.delete(rel);
      await this.unsubscribe(known.sub);
    }
    let names: string[];
    try {
      const entries = await readdir(this.absolute(rel), { withFileTypes: true });
      names = entries.filter((e) => e.isDirectory() && !SKIPPED_DIRS.has(e.name)).map((e) => e.name);
    } catch {
      return;
    }
    if (names.every((name) => touched.has(`${rel}/${name}`))) return;
    try {
      const sub = await this.subscribe(this.absolute(rel));
      this.extras.set(rel, { sub, dev: st.dev, ino: st.ino });
    } catch (err) {
      this.opts.onError(explained(err));
    }
  }

  /** Drops the extra subscriptions whose folder is gone (or is another one now), when a touched path is it or above it. */
  private async dropGoneExtras(touched: Set<string>): Promise<void> {
    if (this.extras.size === 0) return;
    for (const [rel, extra] of [...this.extras]) {
      if (!touched.has('') && !isOrAbove(rel, touched)) continue;
      const st = await lstat(this.absolute(rel)).catch(() => undefined);
      if (st?.isDirectory() && st.dev === extra.dev && st.ino === extra.ino) continue;
      this.extras.delete(rel);
      await this.unsubscribe(extra.sub);
    }
  }

  /**
   * A fresh subscription for the root: a fresh crawl, every folder watched, so the extra ones can go.
   * They go first: with no subscription left, parcel closes its inotify instance, and the watches it
   * lost track of (folders moved out) go with it. Unless parcel could not drop the old one whole (see
   * `unsubscribe`): then it keeps its old view of the folder for the new one too, and the extra
   * subscriptions stay. Changes made while no subscription is there are not reported: the callers walk
   * the folder afterwards.
   */
  private async resubscribe(): Promise<void> {
    const old = this.main;
    this.main = undefined;
    const clean = old === undefined || (await this.unsubscribe(old));
    if (clean) {
      const extras = [...this.extras.values()];
      this.extras.clear();
      for (const extra of extras) await this.unsubscribe(extra.sub);
    }
    try {
      this.main = await this.subscribe(this.folder.root);
    } catch (err) {
      this.opts.onError(explained(err));
    }
  }

  /** Whether parcel dropped the subscription whole. */
  private async unsubscribe(sub: AsyncSubscription): Promise<boolean> {
    // It fails on a watch the kernel already dropped (a folder renamed, then deleted before the next
    // flush), leaving the rest of that subscription's watches in place: nothing more can be done here.
    return sub.unsubscribe().then(
      () => true,
      () => false,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    const subs = [this.main, ...[...this.extras.values()].map((e) => e.sub)];
    this.main = undefined;
    this.extras.clear();
    for (const sub of subs) if (sub) await this.unsubscribe(sub);
  }
}

/** parcel's "No space left on device" means the inotify watch limit. */
function explained(err: unknown): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (!message.includes('No space left on device')) return err;
  return new Error(
    `${message}: the inotify watch limit (fs.inotify.max_user_watches) is reached; the folder is served without live updates`,
    { cause: err },
  );
}

/** Whether `rel` or a folder above it is among `paths`. */
function isOrAbove(rel: string, paths: Set<string>): boolean {
  for (let p = rel; ; ) {
    if (paths.has(p)) return true;
    const i = p.lastIndexOf('/');
    if (i < 0) return false;
    p = p.slice(0, i);
  }
}
