// subscriptions/listen (L1–L8, L10 of the brief's test plan): acknowledgement first, only the
// opted-in notifications, each stamped with the listen request's id, keepalives, graceful close on
// shutdown, release when the client goes, and the bounds on how many may be open.
import assert from 'node:assert/strict';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ListToolsRequestSchema, SubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { after, before, describe, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
import { statelessOf } from '../../src/wire/stateless.js';
import { sleep, startServer, waitFor } from '../helpers.js';
import { isAck, ListenReader, modern, openListen, subscriptionIdOf } from './helpers.js';

let server: McpWireServer;
let url: string;
const hub = () => statelessOf(server.handler.sessions)!.listens;

before(async () => {
  server = await startServer({ keepAliveMs: 300 });
  url = server.url;
});
after(async () => {
  await server.close();
});

async function listen(id: string | number, notifications: Record<string, unknown>): Promise<ListenReader> {
  const res = await openListen(url, id, notifications);
  assert.equal(res.status, 200);
  assert.ok(res.headers.get('content-type')!.includes('text/event-stream'));
  const reader = new ListenReader(res);
  await reader.next(isAck);
  return reader;
}

const trigger = (tool: string) => modern(url, 'tools/call', { name: tool, arguments: {} });

describe('listen streams', () => {
  test('L1: the acknowledgement comes first, then the list change with the same subscription id', async () => {
    const r = await listen('sub-1', { toolsListChanged: true });
    const ack = r.events[0]!;
    assert.ok(isAck(ack));
    assert.equal(subscriptionIdOf(ack), 'sub-1');
    assert.deepEqual((ack.params as { notifications: unknown }).notifications, { toolsListChanged: true });
    const t = await trigger('test_trigger_tool_change');
    assert.equal(t.body!.result!.resultType, 'complete');
    const change = await r.next((m) => m.method === 'notifications/tools/list_changed');
    assert.equal(subscriptionIdOf(change), 'sub-1');
    assert.equal(r.res.headers.get('x-accel-buffering'), 'no');
    assert.equal(r.res.headers.get('mcp-session-id'), null);
    await r.close();
  });

  test('L2: a type not asked for is never sent (the one asked for is)', async () => {
    const r = await listen('prompts-only', { promptsListChanged: true });
    await trigger('test_trigger_tool_change');
    await sleep(1_500);
    assert.equal(r.events.filter((m) => m.method === 'notifications/tools/list_changed').length, 0);
    await trigger('test_trigger_prompt_change');
    await r.next((m) => m.method === 'notifications/prompts/list_changed');
    await r.close();
  });

  test('L3: resource updates only for the subscribed URI (and what lies under it)', async () => {
    const r = await listen('res', { resourceSubscriptions: ['file:///a'] });
    server.handler.notifyResourceUpdated('file:///b');
    server.handler.notifyResourceUpdated('file:///ab');
    server.handler.notifyResourceUpdated('file:///a');
    server.handler.notifyResourceUpdated('file:///a/inner.txt');
    await r.next((m) => (m.params as { uri?: string } | undefined)?.uri === 'file:///a/inner.txt');
    const uris = r.events.filter((m) => m.method === 'notifications/resources/updated').map((m) => (m.params as { uri: string }).uri);
    assert.deepEqual(uris, ['file:///a', 'file:///a/inner.txt']);
    assert.ok(r.events.slice(1).every((m) => subscriptionIdOf(m) === 'res'));
    await r.close();
  });

  test('L5: an idle listen gets keepalive comments', async () => {
    const r = await listen('idle', { toolsListChanged: true });
    await waitFor(() => (r.raw.match(/^: keepalive$/gm) ?? []).length >= 2, 5_000, 'two keepalives');
    await r.close();
  });

  test('L6: two listens wanting the same change each carry their own id', async () => {
    const one = await listen(1, { toolsListChanged: true });
    const two = await listen('two', { toolsListChanged: true });
    server.handler.notifyListChanged('tools');
    const a = await one.next((m) => m.method === 'notifications/tools/list_changed');
    const b = await two.next((m) => m.method === 'notifications/tools/list_changed');
    assert.equal(subscriptionIdOf(a), 1);
    assert.equal(subscriptionIdOf(b), 'two');
    await one.close();
    await two.close();
  });

  test('L8: a listen the client closes is released', async () => {
    await waitFor(() => hub().size === 0, 5_000, 'the earlier listens to be released');
    const before = hub().size;
    const r = await listen('gone', { toolsListChanged: true });
    assert.equal(hub().size, before + 1);
    await r.close();
    await waitFor(() => hub().size === before, 5_000, 'the listen to be released');
    // Later changes find no stream to write to and break nothing.
    server.handler.notifyListChanged('tools');
  });

  test('L10: a listen without notifications is -32602; nothing is opened', async () => {
    const before = hub().size;
    const res = await openListen(url, 'bad', undefined);
    const body = (await res.json()) as { id: string; error: { code: number } };
    assert.equal(body.error.code, -32602);
    assert.equal(body.id, 'bad');
    const wrongType = await openListen(url, 'bad2', { toolsListChanged: 'yes' });
    assert.equal(((await wrongType.json()) as { error: { code: number } }).error.code, -32602);
    assert.equal(hub().size, before);
  });

  test('a listen asking for nothing the server offers is acknowledged with nothing, and stays open', async () => {
    const r = await listen('nothing', {});
    assert.deepEqual((r.events[0]!.params as { notifications: unknown }).notifications, {});
    await sleep(400);
    assert.equal(r.ended, false);
    await r.close();
  });
});

describe('capabilities and bounds', () => {
  test('L4: what the server does not advertise is left out of the acknowledgement', async () => {
    const plain = await startServer({
      createServer: () => {
        const s = new Server({ name: 'plain', version: '1' }, { capabilities: { tools: {}, resources: {} } });
        s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [] }));
        return s;
      },
    });
    try {
      const res = await openListen(plain.url, 'caps', { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ['file:///x'] });
      const r = new ListenReader(res);
      const ack = await r.next(isAck);
      assert.deepEqual((ack.params as { notifications: unknown }).notifications, {});
      await r.close();
    } finally {
      await plain.close();
    }
  });

  test('L7: on shutdown each listen gets its result, then the stream ends', async () => {
    const s = await startServer();
    const res = await openListen(s.url, 'sub-1', { toolsListChanged: true });
    const r = new ListenReader(res);
    await r.next(isAck);
    await s.close();
    await r.untilEnded();
    const last = r.events.at(-1)!;
    assert.deepEqual(last.id, 'sub-1');
    assert.equal((last.result as { resultType: string }).resultType, 'complete');
    assert.equal(((last.result as { _meta: Record<string, unknown> })._meta)['io.modelcontextprotocol/subscriptionId'], 'sub-1');
  });

  test("a listen keeps its server: told the subscribed URIs, what it announces reaches that listen alone", async () => {
    const s = await startServer({
      createServer: () => {
        const low = new Server({ name: 'pushy', version: '1' }, { capabilities: { resources: { subscribe: true } } });
        low.setRequestHandler(SubscribeRequestSchema, async (req) => {
          // Like a server watching something of its own: it reports the change itself, a little later.
          setTimeout(() => void low.sendResourceUpdated({ uri: req.params.uri }).catch(() => {}), 100);
          return {};
        });
        return low;
      },
    });
    try {
      const mine = new ListenReader(await openListen(s.url, 'mine', { resourceSubscriptions: ['file:///pushed'] }));
      await mine.next(isAck);
      const other = new ListenReader(await openListen(s.url, 'other', { resourceSubscriptions: ['file:///pushed-elsewhere'] }));
      await other.next(isAck);
      const pushed = await mine.next((m) => m.method === 'notifications/resources/updated');
      assert.equal((pushed.params as { uri: string }).uri, 'file:///pushed');
      await other.next((m) => (m.params as { uri?: string } | undefined)?.uri === 'file:///pushed-elsewhere');
      await sleep(300);
      assert.equal(mine.events.filter((m) => m.method === 'notifications/resources/updated').length, 1);
      assert.equal(other.events.filter((m) => m.method === 'notifications/resources/updated').length, 1);
      await mine.close();
      await other.close();
    } finally {
      await s.close();
    }
  });

  test('listens past the per-instance bound get 503; a closed one frees its place', async () => {
    const s = await startServer({ maxListenStreams: 2 });
    try {
      const a = new ListenReader(await openListen(s.url, 'a', { toolsListChanged: true }));
      const b = new ListenReader(await openListen(s.url, 'b', { toolsListChanged: true }));
      await a.next(isAck);
      await b.next(isAck);
      const third = await openListen(s.url, 'c', { toolsListChanged: true });
      assert.equal(third.status, 503);
      assert.equal(((await third.json()) as { id: string }).id, 'c');
      await a.close();
      await waitFor(() => statelessOf(s.handler.sessions)!.listens.size === 1, 5_000, 'a place to free');
      const again = new ListenReader(await openListen(s.url, 'd', { toolsListChanged: true }));
      await again.next(isAck);
      await again.close();
      await b.close();
    } finally {
      await s.close();
    }
  });

  test('listens are also bounded per principal: one principal at its bound leaves others unaffected', async () => {
    const s = await startServer({ maxListenStreamsPerPrincipal: 1, auth: { tokens: ['token-one-aaaaaaaa', 'token-two-bbbbbbbb'] } });
    const auth = (t: string) => ({ headers: { Authorization: `Bearer ${t}` } });
    try {
      const one = new ListenReader(await openListen(s.url, 1, { toolsListChanged: true }, auth('token-one-aaaaaaaa')));
      await one.next(isAck);
      const oneAgain = await openListen(s.url, 2, { toolsListChanged: true }, auth('token-one-aaaaaaaa'));
      assert.equal(oneAgain.status, 503);
      await oneAgain.body?.cancel();
      const two = new ListenReader(await openListen(s.url, 3, { toolsListChanged: true }, auth('token-two-bbbbbbbb')));
      await two.next(isAck);
      const anonymous = await openListen(s.url, 4, { toolsListChanged: true });
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      await one.close();
      await two.close();
    } finally {
      await s.close();
    }
  });

  test('a listen subscribing to too many URIs, or to URIs too long in all, is -32602', async () => {
    const res = await openListen(url, 'many', { resourceSubscriptions: Array.from({ length: 1_001 }, (_, i) => `file:///r${i}`) });
    assert.equal(((await res.json()) as { error: { code: number } }).error.code, -32602);
    const long = await openListen(url, 'long', { resourceSubscriptions: Array.from({ length: 3 }, (_, i) => `file:///${i}${'x'.repeat(100_000)}`) });
    const body = (await long.json()) as { id: string; error: { code: number; message: string } };
    assert.equal(body.error.code, -32602);
    assert.equal(body.id, 'long');
    assert.match(body.error.message, /262144 characters of URIs in all/);
  });
});
