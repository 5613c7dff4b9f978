// The server goes away for good while a request is under way on legacy SSE (a TCP proxy in front
// of mcpwire's server stops accepting): the request is answered with an error after
// `maxRequestRetries` failed attempts to reopen the stream, and a transport that gives up answers
// every request still waiting before it closes; the stdio bridge then ends, so no host waits for nothing.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SseClientTransport, StdioBridge, type McpWireServer } from '../../src/index.js';
import { startServer, waitFor } from '../helpers.js';
import { CuttingProxy } from './proxy.js';

let server: McpWireServer;
let proxy: CuttingProxy;
beforeEach(async () => {
  server = await startServer({ retryMs: 50, legacyReconnectGraceMs: 5_000 });
  proxy = await CuttingProxy.start(server.port);
});
afterEach(async () => {
  await proxy.close().catch(() => {});
  await server.close();
});

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'down', version: '1' } } } as const;
const SLOW_CALL = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: { ms: 5_000 } } } as const;
const underWay = () => waitFor(() => server.handler.sessions.pendingRequests >= 1, 5_000, 'the call to be under way on the server');

test('a request accepted before the server went down fails after maxRequestRetries, though the stream keeps trying', async () => {
  const t = new SseClientTransport(`${proxy.url}/sse`, { reconnect: { initialDelayMs: 20, maxDelayMs: 100, maxRequestRetries: 2 } });
  const client = new Client({ name: 'down', version: '1' });
  await client.connect(t);
  let closed = false;
  client.onclose = () => void (closed = true);
  let outcome: string | undefined;
  void client.callTool({ name: 'slow', arguments: { ms: 5_000 } }).then(
    () => (outcome = 'answered'),
    (e: Error) => (outcome = e.message),
  );
  try {
    await underWay();
    await proxy.close();
    await waitFor(() => outcome !== undefined, 10_000, 'the call to be answered');
    assert.match(outcome!, /-32000.*gave up waiting for the response/);
    assert.equal(closed, false, 'the stream still tries (maxRetries is unlimited)');
  } finally {
    await client.close();
  }
});

test('the answer to a request given up on, replayed once the stream is back, is not delivered a second time', async () => {
  const t = new SseClientTransport(`${proxy.url}/sse`, { reconnect: { initialDelayMs: 20, maxDelayMs: 100, maxRequestRetries: 2 } });
  const answers: Array<{ id: unknown; error?: boolean }> = [];
  t.onmessage = (m: JSONRPCMessage) => {
    const r = m as { id?: unknown; method?: string; error?: unknown };
    if (r.method === undefined) answers.push({ id: r.id, ...(r.error ? { error: true } : {}) });
  };
  await t.start();
  try {
    await t.send(INIT);
    await waitFor(() => answers.length === 1, 5_000, 'the initialize answer');
    t.setProtocolVersion('2025-11-25');
    await t.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await t.send({ ...SLOW_CALL, params: { name: 'slow', arguments: { ms: 1_500 } } });
    await underWay();
    proxy.refusing = true;
    proxy.cutAll();
    await waitFor(() => answers.some((a) => a.id === 2), 5_000, 'the call to be given up on');
    proxy.refusing = false;
    // The stream comes back to the same session, which replays what was missed: the call's result too.
    await waitFor(() => server.handler.sessions.pendingRequests === 0, 10_000, 'the call to end on the server');
    await t.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'back' } } });
    await waitFor(() => answers.some((a) => a.id === 3), 10_000, 'a call after the stream came back');
    assert.equal(t.stats.resumes >= 1, true, 'the same session was resumed');
    assert.deepEqual(answers.filter((a) => a.id === 2), [{ id: 2, error: true }]);
  } finally {
    await t.close();
  }
});

test('a transport that gives up answers every request still waiting, before it says it closed', async () => {
  const t = new SseClientTransport(`${proxy.url}/sse`, { reconnect: { initialDelayMs: 20, maxDelayMs: 100, maxRetries: 1 } });
  const events: string[] = [];
  t.onmessage = (m: JSONRPCMessage) => {
    const r = m as { id?: unknown; method?: string; error?: { code: number } };
    if (r.method === undefined) events.push(`answer ${String(r.id)}${r.error ? ` error ${r.error.code}` : ''}`);
  };
  t.onclose = () => void events.push('closed');
  await t.start();
  try {
    await t.send(INIT);
    await waitFor(() => events.includes('answer 1'), 5_000, 'the initialize answer');
    t.setProtocolVersion('2025-11-25');
    await t.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await t.send(SLOW_CALL);
    await underWay();
    await proxy.close();
    await waitFor(() => events.includes('closed'), 10_000, 'the transport to give up');
    assert.deepEqual(events, ['answer 1', 'answer 2 error -32000', 'closed']);
  } finally {
    await t.close();
  }
});

test('the stdio bridge: when its transport gives up, what waits is answered and run() returns', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  const lines: Array<{ id?: unknown; error?: { code: number } }> = [];
  let partial = '';
  output.on('data', (d: Buffer) => {
    partial += d.toString('utf8');
    let nl: number;
    while ((nl = partial.indexOf('\n')) !== -1) {
      lines.push(JSON.parse(partial.slice(0, nl)));
      partial = partial.slice(nl + 1);
    }
  });
  const bridge = new StdioBridge({ input, output });
  let returned = false;
  const running = bridge.run(new SseClientTransport(`${proxy.url}/sse`, { reconnect: { initialDelayMs: 20, maxDelayMs: 100, maxRetries: 1 } })).then(() => {
    returned = true;
  });
  input.write(JSON.stringify(INIT) + '\n');
  await waitFor(() => lines.some((l) => l.id === 1), 5_000, 'the initialize answer');
  input.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');
  input.write(JSON.stringify(SLOW_CALL) + '\n');
  await underWay();
  await proxy.close();
  try {
    await waitFor(() => returned, 10_000, 'run() to return');
    assert.equal(lines.filter((l) => l.id === 2).length, 1, 'one answer to the call');
    assert.equal(lines.find((l) => l.id === 2)!.error?.code, -32000);
    assert.equal(bridge.lost, true);
  } finally {
    input.end();
    await running;
  }
});
