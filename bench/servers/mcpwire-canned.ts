// Diagnostic: mcpwire's engine with the stub's canned replies behind each session instead of an SDK
// server. Between the stub and mcpwire, it splits mcpwire's cost into its own and the SDK server's.
import type { BackendFactory } from '../../src/backend/types.js';
import { serve } from '../../src/index.js';
import { portArg, ready } from './args.js';

interface Request {
  id?: string | number;
  method?: string;
  params?: { arguments?: { text?: string } };
}

const canned: BackendFactory = (host) => ({
  receive(message) {
    const m = message as Request;
    if (m.id === undefined || m.method === undefined) return;
    let result: Record<string, unknown> = {};
    if (m.method === 'initialize') {
      result = { protocolVersion: '2025-06-18', capabilities: { tools: {}, logging: {} }, serverInfo: { name: 'canned', version: '1.0.0' } };
    } else if (m.method === 'tools/call') {
      result = { content: [{ type: 'text', text: m.params?.arguments?.text ?? '' }] };
    }
    void host.send({ jsonrpc: '2.0', id: m.id, result });
  },
  close() {},
});

const server = await serve({ port: portArg(), backend: canned, maxSessions: 25_000 });
ready(server.port);
process.on('SIGTERM', () => process.exit(0));
