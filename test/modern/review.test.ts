// Review of the 2026-07-28 server path: each test is a bug a client could meet (a crash, a wrong
// status, a bound that did not hold, a check that could be skipped), reproduced over real HTTP.
import assert from 'node:assert/strict';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, test } from 'node:test';
import { statelessOf } from '../../src/wire/stateless.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { processesMarked, startGateway, TINY } from '../gateway/fixtures/gateway.js';
import { sleep, startServer, waitFor } from '../helpers.js';
import { isAck, ListenReader, META, modern, openListen, subscriptionIdOf } from './helpers.js';

/** A JSON array nested `depth` levels deep, as text (deeper than any recursive walk survives). */
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

const ELICITING = { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };

/** The everything server, built only after `ms` (an async createServer, as a gateway child's start is). */
const slowEverything = (ms: number) => async () => {
  await sleep(ms);
  return createEverythingServer();
};

describe('deeply nested input', () => {
  test('arguments nested deeper than the call stack are served (no 500 without an id)', async () => {
    const s = await startServer();
    try {
      const body = `{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"echo","arguments":{"text":"still here","deep":${deepArray(20_000)}},"_meta":${JSON.stringify(META)}}}`;
      const r = await modern(s.url, 'tools/call', { name: 'echo' }, { body });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body!.id, 'deep');
      assert.deepEqual(r.body!.result!.content, [{ type: 'text', text: 'still here' }]);
    } finally {
      await s.close();
    }
  });

  test('inputResponses nested too deeply are -32602 (they crashed the process when requestState was signed)', async () => {
    const s = await startServer();
    try {
      const body = `{"jsonrpc":"2.0","id":"ir","method":"tools/call","params":{"name":"test_elicitation","arguments":{"message":"hi"},"inputResponses":{"junk":{"x":${deepArray(20_000)}}},"_meta":${JSON.stringify(ELICITING)}}}`;
      const r = await modern(s.url, 'tools/call', { name: 'test_elicitation' }, { body });
      assert.equal(r.status, 200);
      assert.equal(r.body!.id, 'ir');
      assert.equal(r.body!.error!.code, -32602);
      assert.doesNotMatch(JSON.stringify(r.body), /junk/, 'the input is not echoed');
      // The process is still there, and a reasonable answer still goes through the same tool.
      const ok = await modern(s.url, 'tools/call', { name: 'test_elicitation', arguments: { message: 'hi' }, inputResponses: { other: { nested: [[[{ a: 1 }]]] } } }, { meta: ELICITING });
      assert.equal(ok.body!.result!.resultType, 'input_required');
    } finally {
      await s.close();
    }
  });
});

describe('answers that must carry the request id', () => {
  test('gateway: a request its child cannot be sent (nested too deep to serialize) is answered with its id, and the gateway goes on', async () => {
    const gw = await startGateway({ ...TINY });
    try {
      const body = `{"jsonrpc":"2.0","id":"deep-gw","method":"tools/call","params":{"name":"echo","arguments":{"text":"x","deep":${deepArray(20_000)}},"_meta":${JSON.stringify(META)}}}`;
      const r = await modern(gw.url, 'tools/call', { name: 'echo' }, { body });
      assert.equal(r.body!.id, 'deep-gw', JSON.stringify(r.body));
      if (r.body!.error) assert.equal(r.body!.error.code, -32603);
      const next = await modern(gw.url, 'tools/call', { name: 'echo', arguments: { text: 'next' } });
      assert.deepEqual(next.body!.result!.content, [{ type: 'text', text: 'next' }]);
    } finally {
      await gw.close();
    }
  });

  test('a request or listen whose server is still starting when the server shuts down gets 503 + Retry-After, not 500', async () => {
    const s = await startServer({ createServer: slowEverything(300) });
    try {
      const request = modern(s.url, 'tools/list', {}, { id: 'starting' });
      const listen = openListen(s.url, 'starting-listen', { toolsListChanged: true });
      await waitFor(() => statelessOf(s.handler.sessions)!.inFlight === 2, 5_000, 'both to be starting');
      const closing = s.handler.close({ drainMs: 0 });
      const r = await request;
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body!.id, 'starting');
      assert.equal(r.body!.error!.code, -32000);
      assert.ok(r.headers.get('retry-after'));
      const l = await listen;
      assert.equal(l.status, 503);
      assert.equal(((await l.json()) as { id: string }).id, 'starting-listen');
      await closing;
    } finally {
      await s.close();
    }
  });

  test('a tools/call cut by shutdown while its tools are being listed is answered with its id', async () => {
    let listing = false;
    const s = await startServer({
      createServer: () =>
        holdingToolsList(async () => {
          listing = true;
          await sleep(1_000);
        }),
    });
    try {
      // With a log level: the level is set on the server before the call, which a closed run has not.
      const call = modern(s.url, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, { id: 'cut', meta: { ...META, 'io.modelcontextprotocol/logLevel': 'info' } });
      await waitFor(() => listing, 5_000, 'the tools/list to start');
      const closing = s.handler.close({ drainMs: 0 });
      const r = await call;
      assert.equal(r.body!.id, 'cut', JSON.stringify(r.body));
      assert.match(r.body!.error!.message, /shutting down/);
      await closing;
    } finally {
      await s.close();
    }
  });
});

