// Turns the folder's coalesced changes and the stats ticks into the handler's notifications: updates
// go only to the sessions subscribed to the URI (the engine filters), list changes to every session.
import type { Logger } from 'pino';
import type { McpHandler } from '../server.js';
import { Folder } from './folder.js';
import { STATS_URI } from './system-stats.js';
import type { FolderChanges } from './watcher.js';

export class Notifier {
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly handler: McpHandler,
    private readonly folder: Folder,
    private readonly tickMs: number,
    private readonly log: Logger,
  ) {
    if (tickMs > 0) {
      this.timer = setInterval(() => this.tick(), tickMs);
      this.timer.unref();
    }
  }

  folderChanged(c: FolderChanges): void {
    const once = Boolean(this.handler.options.redis);
    // Each notification settles on its own: one that fails cannot take the others with it.
    for (const rel of c.updated) this.settle(once ? this.announceUpdatedOnce(rel) : this.handler.notifyResourceUpdated(Folder.uriOf(rel)));
    if (c.membership.length > 0) this.settle(once ? this.announceListOnce(c.membership) : this.handler.notifyListChanged('resources'));
  }

  // Several instances watching one folder each see every change: a change is named by the versions of
  // the paths it touched, and of the instances announcing the same name, only the first does.

  private async announceUpdatedOnce(rel: string): Promise<void> {
    const uri = Folder.uriOf(rel);
    await this.handler.notifyResourceUpdated(uri, { once: `updated ${uri} ${await this.folder.version(rel)}` });
  }

  private async announceListOnce(membership: string[]): Promise<void> {
    const changed = await Promise.all([...membership].sort().map(async (rel) => `${rel} ${await this.folder.version(rel)}`));
    await this.handler.notifyListChanged('resources', { once: `resources listed ${changed.join('\n')}` });
  }

  private tick(): void {
    // Nobody listening here: no change event either (the dashboard would show a tick a second to no one).
    for (const s of this.handler.sessions.sessions.values()) {
      if (s.subscriptions.has(STATS_URI)) {
        // With several instances, one tick per period for the cluster, whichever instance ticks first.
        this.settle(this.handler.notifyResourceUpdated(STATS_URI, { once: `stats tick ${Math.floor(Date.now() / this.tickMs)}` }));
        return;
      }
    }
  }

  /** A shared bus (Redis) publishes asynchronously; a failure is logged, not thrown into a timer. */
  private settle(r: void | Promise<void>): void {
    r?.catch((err: unknown) => this.log.warn({ err }, 'publishing a change failed'));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
