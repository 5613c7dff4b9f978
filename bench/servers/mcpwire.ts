// mcpwire under test: the library serving the bench server on /sse and /mcp, with its defaults
// except a session limit above the largest session count the bench opens.
import { serve } from '../../src/index.js';
import { createBenchServer, portArg, ready } from './bench-tools.js';

const server = await serve({ port: portArg(), createServer: createBenchServer, maxSessions: 25_000 });
ready(server.port);
process.on('SIGTERM', () => process.exit(0));
