// mcpwire under test: the library serving the bench server on /sse and /mcp, with its defaults
// except a session limit above the largest session count the bench opens. `--hibernate-after-ms`
// turns on hibernation (an idle session's SDK server is dropped and rebuilt on its next message).
import { serve } from '../../src/index.js';
import { portArg, ready } from './args.js';
import { createBenchServer } from './bench-tools.js';

const at = process.argv.indexOf('--hibernate-after-ms');
const hibernateAfterMs = at === -1 ? 0 : Number(process.argv[at + 1]);
const server = await serve({ port: portArg(), createServer: createBenchServer, maxSessions: 25_000, hibernateAfterMs });
ready(server.port);
process.on('SIGTERM', () => process.exit(0));
