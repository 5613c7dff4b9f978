#!/usr/bin/env node
// The `mcpwire` command.
import { Command } from 'commander';
import { VERSION } from '../http/health.js';
import { connectCommand } from './connect.js';
import { gatewayCommand } from './gateway.js';
import { serveCommand } from './serve.js';

const program = new Command('mcpwire')
  .description('The Model Context Protocol over HTTP: every wire format on one port')
  .version(VERSION)
  .showHelpAfterError();
program.addCommand(serveCommand());
program.addCommand(connectCommand());
program.addCommand(gatewayCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`mcpwire: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
