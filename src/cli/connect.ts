// `mcpwire connect <url>`: a remote MCP server for hosts that only speak stdio. JSON-RPC lines on
// stdin go to the server; what the server sends comes out on stdout, one message per line, and
// nothing else ever does (logs go to stderr). Exits 0 when stdin closes, after ending the session;
// 1 when the transport gives up on the server (every request waiting is answered first).
import { Command, Option } from 'commander';
import { createTransport, type WireChoice } from '../client/connect.js';
import { StdioBridge } from '../client/stdio-bridge.js';
import { cliLogger } from './logger.js';

interface ConnectFlags {
  header?: Record<string, string>;
  token?: string;
  transport: WireChoice;
  modern?: boolean;
  idleTimeoutMs: number;
  maxRetries?: number;
  logLevel: string;
}

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0`);
  return n;
};

/** `--header "Name: value"`, repeatable. */
function header(v: string, prev: Record<string, string> | undefined): Record<string, string> {
  const colon = v.indexOf(':');
  if (colon <= 0) throw new Error(`--header must look like "Name: value"`);
  return { ...prev, [v.slice(0, colon).trim()]: v.slice(colon + 1).trim() };
}

function httpUrl(v: string): string {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new Error('the URL is not valid');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('the URL must be http:// or https://');
  return url.href;
}

export function connectCommand(): Command {
  const cmd = new Command('connect')
    .description('bridge a remote MCP server (2026-07-28, Streamable HTTP or legacy SSE) to stdio, for stdio-only hosts')
    .argument('<url>', 'the server’s MCP endpoint, e.g. http://127.0.0.1:3000/mcp', httpUrl)
    .option('-H, --header <header>', 'send this header on every request, "Name: value" (repeatable)', header)
    .addOption(new Option('--token <token>', 'send Authorization: Bearer <token>; prefer MCPWIRE_TOKEN').env('MCPWIRE_TOKEN'))
    .addOption(new Option('--transport <kind>', 'wire format: try Streamable HTTP then legacy SSE, or fix one').choices(['auto', 'modern', 'streamable', 'sse']).default('auto'))
    .option('--modern', 'with --transport auto: ask for MCP 2026-07-28 first (server/discover), then fall back as usual')
    .addOption(new Option('--idle-timeout-ms <ms>', 'reopen a stream silent this long (0: never)').default(60_000).argParser(int('--idle-timeout-ms')))
    .addOption(new Option('--max-retries <n>', 'give up reopening the listening stream after this many failures in a row (default: never)').argParser(int('--max-retries')))
    .addOption(new Option('--log-level <level>', 'log level (logs go to stderr)').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info').env('MCPWIRE_LOG_LEVEL'));
  cmd.action(async (url: string, flags: ConnectFlags) => {
    const log = cliLogger(flags.logLevel);
    const bridge = new StdioBridge({ input: process.stdin, output: process.stdout, logger: log });
    const transport = createTransport(url, {
      transport: flags.transport,
      ...(flags.modern ? { modern: true } : {}),
      headers: flags.header ?? {},
      ...(flags.token ? { token: flags.token } : {}),
      idleTimeoutMs: flags.idleTimeoutMs,
      ...(flags.maxRetries !== undefined ? { reconnect: { maxRetries: flags.maxRetries } } : {}),
      backpressure: bridge.outputReady,
      logger: log,
    });
    let stopping = false;
    const stop = () => {
      if (stopping) process.exit(1);
      stopping = true;
      bridge.stop();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    log.info({ url: new URL(url).origin + new URL(url).pathname, transport: flags.transport }, 'mcpwire connect: bridging stdio');
    await bridge.run(transport);
    await new Promise<void>((resolve) => {
      if (process.stdout.writableLength === 0) resolve();
      else process.stdout.once('drain', resolve).once('error', resolve);
    });
    // A bridge whose server is gone for good says so with its exit code (the host may restart it).
    if (bridge.lost) log.error({}, 'the connection to the server was given up; exiting');
    else log.info({}, 'stdin closed; session ended');
    log.flush?.();
    process.exit(bridge.lost ? 1 : 0);
  });
  return cmd;
}
