// Children that misbehave, one child per session: crashes, garbage and over-long lines on stdout, a
// child that ignores SIGTERM, a child that stops reading, too many children. Each fault gets a clear
// answer and touches no other session.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryEventStore, type EventStore, type StreamLog } from '../../src/index.js';
import { readEvents, sleep, STREAMABLE_HEADERS, waitFor } from '../helpers.js';
import {
  TINY,
  alive,
  call,
  capturingLogger,
  gatewayPerTest,
  deleteSession,
  initialize,
  openSession,
  post,
  textOf,
} from './fixtures/gateway.js';

const gateway = gatewayPerTest();

async function whoami(url: string, sid: string): Promise<{ pid: number; cwd: string; env: string | null; initializes: number; subscriptions: string[] }> {
  return JSON.parse(textOf((await post(url, call('who', 'whoami'), sid)).body));
}

describe('a child that crashes mid-call', () => {
  test('the pending request gets a JSON-RPC error with the exit code and last stderr lines; the session ends; a log line says why', async () => {
    const { logger, records } = capturingLogger();
    const gw = await gateway({ ...TINY, logger });
    const sid = await openSession(gw.url);
    const other = await openSession(gw.url);
    const r = await post(gw.url, call(1, 'crash'), sid);
    assert.equal(r.status, 200);
    assert.equal(r.body.error.code, -32603);
    assert.match(r.body.error.message, /The server process exited with code 3 before answering/);
    assert.equal(r.body.error.data.exitCode, 3);
    assert.ok(r.body.error.data.stderr.includes('tiny: about to crash on purpose'), JSON.stringify(r.body.error.data));
    await waitFor(() => gw.server.handler.sessions.sessions.size === 1, 5_000, 'the crashed session to end');
    const after = await post(gw.url, call(2, 'echo', { text: 'still there?' }), sid);
    assert.equal(after.status, 404);
    const line = records.find((l) => l.level === 50 && /server process exited with code 3/.test(l.msg));
    assert.ok(line, 'an error log line for the exit');
    assert.equal(line.exitCode, 3);
    assert.ok(line.stderr.includes('tiny: about to crash on purpose'));
    assert.equal(line.sessionId, sid);
    assert.ok(records.some((l) => l.stderr === 'tiny: about to crash on purpose' && l.msg === 'server process stderr'), 'stderr goes to the logs');
    // The other session and its child are untouched.
    assert.equal(textOf((await post(gw.url, call(3, 'echo', { text: 'fine' }), other)).body), 'fine');
    assert.equal(gw.gateway.stats.failed, 1);
  });

  test('a child that closes its stdout and runs on: its request in flight gets an error, the child is stopped, the session ends', async () => {
    const gw = await gateway(TINY);
    const sid = await openSession(gw.url);
    const { pid } = await whoami(gw.url, sid);
    const r = await post(gw.url, call(1, 'closeStdout'), sid, 10_000);
    assert.equal(r.body?.error?.code, -32603, JSON.stringify(r.body));
    assert.match(r.body.error.message, /closed its stdout while running/);
    await waitFor(() => !alive(pid), 10_000, 'the child to be stopped');
    await waitFor(() => gw.server.handler.sessions.sessions.size === 0, 5_000, 'the session to end');
    assert.equal(gw.gateway.stats.failed, 1, 'counted as a failure, not as a stop the gateway asked for');
  });

  for (const shared of [false, true]) {
    test(`${shared ? '--shared' : 'isolated'}: a request nested too deep to pass to the child gets an error with its id; the session goes on`, async () => {
      const gw = await gateway({ ...TINY, shared });
      const sid = await openSession(gw.url);
      // JSON.parse takes 20,000 levels; JSON.stringify, writing it to the child, overflows the stack.
      const deep = '{"x":'.repeat(20_000) + '1' + '}'.repeat(20_000);
      const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"deep","deep":${deep}}}}`;
      const res = await fetch(new URL('/mcp', gw.url), { method: 'POST', headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid }, body, signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      const answers = (await res.text()).split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as { id?: unknown; error?: { code: number; message: string } });
      const answer = answers.find((m) => m.id === 1);
      assert.equal(answer?.error?.code, -32603, JSON.stringify(answers).slice(0, 300));
      assert.match(answer.error.message, /could not be passed to the server/);
      assert.equal(textOf((await post(gw.url, call(2, 'echo', { text: 'fine' }), sid)).body), 'fine');
      assert.equal(gw.server.handler.sessions.sessions.get(sid)?.pendingRequests, 0, 'nothing left in flight');
    });
  }

  test('a command that cannot be run answers initialize with an error naming the failure', async () => {
    const gw = await gateway({ command: 'mcpwire-no-such-command-anywhere' });
    const r = await post(gw.url, initialize());
    assert.equal(r.body.error.code, -32603);
    assert.match(r.body.error.message, /exited with code 127/);
    assert.match(r.body.error.data.stderr.join('\n'), /not found/);
  });
});

describe('a child that writes garbage on stdout', () => {
  test('lines that are not JSON-RPC are logged and dropped; the session goes on', async () => {
    const { logger, records } = capturingLogger();
    const gw = await gateway({ ...TINY, logger });
    const sid = await openSession(gw.url);
    const r = await post(gw.url, call(1, 'garbage'), sid);
    assert.equal(textOf(r.body), 'said some garbage');
    assert.equal(gw.gateway.stats.garbageLines, 4);
    assert.ok(records.some((l) => l.level === 40 && l.line === 'this is not JSON'), 'a warning with a preview of the line');
    assert.equal(textOf((await post(gw.url, call(2, 'echo', { text: 'after garbage' }), sid)).body), 'after garbage');
  });

  test('a message over --max-line-bytes is refused with a clear error to the request it answered; the session goes on', async () => {
    const gw = await gateway({ ...TINY, maxLineBytes: 64 * 1024 });
    const sid = await openSession(gw.url);
    const r = await post(gw.url, call(1, 'big', { bytes: 200_000 }), sid);
    assert.equal(r.body.error.code, -32603);
    assert.match(r.body.error.message, /over the gateway's limit of 65536 bytes per message \(--max-line-bytes\)/);
    assert.equal(gw.gateway.stats.overlongLines, 1);
    const fits = await post(gw.url, call(2, 'big', { bytes: 60_000 }), sid);
    assert.equal(textOf(fits.body).length, 60_000);
  });

  test('ids inside an over-long message never settle another request: a log is dropped, an answer is refused, a request in flight gets its own answer', async () => {
    const gw = await gateway({ ...TINY, maxLineBytes: 64 * 1024 });
    const sid = await openSession(gw.url);
    // The records carry "id": 0…999; the first few are in the line's head, with request 1 among them.
    const running = post(gw.url, call(1, 'slow', { ms: 1500 }), sid);
    await sleep(100);
    const refused = await post(gw.url, call(60, 'records', { count: 1000 }), sid, 5_000);
    assert.match(refused.body?.error?.message ?? 'no answer', /over the gateway's limit/);
    const logged = await post(gw.url, call(50, 'bigLog', { count: 1000 }), sid, 5_000);
    assert.equal(textOf(logged.body), 'logged big', 'the over-long log is dropped; the call that wrote it is answered');
    assert.equal(textOf((await running).body), 'slept 1500', 'the request in flight is answered by its own answer');
    assert.equal(gw.gateway.stats.overlongLines, 2);
  });
});

describe('stopping children', () => {
  test('a child that ignores SIGTERM is killed after the grace period', async () => {
    const { logger, records } = capturingLogger();
    const gw = await gateway({ ...TINY, env: { TINY_IGNORE_TERM: '1' }, killGraceMs: 3_000, logger });
    const sid = await openSession(gw.url);
    const { pid } = await whoami(gw.url, sid);
    assert.equal(await deleteSession(gw.url, sid), 200);
    await sleep(300);
    assert.ok(alive(pid), 'still alive: it ignored SIGTERM and the grace period is not over');
    await waitFor(() => !alive(pid), 10_000, 'the child to be killed');
    await waitFor(() => gw.gateway.stats.killedAfterGrace === 1, 5_000, 'the kill to be counted');
    assert.ok(records.some((l) => l.level === 40 && /did not stop within 3000 ms of SIGTERM; killed/.test(l.msg)));
  });

  test('a child that honours SIGTERM is not killed', async () => {
    const gw = await gateway({ ...TINY, killGraceMs: 5_000 });
    const sid = await openSession(gw.url);
    const { pid } = await whoami(gw.url, sid);
    await deleteSession(gw.url, sid);
    await waitFor(() => !alive(pid), 4_000, 'the child to stop');
    await waitFor(() => gw.gateway.stats.exited === 1, 4_000, 'the exit to be seen');
    assert.equal(gw.gateway.stats.killedAfterGrace, 0);
  });

  test('an idle session is reaped with its child', async () => {
    const gw = await gateway(TINY, { sessionIdleMs: 500 });
    const sid = await openSession(gw.url);
    const { pid } = await whoami(gw.url, sid);
    await waitFor(() => !alive(pid), 10_000, 'the idle session’s child to stop');
    assert.equal((await post(gw.url, call(1, 'echo', { text: 'x' }), sid)).status, 404);
  });

  test('a child that exits by itself ends its session', async () => {
    const gw = await gateway(TINY);
    const sid = await openSession(gw.url);
    const { pid } = await whoami(gw.url, sid);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => gw.server.handler.sessions.sessions.size === 0, 5_000, 'the session to end');
    assert.equal((await post(gw.url, call(1, 'echo', { text: 'x' }), sid)).status, 404);
    assert.equal(gw.gateway.stats.failed, 1);
  });
});

describe('isolation and limits', () => {
  test('each session has its own child, with the given environment and working directory', async () => {
    const gw = await gateway({ ...TINY, env: { TINY_ENV: 'from --env' }, cwd: '/tmp' });
    const a = await openSession(gw.url);
    const b = await openSession(gw.url);
    const wa = await whoami(gw.url, a);
    const wb = await whoami(gw.url, b);
    assert.notEqual(wa.pid, wb.pid);
    assert.equal(wa.env, 'from --env');
    assert.equal(wa.cwd, '/tmp');
    assert.equal(wa.initializes, 1);
  });

  test('--max-children: sessions past the cap get 503 with a clear message, on both wire formats', async () => {
    const gw = await gateway({ ...TINY, maxChildren: 2 });
    const a = await openSession(gw.url);
    await openSession(gw.url);
    const r = await post(gw.url, initialize());
    assert.equal(r.status, 503);
    assert.match(r.body.error.message, /Service Unavailable: the gateway is running its maximum of 2 server processes \(--max-children\)/);
    const sse = await fetch(new URL('/sse', gw.url), { headers: { Accept: 'text/event-stream' } });
    assert.equal(sse.status, 503);
    assert.match(((await sse.json()) as { error: { message: string } }).error.message, /--max-children/);
    const health = (await (await fetch(new URL('/health', gw.url))).json()) as { children: { alive: number; max: number } };
    assert.equal(health.children.alive, 2);
    assert.equal(health.children.max, 2);
    await deleteSession(gw.url, a);
    await waitFor(() => gw.gateway.children === 1, 10_000, 'a slot to free up');
    assert.equal((await post(gw.url, initialize())).status, 200);
  });

  test('a child that stops reading: its session’s queue is bounded and requests past it get a clear error', async () => {
    const gw = await gateway({ ...TINY, maxQueuedBytes: 64 * 1024 });
    const sid = await openSession(gw.url);
    const other = await openSession(gw.url);
    assert.equal(textOf((await post(gw.url, call(1, 'stall'), sid)).body), 'no longer reading stdin');
    const text = 'y'.repeat(100_000);
    // Sent one after another; those the child took never answer, so each gets a short look only.
    const controller = new AbortController();
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await fetch(new URL('/mcp', gw.url), {
        method: 'POST',
        headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': sid },
        body: JSON.stringify(call(100 + i, 'echo', { text })),
        signal: controller.signal,
      });
      const events = await readEvents(res, (e) => e.data !== '', 1_500);
      const answer = events.find((e) => e.data !== '');
      outcomes.push(answer ? JSON.parse(answer.data).error.message : 'taken');
    }
    controller.abort();
    const firstRefusal = outcomes.findIndex((o) => o !== 'taken');
    assert.ok(firstRefusal > 0 && firstRefusal < 10, outcomes.join(' | '));
    // Past the bound nothing more is taken: the queue does not grow.
    for (const o of outcomes.slice(firstRefusal)) assert.match(o, /^Server busy: the server process is not reading its input fast enough/);
    assert.ok(gw.gateway.stats.refusedBusy >= 3);
    // Another session's child is not affected.
    assert.equal(textOf((await post(gw.url, call(2, 'echo', { text: 'other' }), other)).body), 'other');
  });

  test('requests in flight per session are bounded', async () => {
    const gw = await gateway({ ...TINY, maxInFlight: 2 });
    const sid = await openSession(gw.url);
    const slow = [post(gw.url, call(1, 'slow', { ms: 3_000 }), sid), post(gw.url, call(2, 'slow', { ms: 3_000 }), sid)];
    await waitFor(() => gw.server.handler.sessions.pendingRequests === 2, 5_000, 'two requests running');
    const third = await post(gw.url, call(3, 'echo', { text: 'x' }), sid);
    assert.match(third.body.error.message, /Too many requests in flight in this session/);
    for (const r of await Promise.all(slow)) assert.match(textOf(r.body), /slept 3000/);
    assert.equal(textOf((await post(gw.url, call(4, 'echo', { text: 'now' }), sid)).body), 'now');
  });
});

describe('relating child messages to requests', () => {
  test('progress follows its token; logs follow the one request in flight', async () => {
    const gw = await gateway(TINY);
    const sid = await openSession(gw.url);
    const [a, b] = await Promise.all([
      post(gw.url, call(1, 'progress', { tag: 'a', delayMs: 40 }, { progressToken: 'ta' }), sid),
      post(gw.url, call(2, 'progress', { tag: 'b', delayMs: 40 }, { progressToken: 'tb' }), sid),
    ]);
    const tokens = (r: typeof a) => r.messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progressToken);
    assert.deepEqual(tokens(a), ['ta', 'ta', 'ta']);
    assert.deepEqual(tokens(b), ['tb', 'tb', 'tb']);
    const logged = await post(gw.url, call(3, 'log', { tag: 'solo', n: 2 }), sid);
    assert.deepEqual(
      logged.messages.filter((m) => m.method === 'notifications/message').map((m) => m.params.data),
      [{ tag: 'solo', i: 1 }, { tag: 'solo', i: 2 }],
    );
  });
});

describe('an asynchronous store (as Redis is)', () => {
  test('while the store takes messages, the child’s output waits; all of it arrives, in order', async () => {
    const memory = new MemoryEventStore({ maxEvents: 10_000, maxBytes: 16 << 20 });
    let appends = 0;
    let pending = 0;
    let maxPending = 0;
    const slow: EventStore = {
      open(sessionId, tag) {
        const log = memory.open(sessionId, tag);
        const append = log.append.bind(log);
        log.append = (...args: Parameters<StreamLog['append']>) => {
          maxPending = Math.max(maxPending, ++pending);
          return new Promise<string>((r) =>
            setTimeout(() => {
              appends++;
              pending--;
              r(append(...args) as string);
            }, 1),
          );
        };
        return log;
      },
    };
    const gw = await gateway(TINY, { eventStore: slow });
    const sid = await openSession(gw.url);
    const n = 3_000; // about 270 KB of output: several reads of the child's stdout
    const r = await post(gw.url, call(1, 'log', { tag: 'slow store', n }), sid);
    const seq = r.messages.filter((m) => m.method === 'notifications/message').map((m) => m.params.data.i);
    assert.deepEqual(seq, Array.from({ length: n }, (_, i) => i + 1));
    assert.equal(textOf(r.body), 'logged');
    assert.ok(appends > n);
    // Unpaused, every message would be waiting on the store at once; paused, at most one read's worth.
    assert.ok(maxPending < n / 2, `messages waiting on the store at once: ${maxPending}`);
  });
});
