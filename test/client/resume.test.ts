// Faults on the wire, through a TCP proxy that cuts or freezes connections mid-stream: every
// stream resumes with Last-Event-ID, and every numbered notification arrives once, in order, on
// both wire formats. Streams silent past the watchdog are reopened; a cursor that fell off the
// server's log is handled as the server says (410).
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  SseClientTransport,
  StreamableHttpClientTransport,
  type ClientTransportOptions,
  type McpWireServer,
  type ServeOptions,
  type TransportStats,
} from '../../src/index.js';
import { startServer, waitFor } from '../helpers.js';
import { CuttingProxy } from './proxy.js';
import { startSdkServer } from './sdk-server.js';

type Wire = 'streamable' | 'sse';
const FAST_RECONNECT = { initialDelayMs: 20, maxDelayMs: 200 };

interface Rig {
  server: McpWireServer;
  proxy: CuttingProxy;
  close(): Promise<void>;
}

async function rig(options: Partial<ServeOptions> = {}): Promise<Rig> {
  const server = await startServer({ retryMs: 50, ...options });
  const proxy = await CuttingProxy.start(server.port);
  return {
    server,
    proxy,
    async close() {
      await proxy.close();
      await server.close();
    },
  };
}

function transport(wire: Wire, base: string, options: ClientTransportOptions = {}): Transport & { stats: TransportStats } {
  const o = { reconnect: FAST_RECONNECT, ...options };
  return wire === 'sse' ? new SseClientTransport(`${base}/sse`, o) : new StreamableHttpClientTransport(`${base}/mcp`, o);
}

/** A connected client that collects the numbers of `burst` (seq) and `tick` (tick) notifications. */
async function numberedClient(t: Transport): Promise<{ client: Client; seen: { seq: number[]; tick: number[] }; errors: Error[] }> {
  const client = new Client({ name: 'resume-test', version: '1.0.0' });
  const seen = { seq: [] as number[], tick: [] as number[] };
  const errors: Error[] = [];
  await client.connect(t);
  client.onerror = (e) => void errors.push(e);
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    const d = n.params.data as { seq?: number; tick?: number };
    if (d.seq !== undefined) seen.seq.push(d.seq);
    if (d.tick !== undefined) seen.tick.push(d.tick);
  });
  return { client, seen, errors };
}

const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** The server holds the GET stream of this transport's session (no POST stream is open then). */
function getStreamAttached(server: McpWireServer, tr: StreamableHttpClientTransport): boolean {
  return (server.handler.sessions.sessions.get(tr.sessionId ?? '')?.attachedStreams ?? 0) >= 1;
}

/** Calls `tool` sending n numbered notifications and cuts every connection when each mark is reached. */
async function callWithCuts(
  t: TestContext,
  r: Rig,
  wire: Wire,
  tool: 'burst' | 'tick',
  marks: number[],
): Promise<{ stats: TransportStats; cuts: number; replayed: number }> {
  const n = 300;
  const tr = transport(wire, r.proxy.url);
  const { client, seen } = await numberedClient(tr);
  if (tr instanceof StreamableHttpClientTransport && tool === 'tick') {
    await waitFor(() => getStreamAttached(r.server, tr), 5_000, 'the GET stream');
  }
  const list = tool === 'burst' ? seen.seq : seen.tick;
  const replayedBefore = r.server.handler.stats.eventsReplayed;
  let cuts = 0;
  const pending = [...marks];
  const gaps: number[] = [];
  let cutAt: { time: number; count: number } | undefined;
  const cutter = setInterval(() => {
    if (cutAt && list.length > cutAt.count) {
      gaps.push(performance.now() - cutAt.time);
      cutAt = undefined;
    }
    if (!cutAt && pending.length > 0 && list.length >= pending[0]!) {
      pending.shift();
      cutAt = { time: performance.now(), count: list.length };
      cuts += r.proxy.cutAll();
    }
  }, 1);
  try {
    const result = await client.callTool({ name: tool, arguments: { n, delayMs: 2 } });
    assert.deepEqual(result.content, [{ type: 'text', text: tool === 'burst' ? `sent ${n}` : `ticked ${n}` }]);
    await waitFor(() => list.length >= n, 10_000, `${n} notifications`);
  } finally {
    clearInterval(cutter);
  }
  assert.equal(pending.length, 0, 'every cut happened');
  assert.deepEqual(list, oneToN(n), 'each notification exactly once, in order');
  const stats = { ...tr.stats };
  const replayed = r.server.handler.stats.eventsReplayed - replayedBefore;
  t.diagnostic(
    `${wire}/${tool}: ${marks.length} cuts (${cuts} connections) → ${stats.resumes} resumes, ${replayed} events replayed by the server, ` +
      `${stats.streamsLost} streams lost; from a cut to the next notification: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`,
  );
  await client.close();
  return { stats, cuts, replayed };
}

