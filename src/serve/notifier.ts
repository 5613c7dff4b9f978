// Turns the folder's coalesced changes and the stats ticks into the handler's notifications: updates
// go only to the sessions subscribed to the URI (the engine filters), list changes to every session.
import type { Logger } from 'pino';
import type { McpHandler } from '../server.js';
import { STATS_URI } from './system-stats.js';
import type { FolderChanges } from './watcher.js';

export class Notifier {
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly handler: McpHandler,
    tickMs: number,
    private readonly log: Logger,
  ) {
    if (tickMs > 0) {
      this.timer = setInterval(() => this.tick(), tickMs);
      this.timer.unref();
    }
  }

  folderChanged(c: FolderChanges): void {
    for (const uri of c.updated) this.settle(this.handler.notifyResourceUpdated(uri));
    if (c.listChanged) this.settle(this.handler.notifyListChanged('resources'));
  }

  private tick(): void {
    // Nobody listening here: no change event either (the dashboard would show a tick a second to no one).
    for (const s of this.handler.sessions.sessions.values()) {
      if (s.subscriptions.has(STATS_URI)) {
        this.settle(this.handler.notifyResourceUpdated(STATS_URI));
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
