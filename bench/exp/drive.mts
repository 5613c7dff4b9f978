// exp: rpc load against a running server: node --import tsx bench/exp/drive.mts <port> <pid> <wire> [seconds]
import { runRpc } from '../scenarios/rpc.js';
const [port, pid, wire = 'mcp', secs = '5'] = process.argv.slice(2);
const server = { name: 'x', port: Number(port), pid: Number(pid), child: undefined as never, stderr: () => '', stop: async () => {} };
const target = { origin: `http://127.0.0.1:${port}`, ssePath: '/sse', mcpPath: '/mcp', localAddresses: ['127.0.0.1'] };
const r = await runRpc({ server, target, wire: wire as 'mcp' | 'sse' }, 16, 1, Number(secs));
console.log(JSON.stringify(r));
process.exit(0);
