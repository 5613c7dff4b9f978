// `mcpwire serve`: the real-time notification server over every wire format.
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { createServeApp } from '../serve/app.js';
import { serve } from '../server.js';
import { cliLogger } from './logger.js';
import { addServerFlags, exitOnSignals, serveOptionsFrom, type ServerFlags } from './server-flags.js';

interface ServeFlags extends ServerFlags {
  root: string;
  tick: number;
}

export function serveCommand(): Command {
  const cmd = new Command('serve').description('serve a folder as live MCP resources, with change notifications');
  cmd.addOption(new Option('--root <dir>', 'the folder to serve').default('.'));
  cmd.addOption(new Option('--tick <ms>', 'interval of system://stats updates to its subscribers (0: off)').default(5_000).argParser(Number));
  addServerFlags(cmd);
  cmd.action(async (flags: ServeFlags) => {
    const log = cliLogger(flags.logLevel);
    const app = createServeApp({ root: resolve(flags.root), tickMs: flags.tick });
    const server = await serve({ ...serveOptionsFrom(flags), createServer: () => app.createServer(), logger: log });
    app.start(server.handler);
    log.info({ url: server.url, root: resolve(flags.root) }, `mcpwire serve listening on ${server.url} (/mcp, /sse)`);
    exitOnSignals(async () => {
      await app.stop();
      await server.close({ drainMs: flags.drainMs });
    }, log);
  });
  return cmd;
}
