#!/usr/bin/env node
// The `mcpwire` command. Exit codes: 0 done (or --help, --version); 2 a usage error, said by
// commander in one line naming the flag; 1 a failure at run time (a folder, a port, Redis), in one
// line prefixed `mcpwire:`, never with a stack trace.
import { Command, type CommanderError } from 'commander';
import { VERSION } from '../http/health.js';
import { connectCommand } from './connect.js';
import { gatewayCommand } from './gateway.js';
import { serveCommand } from './serve.js';

const program = new Command('mcpwire')
  .description('The Model Context Protocol over HTTP: every wire format on one port')
  .version(VERSION)
  // Lets `gateway` leave everything after its command to that command (passThroughOptions).
  .enablePositionalOptions();
program.addCommand(serveCommand());
program.addCommand(connectCommand());
program.addCommand(gatewayCommand());
// addCommand() does not pass settings down: each command gets it.
for (const cmd of [program, ...program.commands]) cmd.exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));

program.parseAsync(process.argv).catch((err: unknown) => {
  // The library's own messages start with "mcpwire…:" already.
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`mcpwire: ${message.replace(/^mcpwire[\w ]*: /, '')}\n`);
  process.exit(1);
});
