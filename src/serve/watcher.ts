// One chokidar watcher for the whole folder (not one per session). File events are coalesced: the
// paths touched are collected until the folder has been quiet for `debounceMs` (or `maxWaitMs` has
// passed since the first), then each is re-checked once against the file system, so an editor's burst
// of writes (truncate, write, rename over) becomes one change.
import { watch, type FSWatcher } from 'chokidar';
import type { FileIndex } from './file-index.js';
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

export class FolderWatcher {
  private watcher: FSWatcher | undefined;
  /** Paths touched since the last flush; bounded by the index size (plus folders). */
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>();
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

  /** Starts watching; resolves once the initial scan is done (its events are not changes). */
  async start(): Promise<void> {
    const root = this.folder.root;
    const w = watch(root, {
      ignoreInitial: true,
      followSymlinks: false,
      ignorePermissionErrors: true,
      ignored: (path: string) => path !== root && this.folder.relative(path).split('/').some((s) => SKIPPED_DIRS.has(s)),
    });
    this.watcher = w;
    w.on('add', (p) => this.touch(p, false));
    w.on('change', (p) => this.touch(p, false));
    w.on('unlink', (p) => this.touch(p, false));
    w.on('addDir', (p) => this.touch(p, true));
    w.on('unlinkDir', (p) => this.touch(p, true));
    w.on('error', (err) => this.opts.onError(err));
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
  }

  private touch(abs: string, dir: boolean): void {
    const rel = this.folder.relative(abs);
    if (this.closed || rel === '..' || rel.startsWith('../')) return;
    this.events++;
    const set = dir ? this.dirs : this.files;
    if (this.files.size + this.dirs.size >= this.index.maxFiles) this.overflow = true;
    else set.add(rel);
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
    const files = [...this.files];
    const dirs = [...this.dirs];
    const overflow = this.overflow;
    this.files.clear();
    this.dirs.clear();
    this.overflow = false;
    if (overflow) {
      const before = new Set(this.index.list());
      await this.index.rebuild();
      const after = this.index.list();
      const membership = [...after.filter((r) => !before.has(r)), ...[...before].filter((r) => !this.index.has(r))];
      // Without the list of paths, every resource that was there may have changed, or be back.
      return { updated: [...new Set([...before, ...after])], membership };
    }
    const updated = new Set<string>();
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
    for (const rel of files) await recheck(rel);
    // A symlink reads as its target, and no event names it when only the target changes.
    for (const rel of [...updated, ...files]) {
      for (const link of this.index.linksTo(rel)) if (!checked.has(link)) await recheck(link);
    }
    return { updated: [...updated], membership };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.watcher?.close();
  }
}
