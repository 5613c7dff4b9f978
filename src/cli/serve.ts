// `mcpwire serve`: a folder as live MCP resources over every wire format, with the dashboard and /metrics.
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { SERVE_DEFAULTS } from '../serve/app.js';
import { serveFolder } from '../serve/serve-folder.js';
import { folder, nonEmpty, ms, R_OK, whole, X_OK } from './args.js';
import { cliLogger } from './logger.js';
import { addServerFlags, exitOnSignals, serveOptionsFrom, startError, type ServerFlags } from './server-flags.js';

interface ServeFlags extends ServerFlags {
  root: string;
  tick: number;
  writable?: boolean;
  maxFileBytes: number;
  maxFiles: number;
  pageSize: number;
  debounceMs: number;
  dashboard: boolean;
  metrics: boolean;
}

export function serveCommand(): Command {
  const cmd = new Command('serve').description('serve a folder as live MCP resources, with change notifications, a live dashboard and /metrics');
  cmd.addOption(new Option('--root <dir>', 'the folder to serve').default('.').argParser(nonEmpty));
  cmd.addOption(new Option('--tick <ms>', 'interval of system://stats updates to its subscribers (0: off)').default(SERVE_DEFAULTS.tickMs).argParser(ms()));
  cmd.option('--writable', 'offer the write_file tool (writes under the root only)');
  cmd.addOption(new Option('--max-file-bytes <n>', 'larger files are not resources').default(SERVE_DEFAULTS.maxFileBytes).argParser(whole(1)));
  cmd.addOption(new Option('--max-files <n>', 'files indexed at most').default(SERVE_DEFAULTS.maxFiles).argParser(whole(1)));
  cmd.addOption(new Option('--page-size <n>', 'resources per resources/list page').default(SERVE_DEFAULTS.pageSize).argParser(whole(1)));
  cmd.addOption(new Option('--debounce-ms <ms>', 'quiet time that ends a burst of file changes').default(SERVE_DEFAULTS.debounceMs).argParser(ms()));
  cmd.option('--no-dashboard', 'do not serve the live dashboard at /');
  cmd.option('--no-metrics', 'do not serve Prometheus metrics at /metrics');
  addServerFlags(cmd);
  cmd.action(async (flags: ServeFlags) => {
    const log = cliLogger(flags.logLevel);
    const root = resolve(flags.root);
    await folder('--root', root, R_OK | X_OK);
    const running = await serveFolder({
      ...serveOptionsFrom(flags),
      logger: log,
      root,
      tickMs: flags.tick,
      writable: Boolean(flags.writable),
      maxFileBytes: flags.maxFileBytes,
      maxFiles: flags.maxFiles,
      pageSize: flags.pageSize,
      debounceMs: flags.debounceMs,
      dashboard: flags.dashboard,
      metrics: flags.metrics,
    }).catch((err: unknown) => {
      throw startError(err, flags);
    });
    const url = running.server.url;
    // Before the line that says it serves: whoever acts on that line may send a signal at once.
    exitOnSignals(() => running.close({ drainMs: flags.drainMs }), log);
    log.info(
      { url, root: running.app.root, files: running.app.index.size, writable: Boolean(flags.writable) },
      `mcpwire serve: MCP at ${url}/mcp and ${url}/sse` +
        (flags.dashboard ? `; dashboard at ${url}/${flags.token?.length ? '?token=<your token>' : ''}` : '') +
        (flags.metrics ? `; metrics at ${url}/metrics` : ''),
    );
  });
  return cmd;
}
