// Graceful drain for rolling deploys (SIGTERM on a real process), and SSE polling (2025-11-25).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { LoggingMessageNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { INIT, STREAMABLE_HEADERS, connectClient, rawSession, readEvents, startServer, waitFor } from '../helpers.js';

async function spawnServer(drainMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/fanout-server.ts'], {
    env: { ...process.env, DRAIN_MS: String(drainMs) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, base, exited };
}

const slowCall = (base: string, id: string, ms: number) =>
  fetch(`${base}/mcp`, {
    method: 'POST',
    headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id },
    body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'slow', arguments: { ms } } }),
  });

test('SIGTERM drains: new sessions get 503, in-flight calls finish, streams get retry:, exit 0', async () => {
  const { child, base, exited } = await spawnServer(5_000);
  const id = await rawSession(base);
  const get = await fetch(`${base}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': id } });
  const getText = get.text();
  const call = slowCall(base, id, 1_000).then((r) => readEvents(r, (e) => e.data.includes('"result"')));
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  child.kill('SIGTERM');
  let refused: Response | undefined;
  for (let i = 0; i < 50 && !refused; i++) {
    const r = await fetch(`${base}/mcp`, { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify(INIT) });
    if (r.status === 503) refused = r;
    else await r.text();
  }
  assert.ok(refused, 'a new session is refused while draining');
  assert.ok(refused.headers.get('retry-after'));
  assert.equal(((await refused.json()) as { error: { code: number } }).error.code, -32000);
  const health = await fetch(`${base}/health`);
  assert.equal(health.status, 503);
  assert.equal(((await health.json()) as { status: string }).status, 'draining');
  const events = await call;
  assert.deepEqual(JSON.parse(events.at(-1)!.data).result, { content: [{ type: 'text', text: 'slept 1000' }] });
  assert.match(await getText, /retry: 1000\n\n$/, 'the GET stream ends with a retry hint');
  assert.equal(await exited, 0);
  const drainMs = Date.now() - started;
  console.log(`drain: exited 0 after ${drainMs} ms with a 1,000 ms call in flight`);
  assert.ok(drainMs < 5_000, 'it did not wait for the whole drain budget');
});

test('the drain budget bounds the wait: a call longer than drainMs does not hold the exit', async () => {
  const { child, base, exited } = await spawnServer(300);
  const id = await rawSession(base);
  const call = slowCall(base, id, 30_000).then((r) => r.text()).catch(() => 'cut');
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.ok(Date.now() - started < 5_000);
  await call;
});

test('SSE polling: connections are ended after ssePollMs and the SDK client resumes; nothing lost', async () => {
  const server = await startServer({ ssePollMs: 200, retryMs: 20 });
  try {
    const client = await connectClient(server.url, 'mcp');
    const ticks: number[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void ticks.push((n.params.data as { tick: number }).tick));
    const slow = await client.callTool({ name: 'slow', arguments: { ms: 900 } });
    assert.deepEqual(slow.content, [{ type: 'text', text: 'slept 900' }], 'the result came after the POST stream was ended and resumed');
    await client.callTool({ name: 'tick', arguments: { n: 40, delayMs: 20 } });
    await waitFor(() => ticks.length >= 40, 10_000, 'every tick');
    assert.deepEqual(ticks, Array.from({ length: 40 }, (_, i) => i + 1));
    assert.ok(server.handler.stats.replays >= 3, `streams were resumed (${server.handler.stats.replays} resumes)`);
    await client.close();
  } finally {
    await server.close();
  }
});

test('a tool ends the GET stream\'s connection (closeStandaloneSSEStream): the SDK client reopens it and hears what comes next', async () => {
  const server = await startServer({ retryMs: 20 });
  try {
    const client = await connectClient(server.url, 'mcp');
    let changes = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
    const session = [...server.handler.sessions.sessions.values()][0]!;
    await waitFor(() => session.attachedStreams === 1, 5_000, 'the client to open its GET stream');
    const r = await client.callTool({ name: 'close_get_stream', arguments: {} });
    assert.deepEqual(r.content, [{ type: 'text', text: 'closed' }]);
    await waitFor(() => server.handler.stats.replays === 1, 5_000, 'the client to reopen its GET stream with Last-Event-ID');
    await client.callTool({ name: 'test_trigger_tool_change', arguments: {} });
    await waitFor(() => changes === 1, 5_000, 'the list change on the reopened GET stream');
    await client.close();
  } finally {
    await server.close();
  }
});
