// `mcpwire gateway [flags] -- <command> [args…]`: a stdio MCP server on every wire format.
import { access, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createGateway, type RestartPolicy } from '../backend/stdio-child.js';
import { serve } from '../server.js';
import { folder, ms, nonEmpty, whole, X_OK } from './args.js';
import { cliLogger } from './logger.js';
import { addServerFlags, exitOnSignals, serveOptionsFrom, startError, type ServerFlags } from './server-flags.js';

interface GatewayFlags extends ServerFlags {
  env?: Record<string, string>;
  cwd?: string;
  shared?: boolean;
  maxChildren: number;
  spareChildren: number;
  restart: RestartPolicy;
  killGraceMs: number;
  initTimeoutMs: number;
  maxLineBytes: number;
  maxQueuedBytes: number;
  closeSseAfterMs: number;
  exitWithParent?: boolean;
}

const envPair = (v: string, prev: Record<string, string> | undefined) => {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('Give NAME=value.');
  return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) };
};

/**
 * The command is there to run, found as the child's watcher (`sh`, exec) finds it: a name on the
 * child's PATH, a path as it is; both relative to its working directory. Else every session would
 * fail, one by one, with exit code 127.
 */
async function findCommand(command: string, cwd: string, path: string): Promise<void> {
  const runnable = (file: string) => access(file, X_OK).then(() => stat(file)).then((s) => s.isFile(), () => false);
  for (const dir of command.includes('/') ? [''] : path.split(':')) if (await runnable(resolve(cwd, dir, command))) return;
  throw new Error(`the command ${command} was not found${command.includes('/') ? '' : ' on PATH'}, or cannot be run`);
}

export function gatewayCommand(): Command {
  const cmd = new Command('gateway')
    .description('serve a stdio MCP server over HTTP (/mcp, /sse): one process per session unless --shared')
    .usage('[options] -- <command> [args...]')
    .argument('<command>', 'the stdio MCP server to run (put -- before it)')
    .argument('[args...]', 'its arguments')
    // Past the command, every word is the command's: `gateway node s.js --port 5` gives --port to s.js.
    .passThroughOptions();
  cmd.addOption(new Option('--env <NAME=value>', "add to the server's environment (repeatable)").argParser(envPair));
  cmd.addOption(new Option('--cwd <dir>', 'working directory of the server').argParser(nonEmpty));
  cmd.option('--shared', 'one server process for every session (only for servers that keep no per-client state)');
  cmd.addOption(new Option('--max-children <n>', 'server processes at once; new sessions past it get 503').default(100).argParser(whole(1)));
  cmd.addOption(new Option('--spare-children <n>', 'server processes started ahead of need, so a new session does not wait for one (count toward --max-children)').default(0).argParser(whole(0)));
  cmd.addOption(new Option('--restart <policy>', 'with --shared: restart the server when it exits').choices(['never', 'on-failure', 'always']).default('on-failure'));
  cmd.addOption(new Option('--init-timeout-ms <ms>', 'a server process that has not answered initialize by then is stopped as failed, and the sessions waiting on it get an error (0: never)').default(120_000).argParser(ms()));
  cmd.addOption(new Option('--kill-grace-ms <ms>', 'time between SIGTERM and SIGKILL when a server is stopped').default(3_000).argParser(ms()));
  cmd.addOption(new Option('--max-line-bytes <n>', 'largest message a server may write (one stdout line)').default(4 * 1024 * 1024).argParser(whole(1024)));
  cmd.addOption(new Option('--max-queued-bytes <n>', "bytes a session may have waiting in a server's stdin; past it, requests are refused").default(1024 * 1024).argParser(whole(1024)));
  cmd.addOption(new Option('--close-sse-after-ms <ms>', 'end the SSE connection of a request still running after this long; the client resumes it (0: never)').default(0).argParser(ms()));
  cmd.option('--exit-with-parent', 'shut down when the process that started the gateway goes away');
  addServerFlags(cmd);
  cmd.action(async (command: string, args: string[], flags: GatewayFlags) => {
    const log = cliLogger(flags.logLevel);
    const cwd = resolve(flags.cwd ?? '.');
    if (flags.cwd !== undefined) await folder('--cwd', cwd, X_OK);
    await findCommand(command, cwd, flags.env?.PATH ?? process.env.PATH ?? '');
    const gateway = createGateway({
      command,
      args,
      env: flags.env,
      cwd: flags.cwd,
      shared: Boolean(flags.shared),
      maxChildren: flags.maxChildren,
      spareChildren: flags.spareChildren,
      restart: flags.restart,
      killGraceMs: flags.killGraceMs,
      initTimeoutMs: flags.initTimeoutMs,
      maxLineBytes: flags.maxLineBytes,
      maxQueuedBytes: flags.maxQueuedBytes,
      closeSseAfterMs: flags.closeSseAfterMs,
      logger: log,
    });
    let server;
    try {
      server = await serve({ ...serveOptionsFrom(flags), backend: gateway.backend, logger: log });
    } catch (err) {
      await gateway.close();
      throw startError(err, flags);
    }
    server.handler.addHealthCheck(gateway.healthCheck);
    const stop = async () => {
      await server.close({ drainMs: flags.drainMs });
      await gateway.close();
    };
    // Before the line that says it listens: whoever acts on that line may send a signal at once.
    exitOnSignals(stop, log);
    if (flags.exitWithParent) watchParent(stop, log);
    log.info({ url: server.url, command, args, mode: flags.shared ? 'shared' : 'isolated' }, `mcpwire gateway listening on ${server.url} (/mcp, /sse)`);
  });
  return cmd;
}

/** When the launching process dies, the gateway is re-parented: then it stops as on SIGTERM. */
function watchParent(stop: () => Promise<void>, log: { warn(msg: string): void }): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    log.warn('the parent process is gone: shutting down');
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  }, 1_000);
  timer.unref();
}