describe('connections cut mid-stream', () => {
  let r: Rig;
  before(async () => {
    r = await rig();
  });
  after(async () => {
    await r.close();
  });

  test('Streamable HTTP, a POST stream (burst): resumed with Last-Event-ID, nothing lost or doubled', async (t) => {
    const { stats } = await callWithCuts(t, r, 'streamable', 'burst', [40, 120, 230]);
    assert.ok(stats.resumes >= 3, `resumes: ${stats.resumes}`);
  });

  test('Streamable HTTP, the GET stream (tick): resumed with Last-Event-ID, nothing lost or doubled', async (t) => {
    const { stats } = await callWithCuts(t, r, 'streamable', 'tick', [40, 120, 230]);
    assert.ok(stats.resumes >= 3, `resumes: ${stats.resumes}`);
  });

  test('legacy SSE (burst): the same session comes back and replays what was missed', async (t) => {
    const sessionsBefore = r.server.handler.stats.sessionsCreated;
    const { stats } = await callWithCuts(t, r, 'sse', 'burst', [40, 120, 230]);
    assert.ok(stats.resumes >= 3, `resumes: ${stats.resumes}`);
    assert.equal(stats.reinitializations, 0);
    assert.equal(r.server.handler.stats.sessionsCreated - sessionsBefore, 1, 'one session all along');
  });

  test('legacy SSE (tick): the same', async (t) => {
    const { stats } = await callWithCuts(t, r, 'sse', 'tick', [40, 120, 230]);
    assert.ok(stats.resumes >= 3, `resumes: ${stats.resumes}`);
  });
});

describe('the watchdog', () => {
  let r: Rig;
  before(async () => {
    r = await rig({ keepAliveMs: 100 });
  });
  after(async () => {
    await r.close();
  });

  for (const wire of ['streamable', 'sse'] as Wire[]) {
    test(`${wire}: a stream frozen without a close is reopened, and resumes where it stopped`, async (t) => {
      const tr = transport(wire, r.proxy.url, { idleTimeoutMs: 1_000 });
      const { client, seen } = await numberedClient(tr);
      let frozen = 0;
      const freezer = setInterval(() => {
        if (frozen === 0 && seen.seq.length >= 30) frozen = r.proxy.freezeStreams();
      }, 1);
      try {
        await client.callTool({ name: 'burst', arguments: { n: 100, delayMs: 10 } });
      } finally {
        clearInterval(freezer);
      }
      await waitFor(() => seen.seq.length >= 100, 5_000, '100 notifications');
      assert.ok(frozen > 0);
      assert.deepEqual(seen.seq, oneToN(100));
      assert.ok(tr.stats.watchdogTrips >= 1, `watchdog trips: ${tr.stats.watchdogTrips}`);
      t.diagnostic(`${wire}: ${tr.stats.watchdogTrips} watchdog trips, ${tr.stats.resumes} resumes`);
      await client.close();
    });

    test(`${wire}: a quiet stream with keepalives is left alone`, async () => {
      // Keepalives every 100 ms against a 1 s watchdog: only a stall of the whole process could trip it.
      const tr = transport(wire, r.proxy.url, { idleTimeoutMs: 1_000 });
      const { client } = await numberedClient(tr);
      await client.callTool({ name: 'slow', arguments: { ms: 2_500 } });
      assert.equal(tr.stats.watchdogTrips, 0);
      assert.equal(tr.stats.streamsLost, 0);
      await client.close();
    });
  }
});

