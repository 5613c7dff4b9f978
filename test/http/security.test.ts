// Secure defaults: bearer auth on every endpoint, sessions bound to their principal, Origin and Host
// checks, CORS when asked for, protected-resource metadata, and no open non-loopback bind by accident.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
import { INIT, STREAMABLE_HEADERS, connectClient, rawSession, startServer } from '../helpers.js';

describe('sessions per principal', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer({
      maxSessionsPerPrincipal: 2,
      auth: {
        tokens: ['alpha-token', 'gamma-token'],
        // OAuth tokens of one client: with a subject they stand for one user, without one for every user of the client.
        verifyToken: (token) =>
          token.startsWith('oauth-') ? { token, clientId: 'shared-app', scopes: [], ...(token.includes('sub') ? { extra: { sub: 'user-s' } } : {}) } : undefined,
      },
    });
  });
  after(() => server.close());

  test('a principal at its limit gets 429 on either wire format, others do not, and ending one frees a place', async () => {
    const alpha = { Authorization: 'Bearer alpha-token' };
    const legacy = await connectClient(server.url, 'sse', {}, alpha);
    const gamma = await connectClient(server.url, 'mcp', {}, { Authorization: 'Bearer gamma-token' });
    try {
      const first = await rawSession(server.url, alpha);
      for (const [path, init] of [
        ['/mcp', { method: 'POST', headers: { ...STREAMABLE_HEADERS, ...alpha }, body: JSON.stringify(INIT) }],
        ['/sse', { headers: { Accept: 'text/event-stream', ...alpha } }],
      ] as const) {
        const refused = await fetch(new URL(path, server.url), { ...init, signal: AbortSignal.timeout(5_000) });
        assert.equal(refused.status, 429, path);
        assert.equal(refused.headers.get('retry-after'), '5');
        const body = (await refused.json()) as { error: { code: number; message: string } };
        assert.equal(body.error.code, -32000);
        assert.match(body.error.message, /^Too Many Requests: you hold as many sessions/);
      }
      assert.deepEqual(server.handler.health().sessions, { legacy: 1, streamable: 2 });
      const ended = await fetch(new URL('/mcp', server.url), { method: 'DELETE', headers: { ...alpha, 'Mcp-Session-Id': first } });
      assert.equal(ended.status, 200);
      const again = await rawSession(server.url, alpha);
      assert.ok(again);
    } finally {
      await Promise.all([legacy.close(), gamma.close()]);
    }
  });

  test('an OAuth subject is limited like a token; the users of an OAuth client whose tokens name no subject are not limited together', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await rawSession(server.url, { Authorization: `Bearer oauth-user-${i}` }));
    assert.equal(new Set(ids).size, 3, 'three sessions for three users of one client, past the limit of 2');
    await rawSession(server.url, { Authorization: 'Bearer oauth-sub-1' });
    await rawSession(server.url, { Authorization: 'Bearer oauth-sub-2' });
    const refused = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, Authorization: 'Bearer oauth-sub-3' },
      body: JSON.stringify(INIT),
    });
    assert.equal(refused.status, 429);
    await refused.text();
  });
});

describe('bearer auth', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer({
      auth: {
        tokens: ['alpha-token'],
        verifyToken: (token) =>
          token === 'beta-token' ? { token, clientId: 'beta-client', scopes: ['mcp'], extra: { sub: 'user-b' } } : undefined,
        resourceMetadata: { resource: 'http://127.0.0.1/mcp', authorizationServers: ['https://auth.example.com'] },
      },
    });
  });
  after(() => server.close());

  for (const [path, method] of [['/mcp', 'POST'], ['/mcp', 'GET'], ['/mcp', 'DELETE'], ['/sse', 'GET'], ['/messages?sessionId=x', 'POST']] as const) {
    test(`${method} ${path} without a token → 401 with a Bearer challenge`, async () => {
      const res = await fetch(new URL(path, server.url), { method, headers: STREAMABLE_HEADERS, body: method === 'POST' ? JSON.stringify(INIT) : null });
      assert.equal(res.status, 401);
      const challenge = res.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer /);
      assert.match(challenge, /resource_metadata="http:\/\/127\.0\.0\.1\/\.well-known\/oauth-protected-resource\/mcp"/);
      assert.equal(((await res.json()) as { error: { code: number } }).error.code, -32000);
    });
  }

  test('a wrong token → 401 invalid_token', async () => {
    const res = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, Authorization: 'Bearer wrong' },
      body: JSON.stringify(INIT),
    });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  test('a static token and a verified token both work, on both wire formats', async () => {
    for (const token of ['alpha-token', 'beta-token']) {
      for (const wire of ['sse', 'mcp'] as const) {
        const client = await connectClient(server.url, wire, {}, { Authorization: `Bearer ${token}` });
        const r = await client.callTool({ name: 'echo', arguments: { text: token } });
        assert.deepEqual(r.content, [{ type: 'text', text: token }]);
        await client.close();
      }
    }
  });

  test('a session id presented by another principal is unknown (404)', async () => {
    const id = await rawSession(server.url, { Authorization: 'Bearer alpha-token' });
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const stolen = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, Authorization: 'Bearer beta-token', 'Mcp-Session-Id': id },
      body: ping,
    });
    assert.equal(stolen.status, 404);
    assert.equal(((await stolen.json()) as { error: { code: number } }).error.code, -32001);
    const own = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, Authorization: 'Bearer alpha-token', 'Mcp-Session-Id': id },
      body: ping,
    });
    assert.equal(own.status, 200);
    await own.text();
  });

  test('the protected-resource metadata is public', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const res = await fetch(new URL(path, server.url));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        resource: 'http://127.0.0.1/mcp',
        authorization_servers: ['https://auth.example.com'],
        bearer_methods_supported: ['header'],
      });
    }
  });

  test('health needs no token', async () => {
    const res = await fetch(new URL('/health', server.url));
    assert.equal(res.status, 200);
  });
});

