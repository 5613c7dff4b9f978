// Shared test plumbing: a server on a free loopback port, SDK clients for both wire formats, raw HTTP.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, type ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { serve, type McpWireServer, type ServeOptions } from '../src/index.js';
import { createEverythingServer } from './fixtures/everything.js';

export async function startServer(options: Partial<ServeOptions> = {}): Promise<McpWireServer> {
  return serve({ port: 0, createServer: () => createEverythingServer(), ...options });
}

export type WireName = 'sse' | 'mcp';

export async function connectClient(
  baseUrl: string,
  wire: WireName,
  capabilities: ClientCapabilities = {},
  headers?: Record<string, string>,
): Promise<Client> {
  const client = new Client({ name: 'mcpwire-test', version: '1.0.0' }, { capabilities });
  const requestInit = headers ? { headers } : undefined;
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const transport =
    wire === 'sse'
      ? new SSEClientTransport(new URL('sse', base), { requestInit, eventSourceInit: headers ? { fetch: (u, i) => fetch(u, { ...i, headers: { ...(i?.headers as Record<string, string>), ...headers } }) } : undefined })
      : new StreamableHTTPClientTransport(new URL('mcp', base), { requestInit });
  await client.connect(transport);
  return client;
}

/** An SDK client that declares sampling and elicitation and answers both (echoing the sampled text, accepting as "ada"). */
export async function connectAnsweringClient(baseUrl: string, wire: WireName): Promise<Client> {
  const client = await connectClient(baseUrl, wire, { sampling: {}, elicitation: {} });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    role: 'assistant',
    model: 'test-model',
    content: { type: 'text', text: `echo of ${(req.params.messages[0]!.content as { text: string }).text}` },
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { username: 'ada' } }));
  return client;
}

export const INIT = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
} as const;

export const STREAMABLE_HEADERS = {
  'Content-Type': 'application/json',
  Accept: 'application/json, text/event-stream',
};

/** Initializes a Streamable HTTP session with raw HTTP; returns its id. */
export async function rawSession(baseUrl: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(new URL('/mcp', baseUrl), { method: 'POST', headers: { ...STREAMABLE_HEADERS, ...headers }, body: JSON.stringify(INIT) });
  if (res.status !== 200) throw new Error(`initialize: ${res.status}`);
  await res.text();
  const id = res.headers.get('mcp-session-id');
  if (!id) throw new Error('no session id');
  const done = await fetch(new URL('/mcp', baseUrl), {
    method: 'POST',
    headers: { ...STREAMABLE_HEADERS, ...headers, 'Mcp-Session-Id': id },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  if (done.status !== 202) throw new Error(`initialized: ${done.status}`);
  return id;
}

/** Reads SSE events from a fetch response until `until` returns true or the stream ends. */
export async function readEvents(
  res: Response,
  until: (e: EventSourceMessage, all: EventSourceMessage[]) => boolean,
  timeoutMs = 10_000,
): Promise<EventSourceMessage[]> {
  const events: EventSourceMessage[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let done = false;
  const parser = createParser({
    onEvent: (e) => {
      events.push(e);
      if (!done && until(e, events)) done = true;
    },
  });
  const timer = setTimeout(() => void reader.cancel().catch(() => {}), timeoutMs);
  try {
    while (!done) {
      const r = await reader.read();
      if (r.done) break;
      parser.feed(decoder.decode(r.value, { stream: true }));
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
  return events;
}

/** Every event of a response stream that must end by itself within `timeoutMs` (fails if it does not). */
export async function readToEnd(res: Response, timeoutMs = 5_000): Promise<EventSourceMessage[]> {
  const started = Date.now();
  const events = await readEvents(res, () => false, timeoutMs);
  if (Date.now() - started >= timeoutMs) throw new Error(`the stream was still open after ${timeoutMs} ms`);
  return events;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `predicate` until true or the time is up. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
