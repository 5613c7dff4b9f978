// The flags every serving command shares (serve, gateway), and their translation into options.
import { type Command, Option } from 'commander';
import type { ServeOptions } from '../server.js';

export interface ServerFlags {
  port: number;
  host: string;
  cors?: string[];
  token?: string[];
  allowedOrigin?: string[];
  allowedHost?: string[];
  keepaliveMs: number;
  retryMs: number;
  maxBodyBytes: number;
  maxSessions: number;
  maxSessionsPerPrincipal: number;
  sessionIdleMs: number;
  responseMode: 'sse' | 'json';
  drainMs: number;
  logLevel: string;
  insecure?: boolean;
  redis?: string;
  redisPrefix: string;
  leaseMs: number;
  hibernateAfterMs: number;
}

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0`);
  return n;
};
const list = (v: string, prev: string[] | undefined) => [...(prev ?? []), ...v.split(',').map((s) => s.trim()).filter(Boolean)];

export function addServerFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('-p, --port <n>', 'port to listen on (0: a free one)').default(3000).argParser(int('--port')).env('PORT'))
    .addOption(new Option('--host <addr>', 'address to bind (non-loopback needs --token or --insecure)').default('127.0.0.1').env('MCPWIRE_HOST'))
    .option('--cors <origins>', "allow these browser origins with CORS (comma-separated, or '*')", list)
    .addOption(new Option('--token <token>', 'require this bearer token (repeatable); prefer MCPWIRE_TOKEN').argParser(list).env('MCPWIRE_TOKEN'))
    .option('--allowed-origin <origins>', 'accept these Origin values besides the server’s own (comma-separated)', list)
    .option('--allowed-host <hosts>', 'accept these Host names (default: loopback names when bound to loopback)', list)
    .addOption(new Option('--keepalive-ms <ms>', 'interval of keepalive comments on open streams (0: off)').default(15_000).argParser(int('--keepalive-ms')))
    .addOption(new Option('--retry-ms <ms>', 'the retry: hint sent on streams').default(1_000).argParser(int('--retry-ms')))
    .addOption(new Option('--max-body-bytes <n>', 'largest accepted request body').default(4 * 1024 * 1024).argParser(int('--max-body-bytes')))
    .addOption(new Option('--max-sessions <n>', 'sessions held at once; more get 503').default(10_000).argParser(int('--max-sessions')))
    .addOption(new Option('--max-sessions-per-principal <n>', 'sessions one token (principal) holds at once; more get 429').default(1_000).argParser(int('--max-sessions-per-principal')))
    .addOption(new Option('--session-idle-ms <ms>', 'end a session idle this long').default(30 * 60_000).argParser(int('--session-idle-ms')))
    .addOption(new Option('--response-mode <mode>', 'how Streamable HTTP answers requests').choices(['sse', 'json']).default('sse'))
    .addOption(new Option('--drain-ms <ms>', 'on SIGTERM/SIGINT, let in-flight calls finish this long').default(10_000).argParser(int('--drain-ms')))
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info').env('MCPWIRE_LOG_LEVEL'))
    .option('--insecure', 'allow a non-loopback bind without a token')
    .addOption(new Option('--redis <url>', 'share sessions with other instances through this Redis (redis://…)').env('MCPWIRE_REDIS_URL'))
    .addOption(new Option('--redis-prefix <prefix>', 'prefix of every Redis key and channel').default('mcpw:'))
    .addOption(new Option('--lease-ms <ms>', "an instance's lease: its sessions move this long after it dies").default(3_000).argParser(int('--lease-ms')))
    .addOption(new Option('--hibernate-after-ms <ms>', "drop an idle session's server after this long, keeping the session (0: never)").default(0).argParser(int('--hibernate-after-ms')));
}

export function serveOptionsFrom(f: ServerFlags): ServeOptions {
  const cors = f.cors?.length ? { origins: f.cors.includes('*') ? ('*' as const) : f.cors } : undefined;
  return {
    port: f.port,
    host: f.host,
    insecure: Boolean(f.insecure),
    ...(cors ? { cors } : {}),
    ...(f.token?.length ? { auth: { tokens: f.token } } : {}),
    ...(f.allowedOrigin?.length ? { allowedOrigins: f.allowedOrigin } : {}),
    ...(f.allowedHost?.length ? { allowedHosts: f.allowedHost } : {}),
    keepAliveMs: f.keepaliveMs,
    retryMs: f.retryMs,
    maxBodyBytes: f.maxBodyBytes,
    maxSessions: f.maxSessions,
    maxSessionsPerPrincipal: f.maxSessionsPerPrincipal,
    sessionIdleMs: f.sessionIdleMs,
    responseMode: f.responseMode,
    hibernateAfterMs: f.hibernateAfterMs,
    ...(f.redis ? { redis: { url: f.redis, prefix: f.redisPrefix, leaseMs: f.leaseMs } } : {}),
  };
}

/** Drains and exits 0 on SIGTERM/SIGINT; a second signal exits at once. */
export function exitOnSignals(close: () => Promise<void>, log: { info(msg: string): void }): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info(`${signal}: draining`);
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
