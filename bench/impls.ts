// The implementations under test and how each is started: every one is plain `node` on compiled
// JavaScript (bench/.build, from `tsc -p bench/tsconfig.json`), pinned to the server core.
import { resolve } from 'node:path';
import type { WireName } from './load/session.js';
import type { ServerSpec } from './proc.js';

export const ROOT = resolve(import.meta.dirname, '..');
const BUILD = resolve(ROOT, 'bench/.build');
const server = (name: string) => resolve(BUILD, `bench/servers/${name}.js`);
const STDIO_ECHO = `${process.execPath} ${server('stdio-echo')}`;
export const SUPERGATEWAY = resolve(ROOT, 'bench/tools/node_modules/supergateway/dist/index.js');

export interface Impl {
  id: string;
  /** How it is named in tables and the chart. */
  label: string;
  wires: WireName[];
  ssePath: string;
  mcpPath: string;
  spec: ServerSpec;
}

const benchServer = (id: string, label: string, wires: WireName[], script = id, extra: string[] = []): Impl => ({
  id,
  label,
  wires,
  ssePath: '/sse',
  mcpPath: '/mcp',
  spec: { name: id, args: [server(script), '--port', '{port}', ...extra], cwd: ROOT, ready: 'stdout' },
});

/** The library scenarios (rpc, sessions, fanout): the same bench server behind each. */
export const SERVERS: Impl[] = [
  benchServer('mcpwire', 'mcpwire', ['sse', 'mcp']),
  benchServer('sdk-sse', 'SDK 1.32 SSEServerTransport', ['sse']),
  benchServer('sdk-streamable', 'SDK 1.32 StreamableHTTPServerTransport', ['mcp']),
  benchServer('stub', 'raw node:http stub', ['sse', 'mcp']),
];

/** Sessions only: mcpwire with hibernation on (idle sessions' SDK servers dropped after 1 s). */
export const HIBERNATING = benchServer('mcpwire-hibernate', 'mcpwire, hibernateAfterMs 1000', ['sse', 'mcp'], 'mcpwire', ['--hibernate-after-ms', '1000']);

/** Scaling only: mcpwire as one of several instances sharing sessions through a Redis. */
export const clustered = (redisUrl: string, prefix: string): Impl =>
  benchServer('mcpwire-redis', 'mcpwire --redis', ['mcp'], 'mcpwire', ['--redis', redisUrl, '--redis-prefix', prefix]);

/** Fanout only: mcpwire notifying through each session's SDK server, as the SDK's transports must. */
export const SDK_NOTIFY = benchServer('mcpwire-sdk-notify', 'mcpwire, notification() of each session\'s SDK server', ['sse', 'mcp'], 'mcpwire', ['--fanout', 'sdk']);

/** Diagnostic, rpc only: mcpwire's engine with canned replies, no SDK server behind the session. */
export const CANNED = benchServer('mcpwire-canned', 'mcpwire engine, canned replies (no SDK server)', ['sse', 'mcp']);

const mcpwireGateway = (shared: boolean): Impl => ({
  id: shared ? 'mcpwire-gateway-shared' : 'mcpwire-gateway',
  label: shared ? 'mcpwire gateway --shared' : 'mcpwire gateway',
  wires: ['sse', 'mcp'],
  ssePath: '/sse',
  mcpPath: '/mcp',
  spec: {
    name: shared ? 'mcpwire gateway --shared' : 'mcpwire gateway',
    args: [
      resolve(BUILD, 'src/cli/main.js'),
      'gateway',
      '--port',
      '{port}',
      '--log-level',
      'warn',
      '--max-children',
      '200',
      ...(shared ? ['--shared'] : []),
      '--',
      process.execPath,
      server('stdio-echo'),
    ],
    cwd: ROOT,
    ready: 'probe',
  },
});

/** The gateway scenario: the same stdio echo server behind each gateway. */
export const GATEWAYS: Impl[] = [
  mcpwireGateway(false),
  mcpwireGateway(true),
  {
    id: 'supergateway',
    label: 'supergateway 4.0.0',
    wires: ['sse'],
    ssePath: '/sse',
    mcpPath: '/mcp',
    spec: {
      name: 'supergateway',
      args: [SUPERGATEWAY, '--stdio', STDIO_ECHO, '--port', '{port}', '--logLevel', 'none'],
      cwd: ROOT,
      ready: 'probe',
    },
  },
];
