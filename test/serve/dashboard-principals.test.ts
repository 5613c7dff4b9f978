// The dashboard shows a viewer the sessions of its own principal only: real SDK sessions under two
// principals (two static tokens, as `mcpwire serve --token A --token B`; and two OAuth subjects of one
// client, through a verifyToken hook), each viewer's snapshot and live feed, and the raw feed text
// checked for the other's session ids. With auth off, everyone sees every session. A pass signed for
// one principal cannot be made another's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { EventSourceMessage } from 'eventsource-parser';
import type { AuthOptions } from '../../src/options.js';
import { subjectPrincipal, tokenPrincipal } from '../../src/principal.js';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { connectClient, type WireName } from '../helpers.js';
import { dashboardCookie, makeRoot, openFeed, removeRoot, sessionIdOf, startFolder, type LiveFeed } from './helpers.js';

const short = (id: string) => id.slice(0, 8);

interface FeedSession {
  id: string;
}
interface FeedChange {
  uri?: string;
  recipients: number;
  sessions: string[];
}

const data = (e: EventSourceMessage) => JSON.parse(e.data) as Record<string, unknown>;
const listed = (e: EventSourceMessage) => (data(e).sessions as FeedSession[]).map((s) => s.id).sort();
const isSession = (event: 'opened' | 'ended', id: string) => (e: EventSourceMessage) =>
  e.event === 'session' && data(e).event === event && data(e).id === short(id);
const isChange = (uri: string) => (e: EventSourceMessage) => e.event === 'change' && data(e).uri === uri;

/** Neither the id nor its 8-character form (as a JSON string) is anywhere in the feed's bytes. */
function assertAbsent(feed: LiveFeed, ids: string[], whose: string): void {
  for (const id of ids) {
    assert.ok(!feed.raw.includes(id), `${whose}'s feed holds session id ${id}`);
    assert.ok(!feed.raw.includes(`"${short(id)}"`), `${whose}'s feed holds session ${short(id)}`);
  }
}

const tokenPrincipalOf = (token: string) => tokenPrincipal(createHash('sha256').update(token).digest().subarray(0, 12).toString('hex'));

interface Tenancy {
  name: string;
  auth: AuthOptions;
  a: { token: string; principal: string };
  b: { token: string; principal: string };
}

const STATIC: Tenancy = {
  name: 'two static tokens (--token A --token B)',
  auth: { tokens: ['tenant-a-token-0123456789', 'tenant-b-token-9876543210'] },
  a: { token: 'tenant-a-token-0123456789', principal: tokenPrincipalOf('tenant-a-token-0123456789') },
  b: { token: 'tenant-b-token-9876543210', principal: tokenPrincipalOf('tenant-b-token-9876543210') },
};

// One OAuth client, two users: the principal is the subject, not the client id.
const SUBJECTS: Record<string, string> = { 'alice-oauth-token': 'alice', 'bob-oauth-token': 'bob' };
const OAUTH: Tenancy = {
  name: 'two OAuth subjects of one client (verifyToken)',
  auth: {
    verifyToken: (token) => {
      const sub = SUBJECTS[token];
      return sub ? { token, clientId: 'shared-app', scopes: [], extra: { sub } } : undefined;
    },
  },
  a: { token: 'alice-oauth-token', principal: subjectPrincipal('alice') },
  b: { token: 'bob-oauth-token', principal: subjectPrincipal('bob') },
};