describe('listen bounds under concurrency', () => {
  test('maxListenStreams holds when listens arrive together and their servers start slowly', async () => {
    const s = await startServer({ maxListenStreams: 2, createServer: slowEverything(100) });
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => openListen(s.url, `c${i}`, { toolsListChanged: true })));
      const statuses = answers.map((r) => r.status);
      assert.deepEqual(statuses.filter((x) => x === 200).length, 2, `statuses: ${statuses}`);
      assert.deepEqual(statuses.filter((x) => x === 503).length, 6, `statuses: ${statuses}`);
      assert.equal(statelessOf(s.handler.sessions)!.listens.size, 2);
      for (const r of answers) await r.body?.cancel();
      await waitFor(() => statelessOf(s.handler.sessions)!.listens.size === 0, 5_000, 'the listens to close');
      // Every place taken while a listen was being opened was given back.
      const again = await Promise.all([0, 1].map((i) => openListen(s.url, `again${i}`, { toolsListChanged: true })));
      assert.deepEqual(again.map((r) => r.status), [200, 200]);
      for (const r of again) await r.body?.cancel();
    } finally {
      await s.close();
    }
  });

  test('maxListenStreamsPerPrincipal holds under concurrency; a listen whose client left while opening frees its place', async () => {
    const s = await startServer({ maxListenStreamsPerPrincipal: 1, createServer: slowEverything(150), auth: { tokens: ['token-one-aaaaaaaa', 'token-two-bbbbbbbb'] } });
    const auth = { headers: { Authorization: 'Bearer token-one-aaaaaaaa' } };
    try {
      const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => openListen(s.url, `p${i}`, { toolsListChanged: true }, auth)));
      assert.deepEqual(answers.map((r) => r.status).sort(), [200, 503, 503, 503]);
      for (const r of answers) await r.body?.cancel();
      await waitFor(() => statelessOf(s.handler.sessions)!.listens.size === 0, 5_000, 'the listen to close');
      // A client that leaves while its listen's server is starting takes no place for good.
      const ac = new AbortController();
      const leaving = openListen(s.url, 'leaving', { toolsListChanged: true }, { ...auth, signal: ac.signal }).catch(() => undefined);
      await sleep(50);
      ac.abort();
      await leaving;
      await waitFor(() => statelessOf(s.handler.sessions)!.inFlight === 0, 5_000, 'the abandoned listen to be dropped');
      const next = new ListenReader(await openListen(s.url, 'next', { toolsListChanged: true }, auth));
      await next.next(isAck);
      await next.close();
    } finally {
      await s.close();
    }
  });
});

describe("a listen's server going away", () => {
  test('a listen whose server closes is ended with its result, not left open and deaf', async () => {
    const servers: McpServer[] = [];
    const s = await startServer({
      createServer: () => {
        const mcp = createEverythingServer();
        servers.push(mcp);
        return mcp;
      },
    });
    try {
      const listen = new ListenReader(await openListen(s.url, 'orphan', { toolsListChanged: true, resourceSubscriptions: ['test://watched-resource'] }));
      await listen.next(isAck);
      await servers.at(-1)!.close();
      const result = await listen.next((m) => m.id === 'orphan' && 'result' in m);
      assert.equal((result.result as { resultType: string }).resultType, 'complete');
      await listen.untilEnded();
      await waitFor(() => statelessOf(s.handler.sessions)!.listens.size === 0, 5_000, 'the listen to be forgotten');
    } finally {
      await s.close();
    }
  });

  test('gateway: a listen whose child dies ends (its upstream subscriptions died with it)', async () => {
    const gw = await startGateway({ ...TINY });
    try {
      const listen = new ListenReader(await openListen(gw.url, 'gw-orphan', { resourceSubscriptions: ['test://watched'], toolsListChanged: true }));
      const ack = await listen.next(isAck);
      assert.equal(subscriptionIdOf(ack), 'gw-orphan');
      const pids = processesMarked(gw.marker);
      assert.ok(pids.length > 0);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      await listen.next((m) => m.id === 'gw-orphan' && 'result' in m);
      await listen.untilEnded();
    } finally {
      await gw.close();
    }
  });
});

