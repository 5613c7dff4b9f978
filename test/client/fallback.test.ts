// Finding the wire format: Streamable HTTP first; legacy SSE only after 400/404/405, at the same
// URL and then at the sibling /sse; every other failure reported as it is.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  AutoTransport,
  connect,
  HttpError,
  legacyCandidates,
  NetworkError,
  NoTransportError,
  type McpWireServer,
} from '../../src/index.js';
import { sleep, startServer } from '../helpers.js';
import { startSdkServer, type SdkServer } from './sdk-server.js';

/** A server that answers every request with `status` and records what it was asked. */
async function fixedStatusServer(status: number): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: `fixed ${status}` } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const newClient = () => new Client({ name: 'fallback-test', version: '1.0.0' });

test('the legacy URLs tried: the same URL, then the sibling /sse', () => {
  assert.deepEqual(legacyCandidates(new URL('http://h:1/mcp')).map(String), ['http://h:1/mcp', 'http://h:1/sse']);
  assert.deepEqual(legacyCandidates(new URL('http://h:1/api/v1/mcp?k=1')).map(String), ['http://h:1/api/v1/mcp?k=1', 'http://h:1/api/v1/sse?k=1']);
  assert.deepEqual(legacyCandidates(new URL('http://h:1/sse')).map(String), ['http://h:1/sse']);
  assert.deepEqual(legacyCandidates(new URL('http://h:1/')).map(String), ['http://h:1/', 'http://h:1/sse']);
});

describe('against a legacy-only server (the SDK’s SSEServerTransport; /mcp is a 404)', () => {
  let sdk: SdkServer;
  before(async () => {
    sdk = await startSdkServer({ streamable: false });
  });
  after(async () => {
    await sdk.close();
  });

  test('given /mcp: POST 404, GET /mcp 404, then GET /sse works: the client ends on SSE', async () => {
    sdk.requests.length = 0;
    const transport = new AutoTransport(`${sdk.url}/mcp`);
    const client = newClient();
    await client.connect(transport);
    assert.equal(transport.kind, 'sse');
    const r = await client.callTool({ name: 'echo', arguments: { text: 'legacy' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'legacy' }]);
    assert.deepEqual(sdk.requests.slice(0, 3).map((x) => x.line), ['POST /mcp', 'GET /mcp', 'GET /sse']);
    await client.close();
  });

  test('given /sse: POST refused, then GET of the same URL', async () => {
    sdk.requests.length = 0;
    const client = await connect(`${sdk.url}/sse`);
    assert.deepEqual(sdk.requests.slice(0, 2).map((x) => x.line), ['POST /sse', 'GET /sse']);
    assert.equal(client.getServerVersion()?.name, 'mcpwire-everything');
    await client.close();
  });
});

describe('against mcpwire’s server', () => {
  let server: McpWireServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  test('given /mcp it stays on Streamable HTTP', async () => {
    const transport = new AutoTransport(`${server.url}/mcp`);
    const client = newClient();
    await client.connect(transport);
    assert.equal(transport.kind, 'streamable');
    await client.close();
  });

  test('given /sse: POST /sse is 405, and the same URL serves legacy SSE', async () => {
    const transport = new AutoTransport(`${server.url}/sse`);
    const client = newClient();
    await client.connect(transport);
    assert.equal(transport.kind, 'sse');
    assert.equal((await client.listTools()).tools.length > 0, true);
    await client.close();
  });
});

describe('errors that are not a missing transport are not hidden by a fallback', () => {
  for (const status of [500, 401, 403, 503]) {
    test(`${status}: reported as it is, and no GET was tried`, async () => {
      const s = await fixedStatusServer(status);
      try {
        const client = newClient();
        await assert.rejects(client.connect(new AutoTransport(`${s.url}/mcp`)), (err: unknown) => {
          assert.ok(err instanceof HttpError, String(err));
          assert.equal(err.status, status);
          assert.equal(err.rpcError?.message, `fixed ${status}`);
          return true;
        });
        assert.deepEqual(s.seen, ['POST /mcp']);
      } finally {
        await s.close();
      }
    });
  }

  test('a refused connection is a NetworkError, with no fallback', async () => {
    const s = await fixedStatusServer(500);
    await s.close(); // the port is now closed
    await assert.rejects(newClient().connect(new AutoTransport(`${s.url}/mcp`)), (err: unknown) => {
      assert.ok(err instanceof NetworkError, String(err));
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
  });

  test('when the fallback finds nothing either, every attempt is named', async () => {
    const s = await fixedStatusServer(404);
    try {
      await assert.rejects(newClient().connect(new AutoTransport(`${s.url}/mcp`)), (err: unknown) => {
        assert.ok(err instanceof NoTransportError, String(err));
        assert.equal(err.attempts.length, 3);
        assert.match(err.message, /POST .*\/mcp answered 404.*GET .*\/mcp answered 404.*GET .*\/sse answered 404/);
        return true;
      });
      assert.deepEqual(s.seen, ['POST /mcp', 'GET /mcp', 'GET /sse']);
    } finally {
      await s.close();
    }
  });
});

/** A fetch whose POSTs take `ms` to go out (a slow link); the wait ends when the request is aborted. */
function slowPosts(ms: number): FetchLike {
  return async (url, init) => {
    if (init?.method === 'POST') {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, ms);
        init.signal?.addEventListener('abort', () => (clearTimeout(timer), reject(init.signal!.reason)), { once: true });
      });
    }
    return fetch(url, init);
  };
}

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'closer', version: '1' } } } as const;

/** Sends initialize, closes the transport while it is still choosing, and waits out the slow POST. */
async function closeWhileChoosing(transport: AutoTransport): Promise<void> {
  const sending = transport.send(INITIALIZE).then(
    () => 'sent',
    (e: Error) => e.message,
  );
  await sleep(100);
  await transport.close();
  assert.match(await sending, /closed/);
  await sleep(800); // past the slow POST: a transport still trying would have made its session (or stream) by now
  assert.equal(transport.kind, undefined);
}

describe('closed while the wire format is still being chosen', () => {
  test('Streamable HTTP: nothing is chosen afterwards, and no session is left on the server', async () => {
    const server = await startServer();
    try {
      await closeWhileChoosing(new AutoTransport(`${server.url}/mcp`, { fetch: slowPosts(400) }));
      assert.equal(server.handler.sessions.sessions.size, 0);
    } finally {
      await server.close();
    }
  });

  test('legacy fallback: no legacy stream is opened after close()', async () => {
    const sdk = await startSdkServer({ streamable: false });
    try {
      await closeWhileChoosing(new AutoTransport(`${sdk.url}/mcp`, { fetch: slowPosts(400), reconnect: { initialDelayMs: 50, maxDelayMs: 100 } }));
      assert.deepEqual(
        sdk.requests.map((r) => r.line).filter((l) => l.startsWith('GET')),
        [],
      );
      assert.equal(sdk.legacy.size, 0);
    } finally {
      await sdk.close();
    }
  });
});
