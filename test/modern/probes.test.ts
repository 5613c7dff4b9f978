// The 2026-07-28 probes of the brief's test plan (M1–M19) against the library server, plus the
// multi round-trip and Mcp-Param checks: every answer's status, code, id echo and headers.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
import { statelessOf } from '../../src/wire/stateless.js';
import { cancelledCalls } from '../fixtures/everything.js';
import { rawSession, startServer, STREAMABLE_HEADERS, waitFor } from '../helpers.js';
import { META, modern, readSse, standardHeaders, VERSION, type ModernAnswer } from './helpers.js';

let server: McpWireServer;
let url: string;
let supported: string[];

before(async () => {
  server = await startServer();
  url = server.url;
});
after(async () => {
  await server.close();
});

/** Every 2026 answer: no session id; an error echoes the request id. */
function common(r: ModernAnswer, id: unknown): void {
  assert.equal(r.headers.get('mcp-session-id'), null);
  if (r.body?.error) assert.equal(r.body.id, id);
}

function expectError(r: ModernAnswer, status: number, code: number, id: unknown): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body?.error?.code, code, JSON.stringify(r.body));
  common(r, id);
}

const withoutKey = (k: string) => Object.fromEntries(Object.entries(META).filter(([key]) => key !== k));

describe('server/discover and _meta (M1–M5)', () => {
  test('M1: discover answers with versions, capabilities, serverInfo and caching hints', async () => {
    const r = await modern(url, 'server/discover', {}, { id: 'd-1' });
    assert.equal(r.status, 200);
    common(r, 'd-1');
    const result = r.body!.result!;
    assert.equal(r.body!.id, 'd-1');
    assert.equal(result.resultType, 'complete');
    supported = result.supportedVersions as string[];
    assert.ok(supported.includes(VERSION));
    assert.equal(typeof result.capabilities, 'object');
    assert.ok((result.capabilities as Record<string, unknown>).tools);
    const info = (result._meta as Record<string, { name: string; version: string }>)['io.modelcontextprotocol/serverInfo'];
    assert.deepEqual(info, { name: 'mcpwire-everything', version: '1.0.0' });
    assert.ok(Number.isInteger(result.ttlMs) && (result.ttlMs as number) >= 0);
    assert.ok(result.cacheScope === 'public' || result.cacheScope === 'private');
  });

  test('M2: clientInfo is optional', async () => {
    const r = await modern(url, 'server/discover', {}, { meta: withoutKey('io.modelcontextprotocol/clientInfo') });
    assert.equal(r.status, 200);
    assert.equal(r.body!.result!.resultType, 'complete');
  });

  test('M3: a missing _meta, protocolVersion or clientCapabilities is 400 -32602', async () => {
    const noMeta = await modern(url, 'server/discover', {}, { id: 31, body: JSON.stringify({ jsonrpc: '2.0', id: 31, method: 'server/discover', params: {} }) });
    expectError(noMeta, 400, -32602, 31);
    const noVersion = await modern(url, 'server/discover', {}, { id: 32, meta: withoutKey('io.modelcontextprotocol/protocolVersion') });
    expectError(noVersion, 400, -32602, 32);
    const noCaps = await modern(url, 'server/discover', {}, { id: 33, meta: withoutKey('io.modelcontextprotocol/clientCapabilities') });
    expectError(noCaps, 400, -32602, 33);
    assert.match(noCaps.body!.error!.message, /clientCapabilities/);
  });

  test('M4: an unsupported version is 400 -32022 naming what is supported', async () => {
    const r = await modern(url, 'server/discover', {}, { id: 'v', meta: { ...META, 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' }, headers: { 'MCP-Protocol-Version': 'v999.0.0' } });
    expectError(r, 400, -32022, 'v');
    const data = r.body!.error!.data as { requested: string; supported: string[] };
    assert.equal(data.requested, 'v999.0.0');
    assert.ok(data.supported.length > 0 && data.supported.every((v) => supported.includes(v)));
  });

  test('M5: _meta version differing from the header is 400 -32020 (before -32022)', async () => {
    const r = await modern(url, 'server/discover', {}, { id: 5, meta: { ...META, 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' } });
    expectError(r, 400, -32020, 5);
  });

  test('a 2025 version inside _meta is not served statelessly: -32022', async () => {
    const r = await modern(url, 'server/discover', {}, { id: 6, meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2025-11-25' }, headers: { 'MCP-Protocol-Version': '2025-11-25' } });
    expectError(r, 400, -32022, 6);
  });

  test('malformed _meta values are -32602: clientCapabilities not an object, clientInfo without version, unknown logLevel', async () => {
    for (const meta of [
      { ...META, 'io.modelcontextprotocol/clientCapabilities': 'all' },
      { ...META, 'io.modelcontextprotocol/clientInfo': { name: 'x' } },
      { ...META, 'io.modelcontextprotocol/logLevel': 'loud' },
      { ...META, 'io.modelcontextprotocol/protocolVersion': 2026 },
    ]) {
      const r = await modern(url, 'server/discover', {}, { id: 'm', meta });
      expectError(r, 400, -32602, 'm');
    }
  });
});

describe('standard headers (M6–M8)', () => {
  test('M6: a missing or wrong MCP-Protocol-Version or Mcp-Method is 400 -32020', async () => {
    const cases: Array<Record<string, string | null>> = [{ 'MCP-Protocol-Version': null }, { 'Mcp-Method': null }, { 'Mcp-Method': 'tools/call' }, { 'Mcp-Method': 'TOOLS/LIST' }];
    for (const headers of cases) {
      const r = await modern(url, 'tools/list', {}, { id: 'h', headers });
      expectError(r, 400, -32020, 'h');
    }
  });

  test('M7: tools/call without Mcp-Name, or naming another tool, is 400 -32020', async () => {
    const missing = await modern(url, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, { id: 71, headers: { 'Mcp-Name': null } });
    expectError(missing, 400, -32020, 71);
    const other = await modern(url, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, { id: 72, headers: { 'Mcp-Name': 'foo' } });
    expectError(other, 400, -32020, 72);
    const badBase64 = await modern(url, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, { id: 73, headers: { 'Mcp-Name': '=?base64?ZWNo!!8=?=' } });
    expectError(badBase64, 400, -32020, 73);
  });

  test('M8: header names in any case, padded values and base64 names are served', async () => {
    const lower = await modern(url, 'tools/list', {}, { headers: { 'Mcp-Method': null, 'mcp-method': 'tools/list' } });
    assert.equal(lower.status, 200);
    const b64 = await modern(url, 'tools/call', { name: 'echo', arguments: { text: 'hi' } }, { headers: { 'Mcp-Name': `=?base64?${Buffer.from('echo').toString('base64')}?=` } });
    assert.equal(b64.status, 200);
    assert.deepEqual(b64.body!.result!.content, [{ type: 'text', text: 'hi' }]);
    // A raw request, so the padding reaches the server as written.
    const body = JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'echo', arguments: { text: 'pad' }, _meta: META } });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(new URL('/mcp', url), { method: 'POST', headers: { ...standardHeaders('tools/call', { name: 'echo' }), 'Mcp-Name': '  echo  ' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(status, 200);
  });
});

describe('methods, capabilities and results (M9–M14)', () => {
  test('M9: methods outside 2026-07-28 are 404 -32601, id echoed', async () => {
    for (const method of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe', 'unknown/method', 'x/<img src=x onerror=alert(1)>']) {
      const r = await modern(url, method, {}, { id: `n-${method}` });
      expectError(r, 404, -32601, `n-${method}`);
      assert.ok(!JSON.stringify(r.body!.error).includes(method), 'the method is not echoed');
    }
  });

  test('M10: a tool needing an undeclared capability is 400 -32021 with requiredCapabilities', async () => {
    const r = await modern(url, 'tools/call', { name: 'test_missing_capability', arguments: {} }, { id: 10 });
    expectError(r, 400, -32021, 10);
    assert.deepEqual(r.body!.error!.data, { requiredCapabilities: { sampling: {} } });
  });

  test('M11: list and read results carry resultType, ttlMs, cacheScope and serverInfo', async () => {
    for (const [method, params] of [
      ['tools/list', {}],
      ['resources/list', {}],
      ['prompts/list', {}],
      ['resources/templates/list', {}],
      ['resources/read', { uri: 'test://static-text' }],
    ] as const) {
      const r = await modern(url, method, params);
      assert.equal(r.status, 200, method);
      const result = r.body!.result!;
      assert.equal(result.resultType, 'complete', method);
      assert.ok(Number.isInteger(result.ttlMs) && (result.ttlMs as number) >= 0, method);
      assert.ok(result.cacheScope === 'public' || result.cacheScope === 'private', method);
      assert.ok((result._meta as Record<string, unknown>)['io.modelcontextprotocol/serverInfo'], method);
    }
    const call = await modern(url, 'tools/call', { name: 'test_simple_text', arguments: {} });
    assert.equal(call.body!.result!.resultType, 'complete');
    assert.equal(call.body!.result!.ttlMs, undefined, 'a tool result is not cacheable');
  });

  test('M12: reading a missing resource is -32602 with the URI, never -32002', async () => {
    const r = await modern(url, 'resources/read', { uri: 'test://nope' }, { id: 12 });
    assert.equal(r.body?.error?.code, -32602);
    assert.equal((r.body!.error!.data as { uri: string }).uri, 'test://nope');
    assert.equal(r.body!.result, undefined);
    common(r, 12);
  });

  test('M13: log messages only with a logLevel; progress and logs on the response stream before the result', async () => {
    const quiet = await modern(url, 'tools/call', { name: 'log_and_progress', arguments: {} });
    assert.equal(quiet.status, 200);
    assert.ok(quiet.contentType.includes('application/json'), 'nothing to stream without a logLevel or progress token');
    const loud = await modern(url, 'tools/call', { name: 'log_and_progress', arguments: {} }, {
      id: 'loud',
      meta: { ...META, 'io.modelcontextprotocol/logLevel': 'debug', progressToken: 'p-1' },
    });
    assert.ok(loud.contentType.includes('text/event-stream'));
    const methods = loud.events.map((e) => e.method ?? 'response');
    assert.deepEqual(methods, ['notifications/message', 'notifications/progress', 'notifications/message', 'notifications/progress', 'response']);
    assert.equal((loud.events[1]!.params as { progressToken: string }).progressToken, 'p-1');
    assert.doesNotMatch(loud.raw, /^id:/m, 'no event ids on a 2026 stream');
    assert.equal(loud.headers.get('x-accel-buffering'), 'no');
    const filtered = await modern(url, 'tools/call', { name: 'test_logging_tool', arguments: {} }, { meta: { ...META, 'io.modelcontextprotocol/logLevel': 'warning' } });
    const levels = filtered.events.filter((e) => e.method === 'notifications/message').map((e) => (e.params as { level: string }).level);
    assert.deepEqual(levels, ['warning']);
  });

  test('M14: a tool that elicits answers input_required (no request frame); the retry completes', async () => {
    const meta = { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };
    const r1 = await modern(url, 'tools/call', { name: 'test_input_required_result_elicitation', arguments: {} }, { meta });
    assert.equal(r1.status, 200);
    assert.ok(r1.events.every((e) => !('method' in e && 'id' in e)), 'no JSON-RPC request on the stream');
    const result = r1.body!.result!;
    assert.equal(result.resultType, 'input_required');
    const inputRequests = result.inputRequests as Record<string, { method: string; params: Record<string, unknown> }>;
    assert.deepEqual(Object.keys(inputRequests), ['user_name']);
    assert.equal(inputRequests.user_name!.method, 'elicitation/create');
    assert.equal(inputRequests.user_name!.params._meta, undefined, "mcpwire's key hint is not passed on");
    assert.equal(typeof result.requestState, 'string');
    const r2 = await modern(url, 'tools/call', {
      name: 'test_input_required_result_elicitation',
      arguments: {},
      inputResponses: { user_name: { action: 'accept', content: { name: 'Ada' } } },
      requestState: result.requestState,
    }, { meta });
    assert.equal(r2.body!.result!.resultType, 'complete');
    assert.deepEqual(r2.body!.result!.content, [{ type: 'text', text: 'Hello, Ada!' }]);
  });

  test('multi-round: the second round carries the first answer in requestState', async () => {
    const meta = { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };
    const call = (extra: Record<string, unknown>) => modern(url, 'tools/call', { name: 'test_input_required_result_multi_round', arguments: {}, ...extra }, { meta });
    const r1 = (await call({})).body!.result!;
    assert.deepEqual(Object.keys(r1.inputRequests as object), ['step1']);
    const r2 = (await call({ inputResponses: { step1: { action: 'accept', content: { name: 'Ada' } } }, requestState: r1.requestState })).body!.result!;
    assert.deepEqual(Object.keys(r2.inputRequests as object), ['step2']);
    assert.notEqual(r2.requestState, r1.requestState);
    const r3 = (await call({ inputResponses: { step2: { action: 'accept', content: { color: 'green' } } }, requestState: r2.requestState })).body!.result!;
    assert.deepEqual(r3.content, [{ type: 'text', text: 'Ada likes green' }]);
  });

  test('a tampered, foreign or malformed requestState and malformed inputResponses are -32602', async () => {
    const meta = { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };
    const first = await modern(url, 'tools/call', { name: 'test_input_required_result_request_state', arguments: {} }, { meta });
    const state = first.body!.result!.requestState as string;
    const answers = { confirm: { action: 'accept', content: { ok: true } } };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['test_input_required_result_request_state', { inputResponses: answers, requestState: `${state}x` }],
      ['test_input_required_result_request_state', { inputResponses: answers, requestState: `A${state}` }],
      // Issued for another tool: refused even though the signature is good.
      ['test_input_required_result_tampered_state', { inputResponses: answers, requestState: state }],
      ['test_input_required_result_request_state', { inputResponses: answers, requestState: 42 }],
      ['test_input_required_result_request_state', { inputResponses: { confirm: 'yes' } }],
      ['test_input_required_result_request_state', { inputResponses: null }],
    ];
    for (const [name, extra] of cases) {
      const r = await modern(url, 'tools/call', { name, arguments: {}, ...extra }, { id: 'st', meta });
      assert.equal(r.body?.error?.code, -32602, `${name} ${JSON.stringify(extra).slice(0, 80)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body!.id, 'st');
    }
    const good = await modern(url, 'tools/call', { name: 'test_input_required_result_request_state', arguments: {}, inputResponses: answers, requestState: state }, { meta });
    assert.match(JSON.stringify(good.body!.result!.content), /state-ok/);
  });

  test('input_required only where 2026-07-28 allows it: a list request never gets one', async () => {
    const r = await modern(url, 'tools/list', { inputResponses: { x: {} } });
    assert.equal(r.body!.result!.resultType, 'complete');
  });
});

describe('Mcp-Param headers', () => {
  const call = (args: Record<string, unknown>, headers: Record<string, string | null>) =>
    modern(url, 'tools/call', { name: 'region_query', arguments: args }, { id: 'p', headers });

  test('matching headers (plain, base64, numerically equal integers) are served', async () => {
    assert.equal((await call({ region: 'us-west1' }, { 'Mcp-Param-Region': 'us-west1' })).status, 200);
    assert.equal((await call({ region: 'Grüße' }, { 'Mcp-Param-Region': `=?base64?${Buffer.from('Grüße').toString('base64')}?=` })).status, 200);
    assert.equal((await call({ region: 'eu', priority: 42 }, { 'Mcp-Param-Region': 'eu', 'mcp-param-priority': '42.0' })).status, 200);
  });

  test('a missing, different, invalid or unbacked header is 400 -32020', async () => {
    for (const [args, headers] of [
      [{ region: 'eu' }, {}],
      [{ region: 'eu' }, { 'Mcp-Param-Region': 'us' }],
      [{ region: 'eu' }, { 'Mcp-Param-Region': '=?base64?ZXU?=' }],
      [{ region: 'eu', priority: 1 }, { 'Mcp-Param-Region': 'eu', 'Mcp-Param-Priority': '2' }],
      [{ region: 'eu' }, { 'Mcp-Param-Region': 'eu', 'Mcp-Param-Priority': '2' }],
    ] as const) {
      expectError(await call(args, headers), 400, -32020, 'p');
    }
  });
});

describe('sessions, notifications, batches, cancellation, origin (M15–M19)', () => {
  test('M15: a live Mcp-Session-Id and Last-Event-ID on a 2026 request are ignored; the 2025 session is untouched', async () => {
    const sid = await rawSession(url);
    const r = await modern(url, 'server/discover', {}, { headers: { 'Mcp-Session-Id': sid, 'Last-Event-ID': 'x' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('mcp-session-id'), null);
    const legacy = await fetch(new URL('/mcp', url), {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(legacy.status, 200);
    assert.equal(legacy.headers.get('mcp-session-id'), sid);
    const events = await readSse(legacy, (m) => m.id === 1);
    assert.ok(Array.isArray((events.events.at(-1)!.result as { tools: unknown[] }).tools));
  });

  test('M16: a notification with the 2026 header is 202 with no body', async () => {
    const res = await fetch(new URL('/mcp', url), {
      method: 'POST',
      headers: { ...standardHeaders('notifications/cancelled', undefined) },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } }),
    });
    assert.equal(res.status, 202);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('mcp-session-id'), null);
  });

  test('M17: a batch is 400 -32600', async () => {
    const one = { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } };
    const r = await modern(url, 'server/discover', {}, { body: JSON.stringify([one]) });
    assert.equal(r.status, 400);
    assert.equal(r.body?.error?.code, -32600);
  });

  test('M18: closing the response stream cancels the request; nothing stays running', async () => {
    const ac = new AbortController();
    const id = `cancel-${Date.now()}`;
    const res = await fetch(new URL('/mcp', url), {
      method: 'POST',
      headers: standardHeaders('tools/call', { name: 'wait_for_cancel' }),
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'wait_for_cancel', arguments: {}, _meta: { ...META, progressToken: 1 } } }),
      signal: ac.signal,
    });
    assert.ok(res.headers.get('content-type')!.includes('text/event-stream'));
    const reader = res.body!.getReader();
    await reader.read(); // the progress notification: the handler is running
    ac.abort();
    await waitFor(() => cancelledCalls.has(id), 10_000, 'the handler to see its cancellation');
    const endpoint = statelessOf(server.handler.sessions)!;
    await waitFor(() => endpoint.inFlight === 0, 10_000, 'no stateless request left running');
  });

  test('M19: a bad Origin is 403', async () => {
    const r = await modern(url, 'server/discover', {}, { headers: { Origin: 'http://evil.example.com' } });
    assert.equal(r.status, 403);
  });

  test('bad bodies: not JSON is -32700, not JSON-RPC is -32600, wrong content type is 415 (nothing echoed)', async () => {
    const notJson = await modern(url, 'server/discover', {}, { body: '{"secret-input' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body?.error?.code, -32700);
    assert.doesNotMatch(notJson.raw, /secret-input/);
    const notRpc = await modern(url, 'server/discover', {}, { body: '{"hello":1}' });
    assert.equal(notRpc.body?.error?.code, -32600);
    const type = await modern(url, 'server/discover', {}, { headers: { 'Content-Type': 'text/plain' } });
    assert.equal(type.status, 415);
  });
});

describe('CORS for 2026 browser clients', () => {
  test('a preflight allows the 2026 headers, and Mcp-Param-* headers by name', async () => {
    const s = await startServer({ cors: { origins: ['http://app.example'] } });
    try {
      const res = await fetch(new URL('/mcp', s.url), {
        method: 'OPTIONS',
        headers: { Origin: 'http://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'mcp-method, mcp-name, mcp-param-region, x-other' },
      });
      assert.equal(res.status, 204);
      const allowed = res.headers.get('access-control-allow-headers')!.toLowerCase().split(/,\s*/);
      for (const h of ['mcp-method', 'mcp-name', 'mcp-protocol-version', 'mcp-param-region']) assert.ok(allowed.includes(h), h);
      assert.ok(!allowed.includes('x-other'));
    } finally {
      await s.close();
    }
  });
});
