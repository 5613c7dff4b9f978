// The stdio bridge's bounds: a slow stdout pauses the reading of the server's streams (what waits
// in the output stays near its high-water mark), an over-long input line is refused and skipped,
// and no more than `maxInFlight` messages are sent at once.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { StdioBridge, StreamableHttpClientTransport, type McpWireServer } from '../../src/index.js';
import { startServer, waitFor } from '../helpers.js';

/** A stdout that takes writes only while its gate is open. */
class GatedOutput extends Writable {
  readonly lines: string[] = [];
  maxQueued = 0;
  private open = false;
  private held: Array<() => void> = [];
  private partial = '';

  constructor(highWaterMark: number) {
    super({ highWaterMark });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error) => void): void {
    this.maxQueued = Math.max(this.maxQueued, this.writableLength);
    this.partial += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) !== -1) {
      this.lines.push(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
    }
    if (this.open) done();
    else this.held.push(() => done());
  }

  block(): void {
    this.open = false;
  }

  release(): void {
    this.open = true;
    for (const h of this.held.splice(0)) h();
  }

  messages(): Array<{ id?: unknown; method?: string; params?: { data?: { seq?: number } }; error?: { code: number } }> {
    return this.lines.map((l) => JSON.parse(l));
  }
}

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'b', version: '1' } } };
const line = (m: object) => JSON.stringify(m) + '\n';

describe('stdio bridge', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  test('a blocked stdout stops the reading of the stream; nothing is lost once it drains', async (t) => {
    const input = new PassThrough();
    const output = new GatedOutput(16 * 1024);
    const bridge = new StdioBridge({ input, output });
    const transport = new StreamableHttpClientTransport(`${server.url}/mcp`, { backpressure: bridge.outputReady });
    const running = bridge.run(transport);
    input.write(line(INIT));
    output.release();
    await waitFor(() => output.lines.length === 1, 5_000, 'the initialize answer');
    // From now on stdout takes nothing until released.
    output.block();
    input.write(line({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    const n = 5_000; // ~120 bytes each: ~600 KB in all, forty times the high-water mark
    input.write(line({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'burst', arguments: { n } } }));
    const session = () => server.handler.sessions.sessions.get(transport.sessionId ?? '');
    await waitFor(() => (session()?.pendingRequests ?? 1) === 0, 20_000, 'the server to have sent everything');
    await new Promise((r) => setTimeout(r, 300)); // give an unbounded bridge the time to take it all in
    const queued = output.writableLength;
    assert.ok(queued < 16 * 1024 + 256 * 1024, `bytes waiting for stdout: ${queued}`);
    assert.ok(output.lines.length < n / 2, `lines taken while blocked: ${output.lines.length}`);
    t.diagnostic(`while stdout was blocked: ${queued} bytes waited in it (high-water mark 16 KiB; ${n} notifications, ~600 KB, were sent)`);
    output.release();
    await waitFor(() => output.lines.length >= n + 2, 20_000, 'every notification and the answer');
    const msgs = output.messages();
    const seqs = msgs.filter((m) => m.method === 'notifications/message').map((m) => m.params!.data!.seq);
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 1));
    assert.ok(msgs.some((m) => m.id === 2));
    input.end();
    await running;
  });

  test('an over-long line is refused and skipped, lines split across chunks are joined, the rest goes on', async () => {
    const input = new PassThrough();
    const output = new GatedOutput(1024 * 1024);
    output.release();
    const bridge = new StdioBridge({ input, output, maxLineBytes: 4096 });
    const running = bridge.run(new StreamableHttpClientTransport(`${server.url}/mcp`));
    const init = line(INIT);
    input.write(init.slice(0, 10));
    input.write(init.slice(10, 40));
    input.write(init.slice(40));
    await waitFor(() => output.lines.length === 1, 5_000, 'the initialize answer');
    input.write(line({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    input.write('x'.repeat(3000));
    input.write('y'.repeat(3000)); // 6000 bytes without a newline so far: refused
    input.write('z'.repeat(3000) + '\n');
    input.write(line({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'still here' } } }));
    await waitFor(() => output.messages().some((m) => m.id === 2), 5_000, 'the echo');
    const refusals = output.messages().filter((m) => m.id === null);
    assert.equal(refusals.length, 1);
    assert.equal(refusals[0]!.error!.code, -32600);
    assert.equal(bridge.refused, 1);
    input.end();
    await running;
  });
});

test('no more than maxInFlight messages are sent at once; input waits meanwhile', async () => {
  // A server that holds every POST until told to answer: shows how many the bridge has open at once.
  let open = 0;
  let maxOpen = 0;
  const held: Array<() => void> = [];
  const slow = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      const m = JSON.parse(body) as { id?: number };
      open++;
      maxOpen = Math.max(maxOpen, open);
      held.push(() => {
        open--;
        if (m.id === undefined) {
          res.writeHead(202).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json', 'Mcp-Session-Id': 's1' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: {} }));
      });
    });
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const input = new PassThrough();
  const output = new GatedOutput(1024 * 1024);
  output.release();
  const bridge = new StdioBridge({ input, output, maxInFlight: 3 });
  const running = bridge.run(new StreamableHttpClientTransport(`http://127.0.0.1:${(slow.address() as AddressInfo).port}/mcp`));
  for (let i = 1; i <= 10; i++) input.write(line({ jsonrpc: '2.0', id: i, method: 'ping' }));
  const releaser = setInterval(() => held.splice(0).forEach((h) => h()), 50);
  try {
    await waitFor(() => output.lines.length === 10, 10_000, 'ten answers');
    assert.equal(maxOpen, 3);
    input.end();
    await running;
  } finally {
    clearInterval(releaser);
  }
  slow.closeAllConnections();
  await new Promise<void>((r) => slow.close(() => r()));
});
