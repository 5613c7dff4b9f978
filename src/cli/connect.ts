// `mcpwire connect <url>`: a remote MCP server for hosts that only speak stdio. JSON-RPC lines on
// stdin go to the server; what the server sends comes out on stdout, one message per line, and
// nothing else ever does (logs go to stderr). Exits 0 when stdin closes, after ending the session;
// 1 when the transport gives up on the server (every request waiting is answered first); 2 on a usage
// error, before anything is sent.
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { Command, Option } from 'commander';
import { createTransport, type WireChoice } from '../client/connect.js';
import { StdioBridge } from '../client/stdio-bridge.js';
import { BEARER, ms, refuse, whole } from './args.js';
import { cliLogger } from './logger.js';

interface ConnectFlags {
  header?: string[];
  token?: string;
  transport: WireChoice;
  modern?: boolean;
  idleTimeoutMs: number;
  maxRetries?: number;
  logLevel: string;
}

const add = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/**
 * `--header "Name: value"` (repeatable), as HTTP allows them. Checked here rather than as commander
 * parses, because its message would repeat the value (often a key).
 */
function headers(cmd: Command, given: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of given) {
    const colon = h.indexOf(':');
    const [name, value] = [h.slice(0, colon).trim(), h.slice(colon + 1).trim()];
    try {
      if (colon <= 0) throw new Error();
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      refuse(cmd, 'header', 'give "Name: value", with a name and a value HTTP allows (the value is not shown)');
    }
    out[name] = value;
  }
  return out;
}

const httpUrl = (v: string) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol);

export function connectCommand(): Command {
  const cmd = new Command('connect')
    .description('bridge a remote MCP server (2026-07-28, Streamable HTTP or legacy SSE) to stdio, for stdio-only hosts')
    .argument('<url>', 'the server’s MCP endpoint, e.g. http://127.0.0.1:3000/mcp')
    .option('-H, --header <header>', 'send this header on every request, "Name: value" (repeatable)', add)
    .addOption(new Option('--token <token>', 'send Authorization: Bearer <token>; prefer MCPWIRE_TOKEN').env('MCPWIRE_TOKEN'))
    .addOption(new Option('--transport <kind>', 'wire format: try Streamable HTTP then legacy SSE, or fix one').choices(['auto', 'modern', 'streamable', 'sse']).default('auto'))
    .option('--modern', 'with --transport auto: ask for MCP 2026-07-28 first (server/discover), then fall back as usual')
    .addOption(new Option('--idle-timeout-ms <ms>', 'reopen a stream silent this long (0: never)').default(60_000).argParser(ms()))
    .addOption(new Option('--max-retries <n>', 'give up reopening the listening stream after this many failures in a row (default: never)').argParser(whole(0)))
    .addOption(new Option('--log-level <level>', 'log level (logs go to stderr)').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info').env('MCPWIRE_LOG_LEVEL'));
  cmd.action(async (url: string, flags: ConnectFlags) => {
    // Usage errors that do not repeat the URL or the token: either may hold a secret.
    if (!httpUrl(url)) cmd.error("error: argument 'url' is invalid: give an http:// or https:// URL (the value is not shown)", { exitCode: 2 });
    if (flags.token !== undefined && !BEARER.test(flags.token)) refuse(cmd, 'token', 'a bearer token is visible ASCII characters, no spaces (the value is not shown)');
    const headerMap = headers(cmd, flags.header ?? []);
    const log = cliLogger(flags.logLevel);
    const bridge = new StdioBridge({ input: process.stdin, output: process.stdout, logger: log });
    const transport = createTransport(url, {
      transport: flags.transport,
      ...(flags.modern ? { modern: true } : {}),
      headers: headerMap,
      ...(flags.token ? { token: flags.token } : {}),
      idleTimeoutMs: flags.idleTimeoutMs,
      ...(flags.maxRetries !== undefined ? { reconnect: { maxRetries: flags.maxRetries } } : {}),
      backpressure: bridge.outputReady,
      logger: log,
    });
    // SIGHUP too: the host's terminal is gone; the session is ended all the same.
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) process.exit(1);
      stopping = true;
      log.info({}, `${signal}: ending the session`);
      bridge.stop();
    };
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => stop(signal));
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
