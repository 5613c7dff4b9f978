// The flags every serving command shares (serve, gateway), and their translation into options.
import { type Command, Option } from 'commander';
import { isLoopback, type ServeOptions } from '../server.js';
import { RedisUnreachableError } from '../store/redis-port.js';
import { BEARER, bindAddress, hostName, list, ms, origin, refuse, whole } from './args.js';

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

/** A lease is renewed every max(50 ms, a third of it): a shorter one lapses between renewals. */
const LEASE_MIN_MS = 150;
/** How long the start waits for Redis to answer. */
const REDIS_START_TIMEOUT_MS = 5_000;

export function addServerFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('-p, --port <n>', 'port to listen on (0: a free one)').default(3000).argParser(whole(0, 65_535)).env('PORT'))
    .addOption(new Option('--host <addr>', 'address to bind (non-loopback needs --token or --insecure)').default('127.0.0.1').argParser(bindAddress).env('MCPWIRE_HOST'))
    .option('--cors <origins>', "allow these browser origins with CORS (scheme://host[:port], comma-separated, or '*')", list(origin))
    .addOption(new Option('--token <token>', 'require this bearer token (repeatable, or comma-separated); prefer MCPWIRE_TOKEN').argParser(list()).env('MCPWIRE_TOKEN'))
    .option('--allowed-origin <origins>', 'accept these Origin values besides the server’s own (comma-separated)', list(origin))
    .option('--allowed-host <hosts>', 'accept these Host names (default: loopback names when bound to loopback)', list(hostName))
    .addOption(new Option('--keepalive-ms <ms>', 'interval of keepalive comments on open streams (0: off)').default(15_000).argParser(ms()))
    .addOption(new Option('--retry-ms <ms>', 'the retry: hint sent on streams').default(1_000).argParser(ms()))
    .addOption(new Option('--max-body-bytes <n>', 'largest accepted request body').default(4 * 1024 * 1024).argParser(whole(1)))
    .addOption(new Option('--max-sessions <n>', 'sessions held at once; more get 503').default(10_000).argParser(whole(1)))
    .addOption(new Option('--max-sessions-per-principal <n>', 'sessions one token (principal) holds at once; more get 429').default(1_000).argParser(whole(1)))
    .addOption(new Option('--session-idle-ms <ms>', 'end a session idle this long (0: never)').default(30 * 60_000).argParser(ms()))
    .addOption(new Option('--response-mode <mode>', 'how Streamable HTTP answers requests').choices(['sse', 'json']).default('sse'))
    .addOption(new Option('--drain-ms <ms>', 'on SIGTERM/SIGINT/SIGHUP, let in-flight calls finish this long').default(10_000).argParser(ms()))
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info').env('MCPWIRE_LOG_LEVEL'))
    .option('--insecure', 'allow a non-loopback bind without a token')
    .addOption(new Option('--redis <url>', 'share sessions with other instances through this Redis (redis://…)').env('MCPWIRE_REDIS_URL'))
    .addOption(new Option('--redis-prefix <prefix>', 'prefix of every Redis key and channel').default('mcpw:'))
    .addOption(new Option('--lease-ms <ms>', "an instance's lease: its sessions move this long after it dies").default(3_000).argParser(ms(LEASE_MIN_MS)))
    .addOption(new Option('--hibernate-after-ms <ms>', "drop an idle session's server after this long, keeping the session (0: never)").default(0).argParser(ms()))
    .hook('preAction', checkServerFlags);
}

/** What commander cannot check without repeating a secret, or sees only in two flags together. */
function checkServerFlags(cmd: Command): void {
  const f = cmd.opts<ServerFlags>();
  if (f.token?.some((t) => !BEARER.test(t))) refuse(cmd, 'token', 'a bearer token is visible ASCII characters, no spaces (the value is not shown)');
  if (f.redis !== undefined && !/^rediss?:$/.test(URL.canParse(f.redis) ? new URL(f.redis).protocol : '')) {
    refuse(cmd, 'redis', 'give a redis:// or rediss:// URL (the value is not shown: it may hold a password)');
  }
  if (!isLoopback(f.host) && !f.token?.length && !f.insecure) refuse(cmd, 'host', `${f.host} is not a loopback address: give --token (or MCPWIRE_TOKEN), or --insecure`);
}

/** A failure to start (listen, reach Redis), said in terms of the flags. */
export function startError(err: unknown, f: ServerFlags): unknown {
  // The host only, as the error has it: the URL may hold a password.
  if (err instanceof RedisUnreachableError) return new Error(`--redis ${err.host}: Redis does not answer (${err.why})`);
  const { code, syscall } = err as NodeJS.ErrnoException;
  if (syscall !== 'listen' && syscall !== 'getaddrinfo') return err;
  if (code === 'EADDRINUSE') return new Error(`--port ${f.port}: the port is in use on ${f.host} (--port 0 takes a free one)`);
  if (code === 'EACCES') return new Error(`--port ${f.port}: permission denied (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new Error(`--host ${f.host}: not an address of this machine (${code})`);
  return err;
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
    ...(f.redis ? { redis: { url: f.redis, prefix: f.redisPrefix, leaseMs: f.leaseMs, startTimeoutMs: REDIS_START_TIMEOUT_MS } } : {}),
  };
}

/** Drains and exits 0 on SIGTERM, SIGINT or SIGHUP (its terminal gone); a second signal exits 1 at once. */
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
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => stop(signal));
}