describe('Mcp-Param and Mcp-Name validation', () => {
  test('a failed or abandoned tools/list does not switch Mcp-Param checks off', async () => {
    let slowList = false;
    let listing = false;
    const s = await startServer({
      createServer: () =>
        holdingToolsList(async () => {
          listing = true;
          if (slowList) await sleep(1_000);
        }),
    });
    try {
      slowList = true;
      const ac = new AbortController();
      const left = modern(s.url, 'tools/call', { name: 'region_query', arguments: { region: 'eu' } }, { headers: { 'Mcp-Param-Region': 'eu' }, signal: ac.signal }).catch(() => undefined);
      await waitFor(() => listing, 5_000, 'the tools/list to start');
      ac.abort();
      await left;
      await waitFor(() => statelessOf(s.handler.sessions)!.inFlight === 0, 5_000, 'the abandoned call to end');
      slowList = false;
      const r = await modern(s.url, 'tools/call', { name: 'region_query', arguments: { region: 'eu' } }, { id: 'mismatch', headers: { 'Mcp-Param-Region': 'us' } });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body!.error!.code, -32020);
      assert.equal(r.body!.id, 'mismatch');
    } finally {
      await s.close();
    }
  });

  test('integer headers are decimal: hexadecimal, exponent, signed or padded forms are refused', async () => {
    const s = await startServer();
    try {
      const call = (priority: string) =>
        modern(s.url, 'tools/call', { name: 'region_query', arguments: { region: 'eu', priority: 42 } }, { id: 'int', headers: { 'Mcp-Param-Region': 'eu', 'Mcp-Param-Priority': priority } });
      for (const form of ['0x2A', '4.2e1', '+42', '0b101010', `=?base64?${Buffer.from(' 42').toString('base64')}?=`]) {
        const r = await call(form);
        assert.equal(r.status, 400, `${form}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body!.error!.code, -32020);
      }
      for (const form of ['42', '42.0', '42.000']) assert.equal((await call(form)).status, 200, form);
    } finally {
      await s.close();
    }
  });

  test('a base64 value starting with a byte order mark is not the same as the value without it', async () => {
    const s = await startServer();
    try {
      const bom = (v: string) => `=?base64?${Buffer.from(`\uFEFF${v}`).toString('base64')}?=`;
      const name = await modern(s.url, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, { id: 'bom', headers: { 'Mcp-Name': bom('echo') } });
      assert.equal(name.status, 400, JSON.stringify(name.body));
      assert.equal(name.body!.error!.code, -32020);
      const param = await modern(s.url, 'tools/call', { name: 'region_query', arguments: { region: 'eu' } }, { id: 'bom', headers: { 'Mcp-Param-Region': bom('eu') } });
      assert.equal(param.status, 400, JSON.stringify(param.body));
      // A BOM that is part of the value is compared like any other character.
      const kept = await modern(s.url, 'tools/call', { name: 'region_query', arguments: { region: '\uFEFFeu' } }, { headers: { 'Mcp-Param-Region': bom('eu') } });
      assert.equal(kept.status, 200, JSON.stringify(kept.body));
    } finally {
      await s.close();
    }
  });

  test("a parameter named like an Object method ('constructor') is not taken as given when it is absent", async () => {
    const s = await startServer({
      createServer: () => {
        const server = new Server({ name: 'odd-names', version: '1' }, { capabilities: { tools: {} } });
        server.setRequestHandler(ListToolsRequestSchema, async () => ({
          tools: [
            {
              name: 'odd',
              inputSchema: {
                type: 'object',
                properties: { constructor: { type: 'string', 'x-mcp-header': 'Ctor' }, text: { type: 'string' } },
              },
            },
          ],
        }));
        server.setRequestHandler(CallToolRequestSchema, async (req) => ({ content: [{ type: 'text', text: JSON.stringify(req.params.arguments) }] }));
        return server;
      },
    });
    try {
      const absent = await modern(s.url, 'tools/call', { name: 'odd', arguments: { text: 'a' } });
      assert.equal(absent.status, 200, JSON.stringify(absent.body));
      const given = await modern(s.url, 'tools/call', { name: 'odd', arguments: { constructor: 'c' } }, { headers: { 'Mcp-Param-Ctor': 'c' } });
      assert.equal(given.status, 200, JSON.stringify(given.body));
      const missing = await modern(s.url, 'tools/call', { name: 'odd', arguments: { constructor: 'c' } });
      assert.equal(missing.status, 400);
    } finally {
      await s.close();
    }
  });
});

/** The everything fixture, its tools/list answered only after `hold` (around the SDK's handler map, to hold it while a client leaves). */
function holdingToolsList(hold: () => Promise<void>) {
  const mcp = createEverythingServer();
  const handlers = (mcp.server as unknown as { _requestHandlers: Map<string, (req: unknown, extra: unknown) => Promise<unknown>> })._requestHandlers;
  const list = handlers.get('tools/list')!;
  handlers.set('tools/list', async (req, extra) => {
    await hold();
    return list(req, extra);
  });
  return mcp;
}