describe('a token check that takes time', () => {
  test('a client that leaves during it leaves nothing behind: no session, no stream held', async () => {
    const server = await startServer({
      auth: { verifyToken: async (token) => (await new Promise((r) => setTimeout(r, 150)), token === 'slow-token' ? { token, clientId: 'slow', scopes: [] } : undefined) },
    });
    try {
      const sid = await rawSession(server.url, { Authorization: 'Bearer slow-token' });
      const leaves = (request: string) =>
        new Promise<void>((resolve) => {
          const socket = connect(server.port, '127.0.0.1', () => socket.write(request));
          socket.on('error', () => {});
          setTimeout(() => (socket.destroy(), resolve()), 50);
        });
      const head = (line: string, extra = '') => `${line}\r\nHost: 127.0.0.1:${server.port}\r\nAccept: text/event-stream\r\nAuthorization: Bearer slow-token\r\n${extra}\r\n`;
      await leaves(head('GET /sse HTTP/1.1'));
      await leaves(head('GET /mcp HTTP/1.1', `Mcp-Session-Id: ${sid}\r\nMCP-Protocol-Version: 2025-11-25\r\n`));
      await new Promise((r) => setTimeout(r, 400)); // the checks are over
      const engine = server.handler.sessions;
      assert.equal(engine.connections.open.size, 0, 'no stream held for a client that is gone');
      assert.deepEqual([...engine.sessions.values()].map((s) => [s.wire, s.attachedStreams]), [['streamable', 0]], 'only the session made before');
    } finally {
      await server.close();
    }
  });
});

describe('Origin and Host', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer({ allowedOrigins: ['https://app.example.com'] });
  });
  after(() => server.close());

  const post = (headers: Record<string, string>) =>
    fetch(new URL('/mcp', server.url), { method: 'POST', headers: { ...STREAMABLE_HEADERS, ...headers }, body: JSON.stringify(INIT) });

  test('no Origin (not a browser) is served', async () => {
    const res = await post({});
    assert.equal(res.status, 200);
    await res.text();
  });

  test('the server’s own origin is served', async () => {
    const res = await post({ Origin: server.url });
    assert.equal(res.status, 200);
    await res.text();
  });

  test('a listed origin is served; another loopback origin is not', async () => {
    const listed = await post({ Origin: 'https://app.example.com' });
    assert.equal(listed.status, 200);
    await listed.text();
    const other = await post({ Origin: 'http://localhost:5173' });
    assert.equal(other.status, 403);
    const body = (await other.json()) as { id: unknown; error: { code: number } };
    assert.equal(body.id, null);
    assert.equal(body.error.code, -32000);
  });
});

describe('CORS', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer({ cors: { origins: ['https://ui.example.com'] } });
  });
  after(() => server.close());

  test('a preflight from an allowed origin lists the MCP headers', async () => {
    const res = await fetch(new URL('/mcp', server.url), {
      method: 'OPTIONS',
      headers: { Origin: 'https://ui.example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'mcp-session-id' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://ui.example.com');
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['mcp-session-id', 'mcp-protocol-version', 'last-event-id', 'authorization', 'content-type']) assert.ok(allowed.includes(h), h);
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /DELETE/);
  });

  test('a preflight from another origin is refused', async () => {
    const res = await fetch(new URL('/mcp', server.url), { method: 'OPTIONS', headers: { Origin: 'https://evil.example.com', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(res.status, 403);
  });

  test('responses expose Mcp-Session-Id to the allowed origin', async () => {
    const res = await fetch(new URL('/mcp', server.url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, Origin: 'https://ui.example.com' },
      body: JSON.stringify(INIT),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://ui.example.com');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /Mcp-Session-Id/);
    await res.text();
  });

  test('without a cors option there is no CORS header and OPTIONS is 405', async () => {
    const plain = await startServer();
    try {
      const res = await fetch(new URL('/mcp', plain.url), { method: 'OPTIONS', headers: { Origin: plain.url } });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    } finally {
      await plain.close();
    }
  });
});

describe('binding', () => {
  test('a non-loopback bind without auth is refused unless insecure', async () => {
    await assert.rejects(startServer({ host: '0.0.0.0' }), /without auth/);
    const s = await startServer({ host: '0.0.0.0', insecure: true });
    await s.close();
    const t = await startServer({ host: '0.0.0.0', auth: { tokens: ['x'] } });
    await t.close();
  });
});

describe('streams', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer({ keepAliveMs: 200 });
  });
  after(() => server.close());

  test('headers and a first event at once, then keepalive comments, with anti-buffering headers', async () => {
    const id = await rawSession(server.url);
    const started = Date.now();
    const res = await fetch(new URL('/mcp', server.url), { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': id } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('cache-control'), 'no-cache, no-transform');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^id: g\.0\nretry: 1000\ndata: \n\n/);
    let text = '';
    while (!text.includes(': keepalive')) text += new TextDecoder().decode((await reader.read()).value);
    assert.ok(Date.now() - started < 5_000);
    await reader.cancel();
  });

  test('the legacy stream starts with the endpoint event (with an event id naming its session), then keeps alive', async () => {
    const res = await fetch(new URL('/sse', server.url), { headers: { Accept: 'text/event-stream' } });
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes(': keepalive')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const m = /^retry: 1000\nevent: endpoint\nid: ([0-9a-f-]{36})\/l\.0\ndata: \/messages\?sessionId=([0-9a-f-]{36})\n\n/.exec(text);
    assert.ok(m, text);
    assert.equal(m[1], m[2]);
  });
});
