// The SDK server each session of `mcpwire serve` gets: the folder's resources and the tools, with the
// session's log level applied to the log messages the tools send.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  LoggingLevelSchema,
  McpError,
  SetLevelRequestSchema,
  type CallToolResult,
  type LoggingLevel,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { lazyJsonSchemaValidator } from '../backend/lazy-validator.js';
import { VERSION } from '../http/health.js';
import { installResources, type ResourceDeps } from './resources.js';
import { ToolInputError, type Tool } from './tool.js';

const LEVELS = LoggingLevelSchema.options;

const INSTRUCTIONS =
  'Every file of the served folder is a resource at file:///<path relative to the folder>. Subscribe to one ' +
  '(resources/subscribe) to get notifications/resources/updated when it changes; notifications/resources/list_changed ' +
  'says files came or went. system://stats is updated to its subscribers periodically. Tools: search, stats.';

export function createSessionServer(deps: ResourceDeps & { tools: Tool[]; log: Logger }): Server {
  const server = new Server(
    { name: 'mcpwire-serve', version: VERSION },
    {
      capabilities: { resources: { subscribe: true, listChanged: true }, tools: {}, logging: {} },
      instructions: INSTRUCTIONS,
      jsonSchemaValidator: lazyJsonSchemaValidator(),
    },
  );
  installResources(server, deps);

  let minLevel: LoggingLevel | undefined;
  server.setRequestHandler(SetLevelRequestSchema, async (req) => {
    minLevel = req.params.level;
    return {};
  });

  const tools = new Map(deps.tools.map((t) => [t.name, t]));
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: deps.tools.map(({ name, title, description, inputSchema, annotations }) => ({ name, title, description, inputSchema, annotations })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const tool = tools.get(req.params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, 'Invalid params: no tool of that name');
    const args = req.params.arguments ?? {};
    const log = async (level: LoggingLevel, data: unknown) => {
      if (minLevel !== undefined && LEVELS.indexOf(level) < LEVELS.indexOf(minLevel)) return;
      await extra.sendNotification({ method: 'notifications/message', params: { level, logger: tool.name, data } });
    };
    try {
      const unknown = Object.keys(args).filter((k) => !Object.hasOwn(tool.inputSchema.properties, k));
      if (unknown.length > 0) throw new ToolInputError(`unknown argument (expected: ${Object.keys(tool.inputSchema.properties).join(', ')})`);
      return await tool.call({ args, extra, log });
    } catch (err) {
      if (err instanceof ToolInputError) return { content: [{ type: 'text', text: `Invalid arguments: ${err.message}` }], isError: true };
      if (err instanceof McpError) throw err;
      // File-system errors name absolute paths: keep them in the server log, give the client the code only.
      deps.log.warn({ err, tool: tool.name }, 'tool failed');
      const code = (err as NodeJS.ErrnoException).code;
      return { content: [{ type: 'text', text: `The tool failed${code ? ` (${code})` : ''}` }], isError: true };
    }
  });
  return server;
}