for (const tenancy of [STATIC, OAUTH]) {
  describe(`the dashboard with ${tenancy.name}`, () => {
    let root: string;
    let running: FolderServer;
    const clients: Client[] = [];
    const feeds: LiveFeed[] = [];
    const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
    const connectAs = async (token: string, wire: WireName) => {
      const c = await connectClient(running.server.url, wire, {}, bearer(token));
      clients.push(c);
      return c;
    };
    before(async () => {
      root = await makeRoot();
      running = await startFolder(root, { auth: tenancy.auth });
    });
    after(async () => {
      for (const f of feeds) await f.close();
      for (const c of clients) await c.close().catch(() => {});
      await running.close();
      await removeRoot(root);
    });

    test("each viewer's snapshot and live feed list its own principal's sessions, never the other's", async () => {
      const url = running.server.url;
      const { a, b } = tenancy;
      const a1 = await connectAs(a.token, 'mcp');
      const a2 = await connectAs(a.token, 'sse');
      const b1 = await connectAs(b.token, 'mcp');
      for (const c of [a1, a2, b1]) await c.subscribeResource({ uri: 'file:///hello.txt' });
      const ids = { a1: sessionIdOf(a1), a2: sessionIdOf(a2), b1: sessionIdOf(b1) };
      // The premise: the engine bound the sessions to the two principals.
      const engine = running.server.handler.sessions.sessions;
      assert.equal(engine.get(ids.a1)?.principal, a.principal);
      assert.equal(engine.get(ids.a2)?.principal, a.principal);
      assert.equal(engine.get(ids.b1)?.principal, b.principal);

      // A through the sign-in cookie, B through a bearer header.
      const feedA = await openFeed(url, { Cookie: await dashboardCookie(url, a.token) });
      feeds.push(feedA);
      const feedB = await openFeed(url, bearer(b.token));
      feeds.push(feedB);
      const helloA = await feedA.next((e) => e.event === 'hello', "A's snapshot");
      const helloB = await feedB.next((e) => e.event === 'hello', "B's snapshot");
      assert.deepEqual(listed(helloA), [short(ids.a1), short(ids.a2)].sort());
      assert.equal(data(helloA).sessionsVisible, 2);
      assert.deepEqual(listed(helloB), [short(ids.b1)]);
      assert.equal(data(helloB).sessionsVisible, 1);

      // Live. A feed is one ordered stream: B acts before A, so once A's feed shows A's event, B's
      // would be there too (and the other way round).
      const b2 = await connectAs(b.token, 'mcp');
      const a3 = await connectAs(a.token, 'mcp');
      const b3 = await connectAs(b.token, 'mcp');
      const more = { ...ids, a3: sessionIdOf(a3), b2: sessionIdOf(b2), b3: sessionIdOf(b3) };
      await feedA.next(isSession('opened', more.a3), "A's session opening on A's feed");
      await feedB.next(isSession('opened', more.b3), "B's session opening on B's feed");
      assert.ok(feedB.raw.indexOf(`"${short(more.b2)}"`) !== -1, "B's feed missed B's own session opening");

      await writeFile(join(root, 'hello.txt'), 'changed while two tenants watched\n');
      const changeA = data(await feedA.next(isChange('file:///hello.txt'), 'the change on A\'s feed')) as unknown as FeedChange;
      const changeB = data(await feedB.next(isChange('file:///hello.txt'), 'the change on B\'s feed')) as unknown as FeedChange;
      assert.equal(changeA.recipients, 2);
      assert.deepEqual([...changeA.sessions].sort(), [short(more.a1), short(more.a2)].sort());
      assert.equal(changeB.recipients, 1);
      assert.deepEqual(changeB.sessions, [short(more.b1)]);

      await (b2.transport as StreamableHTTPClientTransport).terminateSession();
      await (a3.transport as StreamableHTTPClientTransport).terminateSession();
      await (b3.transport as StreamableHTTPClientTransport).terminateSession();
      await feedA.next(isSession('ended', more.a3), "A's session ending on A's feed");
      await feedB.next(isSession('ended', more.b3), "B's session ending on B's feed");

      // A counters tick after all that: each viewer's table holds its own sessions; the counts are the instance's.
      const since = Date.now();
      const later = (e: EventSourceMessage) => e.event === 'stats' && (data(e).at as number) > since;
      const statsA = await feedA.next(later, "a counters tick on A's feed", 10_000);
      const statsB = await feedB.next(later, "a counters tick on B's feed", 10_000);
      assert.deepEqual(listed(statsA), [short(more.a1), short(more.a2)].sort());
      assert.deepEqual(listed(statsB), [short(more.b1)]);
      const byWire = data(statsA).sessionsByWire as { legacy: number; streamable: number };
      assert.equal(byWire.legacy + byWire.streamable, 3, 'the instance-wide session count');

      assertAbsent(feedA, [more.b1, more.b2, more.b3], 'A');
      assertAbsent(feedB, [more.a1, more.a2, more.a3], 'B');
      // And the feeds did carry their own principal's ids.
      for (const id of [more.a1, more.a2, more.a3]) assert.ok(feedA.raw.includes(`"${short(id)}"`), `A's feed lacks ${short(id)}`);
      for (const id of [more.b1, more.b2, more.b3]) assert.ok(feedB.raw.includes(`"${short(id)}"`), `B's feed lacks ${short(id)}`);

      // A fresh snapshot's recent notifications name the viewer's recipients only.
      for (const [viewer, own, other] of [
        [b, [more.b1], [more.a1, more.a2, more.a3]],
        [a, [more.a1, more.a2], [more.b1, more.b2, more.b3]],
      ] as const) {
        const fresh = await openFeed(url, { Cookie: await dashboardCookie(url, viewer.token) });
        feeds.push(fresh);
        const hello = data(await fresh.next((e) => e.event === 'hello', 'a fresh snapshot'));
        const row = (hello.recent as FeedChange[]).find((r) => r.uri === 'file:///hello.txt')!;
        assert.equal(row.recipients, own.length);
        assert.deepEqual([...row.sessions].sort(), own.map(short).sort());
        assertAbsent(fresh, [...other], viewer === a ? 'A (fresh)' : 'B (fresh)');
        await fresh.close();
      }
    });
  });
}

