// The dashboard page in a real browser (Debian's chromium driven by playwright-core), where the feed
// is refused or the server restarts, where the token is typed in, and with hostile text to show.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { serve, type McpWireServer, type ServeOptions } from '../../src/index.js';
import { dashboardRoutes, type Dashboard } from '../../src/serve/dashboard/routes.js';
import { createEverythingServer } from '../fixtures/everything.js';
import { INIT, STREAMABLE_HEADERS, sleep } from '../helpers.js';
import { launchChromium } from './helpers.js';

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

/** A server with the dashboard, on `port` (0: a free one). */
async function start(options: Partial<ServeOptions> & { maxFeeds?: number } = {}): Promise<{ server: McpWireServer; dashboard: Dashboard; close(): Promise<void> }> {
  const { maxFeeds, ...rest } = options;
  const server = await serve({ port: 0, createServer: () => createEverythingServer(), ...rest });
  const dashboard = dashboardRoutes(server.handler, { maxFeeds });
  return {
    server,
    dashboard,
    async close() {
      dashboard.close();
      await server.close();
    },
  };
}

/** A page in a context of its own (its own cookies), recording script errors and the URLs it requests. */
async function openPage(context?: BrowserContext): Promise<{ page: Page; problems: string[]; urls: string[] }> {
  const page = context ? await context.newPage() : await browser.newPage();
  const problems: string[] = [];
  const urls: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => void problems.push(`dialog: ${d.message()}`));
  page.on('request', (r) => urls.push(r.url()));
  return { page, problems, urls };
}

const live = (page: Page, timeout = 15_000) => page.locator('#conn', { hasText: 'live' }).waitFor({ timeout });

describe('the page when its feed is refused or the server goes away', () => {
  test('a page refused for too many dashboards retries, with growing pauses, and goes live once a place frees', async () => {
    const s = await start({ maxFeeds: 1 });
    const first = await openPage();
    const second = await openPage();
    try {
      await first.page.goto(`${s.server.url}/`);
      await live(first.page);
      await second.page.goto(`${s.server.url}/`);
      await sleep(6_000);
      assert.equal(await second.page.locator('#conn').innerText(), 'reconnecting…');
      const tries = second.urls.filter((u) => u.endsWith('/_events')).length;
      assert.ok(tries >= 2, `the refused page asked for the feed ${tries} time(s) in 6 s: it gave up`);
      assert.ok(tries <= 4, `the refused page asked for the feed ${tries} times in 6 s`);
      await first.page.close();
      await live(second.page, 30_000);
      assert.deepEqual(second.problems, []);
    } finally {
      await second.page.close();
      await s.close();
    }
  });

  test('after a restart without auth, the page goes live again by itself', async () => {
    let s = await start();
    const port = s.server.port;
    const { page, problems } = await openPage();
    try {
      await page.goto(`${s.server.url}/`);
      await live(page);
      await s.close();
      await page.locator('#conn', { hasText: 'reconnecting' }).waitFor({ timeout: 15_000 });
      s = await start({ port });
      await live(page, 30_000);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
      await s.close();
    }
  });

  test('after a restart with auth, the page signed out by it shows the sign-in page', async () => {
    const TOKEN = 'restart-token-0123456789';
    let s = await start({ auth: { tokens: [TOKEN] } });
    const port = s.server.port;
    const context = await browser.newContext();
    const { page, problems } = await openPage(context);
    try {
      await page.goto(`${s.server.url}/?token=${TOKEN}`);
      await live(page);
      await s.close();
      s = await start({ port, auth: { tokens: [TOKEN] } });
      // The new process cannot read the old pass: the page must say so, not wait for ever.
      await page.locator('input[name=token]').waitFor({ timeout: 30_000 });
      await page.fill('input[name=token]', TOKEN);
      await page.click('button');
      await live(page);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await s.close();
    }
  });
});

describe('signing in', () => {
  const TOKEN = 'sign-in-token-0123456789';
  const OTHER = 'other-token-9876543210';
  let a: Awaited<ReturnType<typeof start>>;
  let b: Awaited<ReturnType<typeof start>>;
  before(async () => {
    a = await start({ auth: { tokens: [TOKEN] } });
    b = await start({ auth: { tokens: [OTHER] } });
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  test('the token typed in the sign-in page never appears in a URL', async () => {
    const context = await browser.newContext();
    const { page, problems, urls } = await openPage(context);
    try {
      await page.goto(`${a.server.url}/`);
      await page.fill('input[name=token]', 'a-wrong-token-typed');
      await page.click('button');
      await page.locator('text=that one was refused').waitFor({ timeout: 10_000 });
      await page.fill('input[name=token]', TOKEN);
      await page.click('button');
      await live(page);
      for (const url of urls) {
        assert.ok(!url.includes('a-wrong-token-typed') && !url.includes(TOKEN), `a token in ${url}`);
      }
      assert.equal(page.url(), `${a.server.url}/`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('two servers on one host: signing in to one does not sign the browser out of the other', async () => {
    const context = await browser.newContext();
    const { page, problems } = await openPage(context);
    try {
      await page.goto(`${a.server.url}/?token=${TOKEN}`);
      await live(page);
      const other = await context.newPage();
      await other.goto(`${b.server.url}/?token=${OTHER}`);
      await live(other);
      await other.close();
      const again = await page.goto(`${a.server.url}/`);
      assert.equal(again?.status(), 200, 'the first server asks for its token again');
      await live(page);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});

describe("the browser's clock", () => {
  test("session ages are the server's, whatever the browser's clock says", async () => {
    const s = await start();
    const { page, problems } = await openPage();
    try {
      // A browser whose clock is two hours ahead of the server's.
      await page.clock.install({ time: Date.now() + 2 * 3600_000 });
      await page.goto(`${s.server.url}/`);
      await live(page);
      const res = await fetch(`${s.server.url}/mcp`, { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify(INIT) });
      await res.text();
      const age = page.locator('#sessions tbody tr td').nth(5);
      await age.waitFor({ timeout: 15_000 });
      assert.match((await age.textContent())!, /^\d+s$/);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
      await s.close();
    }
  });
});

describe('text from outside', () => {
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => {
    s = await start();
  });
  after(async () => {
    await s.close();
  });

  test('client names and URIs holding markup are shown as text, never as markup', async () => {
    const { page, problems } = await openPage();
    try {
      await page.goto(`${s.server.url}/`);
      await live(page);
      const name = '<img src=x onerror="document.title=1">"\'&lt;\n';
      const version = '</td><script>document.title=2</script>';
      const init = { ...INIT, params: { ...INIT.params, clientInfo: { name, version } } };
      const res = await fetch(`${s.server.url}/mcp`, { method: 'POST', headers: STREAMABLE_HEADERS, body: JSON.stringify(init) });
      assert.equal(res.status, 200);
      await res.text();
      const uri = 'file:///"><img src=x onerror="document.title=3"><style>*{display:none}</style>';
      s.server.handler.notifyResourceUpdated(uri);

      const row = page.locator('#sessions tbody tr');
      await row.waitFor({ timeout: 15_000 });
      assert.equal(await row.locator('td').nth(2).textContent(), `${name} ${version.slice(0, 16)}`);
      const change = page.locator('#changes li');
      await change.waitFor({ timeout: 15_000 });
      assert.equal(await change.locator('code').first().textContent(), uri);
      assert.equal(await change.getAttribute('data-uri'), uri);
      assert.equal(await page.locator('img, script:not([src]), style').count(), 0);
      assert.equal(await page.title(), 'mcpwire · live');
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });
});