describe('a cursor that fell off the server’s log (410)', () => {
  let r: Rig;
  before(async () => {
    r = await rig({ eventLogMaxEvents: 10, keepAliveMs: 100 });
  });
  after(async () => {
    await r.close();
  });

  test('a POST stream: the request fails clearly, and the next one works', async () => {
    // The watchdog waits longer than the burst takes, so the log has overflowed when the client resumes.
    const tr = transport('streamable', r.proxy.url, { idleTimeoutMs: 3_000 });
    const { client, seen } = await numberedClient(tr);
    let frozen = 0;
    const freezer = setInterval(() => {
      if (frozen === 0 && seen.seq.length >= 5) frozen = r.proxy.freezeStreams();
    }, 1);
    try {
      await assert.rejects(client.callTool({ name: 'burst', arguments: { n: 60, delayMs: 2 } }), /gone from the server's log/);
    } finally {
      clearInterval(freezer);
    }
    const ok = await client.callTool({ name: 'echo', arguments: { text: 'after' } });
    assert.deepEqual(ok.content, [{ type: 'text', text: 'after' }]);
    await client.close();
  });

  test('the GET stream: reopened without Last-Event-ID, the loss reported, later messages arrive', async () => {
    const tr = transport('streamable', r.proxy.url, { idleTimeoutMs: 1_500 });
    const { client, seen } = await numberedClient(tr);
    const reported: Error[] = [];
    const onerror = client.onerror;
    client.onerror = (e) => {
      reported.push(e);
      onerror?.(e);
    };
    await waitFor(() => getStreamAttached(r.server, tr as StreamableHttpClientTransport), 5_000, 'the GET stream');
    // Freeze the GET stream, then let the server tick 50 times into it.
    assert.ok(r.proxy.freezeStreams() >= 1);
    await client.callTool({ name: 'tick', arguments: { n: 50 } });
    await waitFor(() => reported.some((e) => /were lost/.test(e.message)), 5_000, 'the loss to be reported');
    const before = seen.tick.length;
    await waitFor(() => tr.stats.watchdogTrips >= 1 && getStreamAttached(r.server, tr as StreamableHttpClientTransport), 5_000, 'a reopened GET stream');
    await client.callTool({ name: 'tick', arguments: { n: 3 } });
    await waitFor(() => seen.tick.length >= before + 3, 5_000, 'ticks after the loss');
    assert.deepEqual(seen.tick.slice(before), [1, 2, 3]);
    await client.close();
  });
});

test('against the SDK’s own StreamableHTTPServerTransport (with its example event store): a POST stream resumes across cuts', async (t) => {
  const sdk = await startSdkServer({ eventStore: true });
  const proxy = await CuttingProxy.start(sdk.port);
  try {
    const tr = transport('streamable', proxy.url);
    const { client, seen } = await numberedClient(tr);
    const marks = [40, 120];
    const cutter = setInterval(() => {
      if (marks.length > 0 && seen.seq.length >= marks[0]!) {
        marks.shift();
        proxy.cutAll();
      }
    }, 1);
    try {
      await client.callTool({ name: 'burst', arguments: { n: 200, delayMs: 2 } });
    } finally {
      clearInterval(cutter);
    }
    await waitFor(() => seen.seq.length >= 200, 5_000, '200 notifications');
    assert.equal(marks.length, 0);
    assert.deepEqual(seen.seq, oneToN(200));
    const resumed = sdk.requests.filter((x) => x.line === 'GET /mcp' && x.lastEventId !== undefined);
    assert.ok(resumed.length >= 2, 'resumed with Last-Event-ID');
    t.diagnostic(`SDK server: 2 cuts → ${tr.stats.resumes} resumes with Last-Event-ID`);
    await client.close();
  } finally {
    await proxy.close();
    await sdk.close();
  }
});