describe('the dashboard with auth off', () => {
  let root: string;
  let running: FolderServer;
  const clients: Client[] = [];
  let feed: LiveFeed | undefined;
  before(async () => {
    root = await makeRoot();
    running = await startFolder(root);
  });
  after(async () => {
    await feed?.close();
    for (const c of clients) await c.close().catch(() => {});
    await running.close();
    await removeRoot(root);
  });

  test('every viewer sees every session: in the snapshot, live, and in the notifications', async () => {
    const url = running.server.url;
    const one = await connectClient(url, 'mcp');
    clients.push(one);
    const two = await connectClient(url, 'sse');
    clients.push(two);
    for (const c of [one, two]) await c.subscribeResource({ uri: 'file:///hello.txt' });
    feed = await openFeed(url);
    const hello = await feed.next((e) => e.event === 'hello', 'the snapshot');
    assert.deepEqual(listed(hello), [short(sessionIdOf(one)), short(sessionIdOf(two))].sort());
    const three = await connectClient(url, 'mcp');
    clients.push(three);
    await feed.next(isSession('opened', sessionIdOf(three)), 'the third session opening');
    await writeFile(join(root, 'hello.txt'), 'changed\n');
    const change = data(await feed.next(isChange('file:///hello.txt'), 'the change')) as unknown as FeedChange;
    assert.equal(change.recipients, 2);
    assert.deepEqual([...change.sessions].sort(), [short(sessionIdOf(one)), short(sessionIdOf(two))].sort());
    const id3 = sessionIdOf(three);
    await (three.transport as StreamableHTTPClientTransport).terminateSession();
    await feed.next(isSession('ended', id3), 'the third session ending');
  });
});

describe("a pass signed for one principal", () => {
  let root: string;
  let running: FolderServer;
  const { a, b } = STATIC;
  before(async () => {
    root = await makeRoot();
    running = await startFolder(root, { auth: STATIC.auth });
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
  });

  test('names that principal, and altered in any part it is refused: 401 for the feed and the script, the sign-in page for /', async () => {
    const url = running.server.url;
    const cookieA = await dashboardCookie(url, a.token);
    const cookieB = await dashboardCookie(url, b.token);
    const name = cookieA.slice(0, cookieA.indexOf('='));
    const [expires, who, sig] = cookieA.slice(name.length + 1).split('.') as [string, string, string];
    const [, whoB, sigB] = cookieB.slice(name.length + 1).split('.') as [string, string, string];
    assert.equal(Buffer.from(who ?? '', 'base64url').toString(), a.principal, "the pass does not name A's principal");
    assert.equal(Buffer.from(whoB ?? '', 'base64url').toString(), b.principal, "the pass does not name B's principal");
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    const tampered: Record<string, string> = {
      "A's pass renamed to B": `${expires}.${b64(b.principal)}.${sig}`,
      "B's principal with A's signature": `${expires}.${whoB}.${sig}`,
      "A's principal with B's signature": `${expires}.${who}.${sigB}`,
      "A's pass renamed to an OAuth subject": `${expires}.${b64('sub:anyone')}.${sig}`,
      "A's pass with a later expiry": `${Number(expires) + 3_600_000}.${who}.${sig}`,
      'a pass without its principal': `${expires}.${sig}`,
      'a pass with an empty principal': `${expires}..${sig}`,
    };
    for (const [what, pass] of Object.entries(tampered)) {
      const headers = { Cookie: `${name}=${pass}` };
      const events = await fetch(`${url}/_events`, { headers });
      assert.equal(events.status, 401, `${what}: the feed`);
      await events.body?.cancel();
      const script = await fetch(`${url}/_dashboard/app.js`, { headers });
      assert.equal(script.status, 401, `${what}: the script`);
      await script.body?.cancel();
      const page = await fetch(`${url}/`, { headers });
      assert.equal(page.status, 401, `${what}: the page`);
      assert.match(await page.text(), /name="token"/, `${what}: not the sign-in page`);
    }
    // The genuine passes still open the feed.
    for (const cookie of [cookieA, cookieB]) {
      const feed = await openFeed(url, { Cookie: cookie });
      await feed.next((e) => e.event === 'hello', 'the snapshot');
      await feed.close();
    }
  });
});
