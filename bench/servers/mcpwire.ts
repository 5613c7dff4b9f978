// mcpwire under test: the library serving the bench server on /sse and /mcp, with its defaults
// except a session limit above the largest session count the bench opens. `--hibernate-after-ms`
// turns on hibernation (an idle session's SDK server is dropped and rebuilt on its next message);
// `--redis <url>` makes it one of several instances sharing sessions through that Redis. The
// `broadcast` tool uses the handler's broadcast, or with `--fanout sdk` each session's SDK server.
import { serve } from '../../src/index.js';
import { portArg, ready } from './args.js';
import { createBenchServer } from './bench-tools.js';

const flag = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const hibernateAfterMs = Number(flag('--hibernate-after-ms') ?? 0);
const redisUrl = flag('--redis');
const throughSdk = flag('--fanout') === 'sdk';
const server = await serve({
  port: portArg(),
  createServer: () => createBenchServer(throughSdk ? undefined : (n) => server.handler.broadcast(n)),
  maxSessions: 25_000,
  hibernateAfterMs,
  ...(redisUrl ? { redis: { url: redisUrl, prefix: flag('--redis-prefix') ?? 'mcpw:' } } : {}),
});
ready(server.port);
process.on('SIGTERM', () => process.exit(0));
