// Bounds and shutdown of 2026-07-28 serving: requests in flight are capped (503 past it), a drain lets
// them finish and refuses new ones, a backend asking the client too much is cut off, and the folder
// watcher of `mcpwire serve` feeds 2026 listen streams as it feeds 2025 sessions.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ElicitResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, test } from 'node:test';
import { statelessOf } from '../../src/wire/stateless.js';
import { cancelledCalls } from '../fixtures/everything.js';
import { sleep, startServer, waitFor } from '../helpers.js';
import { makeRoot, removeRoot, startFolder } from '../serve/helpers.js';
import { isAck, ListenReader, META, modern, openListen } from './helpers.js';

describe('bounds', () => {
  test('2026 requests in flight are capped (maxSessions): past it 503, id echoed; a place frees when one ends', async () => {
    const s = await startServer({ maxSessions: 1 });
    try {
      const slow = modern(s.url, 'tools/call', { name: 'slow', arguments: { ms: 1_000 } });
      await waitFor(() => statelessOf(s.handler.sessions)!.inFlight === 1, 5_000, 'the slow call to run');
      const refused = await modern(s.url, 'tools/list', {}, { id: 'over' });
      assert.equal(refused.status, 503);
      assert.equal(refused.body!.id, 'over');
      assert.equal(refused.headers.get('retry-after'), '5');
      assert.equal((await slow).status, 200);
      assert.equal((await modern(s.url, 'tools/list')).status, 200);
    } finally {
      await s.close();
    }
  });

  test('a backend asking for more than 100 inputs in one request gets errors past the 100th', async () => {
    const s = await startServer({
      createServer: () => {
        const mcp = new McpServer({ name: 'greedy', version: '1' }, { capabilities: { tools: {} } });
        mcp.registerTool('ask_many', { description: 'asks 150 things at once', inputSchema: {} }, async (_a, extra) => {
          const asks = Array.from({ length: 150 }, (_, i) =>
            extra.sendRequest({ method: 'elicitation/create', params: { message: `q${i}`, requestedSchema: { type: 'object', properties: {} } } }, ElicitResultSchema).then(
              () => 'ok',
              () => 'refused',
            ),
          );
          const r = await Promise.all(asks);
          return { content: [{ type: 'text', text: `${r.filter((x) => x === 'refused').length} refused` }] };
        });
        return mcp;
      },
    });
    try {
      const r = await modern(s.url, 'tools/call', { name: 'ask_many', arguments: {} }, { meta: { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } } });
      assert.equal(r.body!.result!.resultType, 'input_required');
      assert.equal(Object.keys(r.body!.result!.inputRequests as object).length, 100);
    } finally {
      await s.close();
    }
  });
});

describe('shutdown', () => {
  test('a drain lets running 2026 requests finish, refuses new ones, and cancels what outlives it', async () => {
    const s = await startServer();
    const finishing = modern(s.url, 'tools/call', { name: 'slow', arguments: { ms: 400 } });
    const id = `drain-${Date.now()}`;
    const outliving = modern(s.url, 'tools/call', { name: 'wait_for_cancel', arguments: {} }, { id });
    await waitFor(() => statelessOf(s.handler.sessions)!.inFlight === 2, 5_000, 'both calls to run');
    const closing = s.handler.close({ drainMs: 1_500 });
    await sleep(100);
    const refused = await modern(s.url, 'tools/list', {}, { id: 'late' });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal((await finishing).body!.result!.resultType, 'complete');
    const cut = await outliving;
    assert.match(cut.body!.error!.message, /shutting down/);
    await waitFor(() => cancelledCalls.has(id), 5_000, 'the handler to see its cancellation');
    await closing;
    await s.close();
  });
});

describe('mcpwire serve feeds both eras', () => {
  test('a file write reaches a 2026 listen subscribed to it; a new file is a resource-list change', async () => {
    const root = await makeRoot();
    const running = await startFolder(root, { debounceMs: 50 });
    try {
      const listen = new ListenReader(await openListen(running.server.url, 'folder', { resourceSubscriptions: ['file:///hello.txt'], resourcesListChanged: true }));
      const ack = await listen.next(isAck);
      assert.deepEqual((ack.params as { notifications: unknown }).notifications, { resourcesListChanged: true, resourceSubscriptions: ['file:///hello.txt'] });
      await writeFile(join(root, 'hello.txt'), 'changed\n');
      const updated = await listen.next((m) => m.method === 'notifications/resources/updated');
      assert.equal((updated.params as { uri: string }).uri, 'file:///hello.txt');
      await writeFile(join(root, 'brand-new.txt'), 'new\n');
      await listen.next((m) => m.method === 'notifications/resources/list_changed');
      const read = await modern(running.server.url, 'resources/read', { uri: 'file:///hello.txt' });
      assert.equal(((read.body!.result!.contents as Array<{ text: string }>)[0]!).text, 'changed\n');
      await listen.close();
    } finally {
      await running.close();
      await removeRoot(root);
    }
  });
});
