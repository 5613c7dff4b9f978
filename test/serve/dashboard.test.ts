// The live dashboard in a real browser (Debian's chromium driven by playwright-core): sessions and
// notifications appear as they happen; the page signs in with a token when auth is on; the admin
// feed is bounded in count and in bytes.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Browser, type Page } from 'playwright-core';
import { serve, type McpWireServer } from '../../src/index.js';
import { dashboardRoutes, type Dashboard } from '../../src/serve/dashboard/routes.js';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { connectClient, readEvents, waitFor } from '../helpers.js';
import { launchChromium, makeRoot, removeRoot, startFolder } from './helpers.js';

const RESULTS = new URL('../../test-results/', import.meta.url);

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

/** A page that fails the test on any script error or CSP violation. */
async function openPage(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401|Unauthorized/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { page, problems };
}

describe('the dashboard in a browser', () => {
  let root: string;
  let running: FolderServer;
  const clients: Client[] = [];
  before(async () => {
    root = await makeRoot();
    running = await startFolder(root);
  });
  after(async () => {
    for (const c of clients) await c.close();
    await running.close();
    await removeRoot(root);
  });

  test('shows sessions as they connect and notifications as files change', async () => {
    const { page, problems } = await openPage();
    try {
      await page.goto(`${running.server.url}/`);
      await page.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('#sessions tbody tr').count(), 0);

      const streamable = await connectClient(running.server.url, 'mcp');
      clients.push(streamable);
      const id = (streamable.transport as StreamableHTTPClientTransport).sessionId!.slice(0, 8);
      const row = page.locator(`#sessions tr[data-session="${id}"]`);
      await row.waitFor({ timeout: 15_000 });
      assert.match(await row.innerText(), /streamable\s+mcpwire-test 1\.0\.0/);

      const legacy = await connectClient(running.server.url, 'sse');
      clients.push(legacy);
      await page.locator('#sessions-total', { hasText: /^2$/ }).waitFor({ timeout: 15_000 });
      assert.match(await page.locator('#sessions-split').innerText(), /legacy SSE 1 · streamable 1/);
      await page.locator('#activity li', { hasText: 'opened (legacy SSE)' }).waitFor({ timeout: 15_000 });

      await streamable.subscribeResource({ uri: 'file:///hello.txt' });
      await legacy.subscribeResource({ uri: 'file:///hello.txt' });
      await legacy.subscribeResource({ uri: 'file:///notes/todo.md' });
      await writeFile(join(root, 'hello.txt'), 'changed while the dashboard watched\n');
      const change = page.locator('#changes li[data-uri="file:///hello.txt"]');
      await change.waitFor({ timeout: 15_000 });
      assert.match(await change.innerText(), /→ 2 sessions/);
      assert.equal(await change.locator(`code.chip`, { hasText: id }).count(), 1);
      await writeFile(join(root, 'notes/todo.md'), '# changed\n');
      await page.locator('#changes li[data-uri="file:///notes/todo.md"]', { hasText: '→ 1 session' }).waitFor({ timeout: 15_000 });
      await writeFile(join(root, 'added.txt'), 'new file\n');
      await page.locator('#changes li[data-kind="resources_list_changed"]', { hasText: '→ 2 sessions' }).waitFor({ timeout: 15_000 });

      // Traffic for the chart: a few seconds of tool calls, still flowing when the screenshot is taken.
      let traffic = true;
      const load = (async () => {
        for (let i = 0; traffic && i < 1_000; i++) {
          await streamable.callTool({ name: i % 2 ? 'stats' : 'search', arguments: i % 2 ? {} : { query: 'line' } });
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await page.waitForFunction('Number(document.getElementById("rate-out").textContent) > 0', undefined, { timeout: 15_000 });
      await page.waitForTimeout(3_000);
      const brief = await connectClient(running.server.url, 'mcp');
      await (brief.transport as StreamableHTTPClientTransport).terminateSession();
      await brief.close();
      await page.locator('#activity li.ended', { hasText: 'deleted by the client' }).waitFor({ timeout: 15_000 });

      await mkdir(RESULTS, { recursive: true });
      await page.screenshot({ path: new URL('dashboard.png', RESULTS).pathname, fullPage: true });
      traffic = false;
      await load;
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });
});

describe('the dashboard behind auth', () => {
  let root: string;
  let running: FolderServer;
  const TOKEN = 'dashboard-token-0123456789';
  before(async () => {
    root = await makeRoot();
    running = await startFolder(root, { auth: { tokens: [TOKEN] } });
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
  });

  test('a browser signs in with the token once, then the feed flows on the cookie', async () => {
    const { page, problems } = await openPage();
    try {
      const first = await page.goto(`${running.server.url}/`);
      assert.equal(first?.status(), 401);
      await page.fill('input[name=token]', 'wrong-token');
      await page.click('button');
      await page.locator('text=that one was refused').waitFor({ timeout: 10_000 });
      await page.fill('input[name=token]', TOKEN);
      await page.click('button');
      await page.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 15_000 });
      assert.equal(new URL(page.url()).search, '', 'the token stayed in the address bar');
      const cookies = await page.context().cookies();
      assert.equal(cookies.length, 1);
      assert.equal(cookies[0]!.httpOnly, true);
      assert.equal(cookies[0]!.sameSite, 'Strict');
      assert.ok(!cookies[0]!.value.includes(TOKEN), 'the cookie holds the token');
      const client = await connectClient(running.server.url, 'mcp', {}, { Authorization: `Bearer ${TOKEN}` });
      try {
        await page.locator('#sessions-total', { hasText: /^1$/ }).waitFor({ timeout: 15_000 });
      } finally {
        await client.close();
      }
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  test('without a pass or a token: 401 for the feed and the script; a bearer header works; a forged cookie does not', async () => {
    const url = running.server.url;
    for (const path of ['/_events', '/_dashboard/app.js']) {
      const r = await fetch(url + path);
      assert.equal(r.status, 401, path);
      assert.equal(((await r.json()) as { error: { code: number } }).error.code, -32000);
    }
    assert.equal((await fetch(`${url}/_dashboard/app.css`)).status, 200);
    const forged = await fetch(`${url}/_events`, { headers: { Cookie: `mcpwire_dashboard_${running.server.port}=${Date.now() + 3_600_000}.AAAA` } });
    assert.equal(forged.status, 401);
    await forged.text();
    const expired = await fetch(`${url}/_events`, { headers: { Cookie: `mcpwire_dashboard_${running.server.port}=1000.AAAA` } });
    assert.equal(expired.status, 401);
    await expired.text();
    const withHeader = await fetch(`${url}/_events`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(withHeader.status, 200);
    const [hello] = await readEvents(withHeader, () => true, 5_000);
    assert.equal(hello!.event, 'hello');

    const login = await fetch(`${url}/?token=${TOKEN}`, { redirect: 'manual' });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), '/');
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const withCookie = await fetch(`${url}/_events`, { headers: { Cookie: cookie } });
    assert.equal(withCookie.status, 200);
    await readEvents(withCookie, () => true, 5_000);
  });
});

describe('the admin feed is bounded', () => {
  let server: McpWireServer;
  let dashboard: Dashboard;
  before(async () => {
    server = await serve({ port: 0, createServer: () => createEverythingServer() });
    dashboard = dashboardRoutes(server.handler, { maxFeeds: 2, maxBufferedBytes: 16 * 1024 });
  });
  after(async () => {
    dashboard.close();
    await server.close();
  });

  test('a feed past maxFeeds gets 503; a closed one frees its place', async () => {
    const a = new AbortController();
    const one = await fetch(`${server.url}/_events`, { signal: a.signal });
    const two = await fetch(`${server.url}/_events`);
    assert.equal(one.status, 200);
    assert.equal(two.status, 200);
    const errors = server.handler.stats.httpErrors;
    const three = await fetch(`${server.url}/_events`);
    assert.equal(three.status, 503);
    assert.equal(server.handler.stats.httpErrors, errors + 1, 'the refusal is not in mcpwire_http_errors_total');
    assert.equal(three.headers.get('retry-after'), '5');
    await three.text();
    a.abort();
    await one.body?.cancel().catch(() => {});
    await waitFor(() => dashboard.openFeeds === 1, 5_000, 'the feed to close');
    const four = await fetch(`${server.url}/_events`);
    assert.equal(four.status, 200);
    await readEvents(four, () => true, 5_000);
    await readEvents(two, () => true, 5_000);
    await waitFor(() => dashboard.openFeeds === 0, 5_000, 'the feeds to close');
  });

  test('a browser that stops reading is cut at the byte bound; the recent list stays bounded', async () => {
    const socket = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`GET /_events HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
    await waitFor(() => dashboard.openFeeds === 1, 5_000, 'the feed to open');
    socket.pause(); // never reads again
    let published = 0;
    const deadline = Date.now() + 60_000;
    while (dashboard.openFeeds > 0 && published < 200_000 && Date.now() < deadline) {
      for (let i = 0; i < 1_000; i++) server.handler.notifyListChanged('resources');
      published += 1_000;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(dashboard.openFeeds, 0, `still open after ${published} notifications`);
    socket.destroy();

    const fresh = await fetch(`${server.url}/_events`);
    const [hello] = await readEvents(fresh, () => true, 5_000);
    assert.equal(JSON.parse(hello!.data).recent.length, 50);
  });
});
