// The stdio MCP server both gateways front: the bench server over the SDK's stdio transport.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createBenchServer } from './bench-tools.js';

await createBenchServer().connect(new StdioServerTransport());
