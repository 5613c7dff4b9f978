// The dashboard's admin feed over plain HTTP: its places are not lost to clients that leave early,
// and its snapshot reaches a new reader whatever the URIs of the recent notifications.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { serve, type McpWireServer } from '../../src/index.js';
import { dashboardRoutes, type Dashboard } from '../../src/serve/dashboard/routes.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { readEvents, sleep, waitFor } from '../helpers.js';

describe('the admin feed and clients that leave while their token is checked', () => {
  let server: McpWireServer;
  let dashboard: Dashboard;
  let checking = 0;
  before(async () => {
    // A token check that takes a while, as an OAuth introspection does.
    const verifyToken = async (token: string) => {
      checking++;
      await sleep(200);
      checking--;
      return token === 'good-token' ? { token, clientId: 'c', scopes: [] } : undefined;
    };
    server = await serve({ port: 0, createServer: () => createEverythingServer(), auth: { verifyToken } });
    dashboard = dashboardRoutes(server.handler, { maxFeeds: 1 });
  });
  after(async () => {
    dashboard.close();
    await server.close();
  });

  test('a feed whose client is gone before its token is accepted takes no place', async () => {
    const socket = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`GET /_events HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAuthorization: Bearer good-token\r\n\r\n`);
    await waitFor(() => checking === 1, 5_000, 'the token check to start');
    socket.destroy();
    await waitFor(() => checking === 0, 5_000, 'the token check to end');
    await sleep(50);
    assert.equal(dashboard.openFeeds, 0);
    const next = await fetch(`${server.url}/_events`, { headers: { Authorization: 'Bearer good-token' } });
    assert.equal(next.status, 200, 'the only feed place was taken by a client that left');
    await readEvents(next, () => true, 5_000);
  });
});

describe('the admin feed snapshot', () => {
  let server: McpWireServer;
  let dashboard: Dashboard;
  before(async () => {
    server = await serve({ port: 0, createServer: () => createEverythingServer() });
    // A byte bound smaller than a snapshot of 50 notifications.
    dashboard = dashboardRoutes(server.handler, { maxBufferedBytes: 16 * 1024 });
  });
  after(async () => {
    dashboard.close();
    await server.close();
  });

  test('reaches a new reader whole, and bounded, even when the recent notifications have long URIs', async () => {
    // 50 URIs of 8,000 characters: a deep path of non-ASCII folder names, percent-encoded, is that long.
    for (let i = 0; i < 50; i++) server.handler.notifyResourceUpdated(`file:///${'%E6%96%87/'.repeat(800)}${i}.txt`);
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await fetch(`${server.url}/_events`);
      assert.equal(res.status, 200);
      const [hello] = await readEvents(res, () => true, 5_000);
      assert.equal(hello!.event, 'hello');
      const recent = (JSON.parse(hello!.data) as { recent: { uri: string }[] }).recent;
      assert.equal(recent.length, 50);
      assert.ok(recent[49]!.uri.startsWith('file:///%E6%96%87/'));
      assert.ok(hello!.data.length < 128 * 1024, `a snapshot of ${hello!.data.length} characters`);
    }
    await waitFor(() => dashboard.openFeeds === 0, 5_000, 'the feeds to close');
  });
});
