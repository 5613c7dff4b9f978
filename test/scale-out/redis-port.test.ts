// The Redis port against a real redis-server that stops answering (SIGSTOP): every command fails
// with StoreUnavailableError once it has waited commandTimeoutMs (one watchdog, no timer per
// command), nothing hangs, and commands work again as soon as Redis answers; a start that Redis does
// not answer fails in time.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { pino } from 'pino';
import { RedisUnreachableError, serve } from '../../src/index.js';
import { RedisPort, StoreUnavailableError } from '../../src/store/redis-port.js';
import { freePort, startRedis, type RedisServer } from './redis.js';

let redis: RedisServer;
let port: RedisPort;
before(async () => {
  redis = await startRedis();
  port = new RedisPort({ url: redis.url, prefix: 'port:', commandTimeoutMs: 300, log: pino({ level: 'silent' }) });
  await port.connect();
});
after(async () => {
  redis.resume();
  await port.close();
  await redis.close();
});

test('a Redis that stops answering: each command fails after commandTimeoutMs with StoreUnavailableError; service returns after', async () => {
  assert.equal(await port.command(['SET', 'port:k', 'v']), 'OK');
  redis.pause();
  try {
    const t0 = Date.now();
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => port.command(['SET', `port:k${i}`, 'v'])));
    const waited = Date.now() - t0;
    assert.ok(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof StoreUnavailableError), 'every command failed as unavailable');
    assert.match(String((outcomes[0] as PromiseRejectedResult).reason.message), /no reply within 300 ms/);
    assert.ok(waited >= 290 && waited < 2_000, `failed after ${waited} ms`);
    await assert.rejects(port.script('return 1', [], []), StoreUnavailableError, 'scripts too');
  } finally {
    redis.resume();
  }
  const end = Date.now() + 5_000;
  let value: unknown;
  while (Date.now() < end) {
    try {
      value = await port.command(['GET', 'port:k']);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.equal(value, 'v', 'answers again once Redis does');
  assert.equal(await port.script<number>('return 7', [], []), 7);
});

test('an error from Redis itself is passed through, not taken for an outage', async () => {
  await port.command(['SET', 'port:str', 'x']);
  await assert.rejects(port.command(['LPUSH', 'port:str', 'y']), (err: Error) => !(err instanceof StoreUnavailableError) && /^WRONGTYPE/.test(err.message));
});

test('an instance refuses to start on a prefix whose sessions another storage format wrote, and lets go of Redis', async () => {
  await port.command(['SET', 'fmt:format', '0', 'PX', '60000']);
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
  await assert.rejects(
    serve({ port: 0, createServer: () => new McpServer({ name: 'x', version: '1' }), redis: { url: redis.url, prefix: 'fmt:' }, logger: pino({ level: 'silent' }) }),
    /prefix 'fmt:' is in use by instances writing storage format 0, and this version writes format 1/,
  );
  assert.equal(await port.command(['GET', 'fmt:format']), '0', 'the mark is left as it was');
  await waitForHandles(handles);
  // An unmarked prefix is marked with this version's format, for as long as sessions' keys live.
  const s = await serve({ port: 0, createServer: () => new McpServer({ name: 'x', version: '1' }), redis: { url: redis.url, prefix: 'fmt2:' }, logger: pino({ level: 'silent' }) });
  try {
    assert.equal(await port.command(['GET', 'fmt2:format']), '1');
    assert.ok(((await port.command(['PTTL', 'fmt2:format'])) as number) > 0);
  } finally {
    await s.close();
  }
});

test('serve() gives up on a Redis that does not answer after redis.startTimeoutMs, names its host only and lets go of everything; one that answers in time is waited for', async () => {
  const quiet = pino({ level: 'silent' });
  const createServer = () => new McpServer({ name: 'x', version: '1' });
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
  // Nothing listens there: refused, tried again until the deadline.
  const closed = await freePort();
  let t0 = Date.now();
  await assert.rejects(serve({ port: 0, createServer, redis: { url: `redis://:hunter2@127.0.0.1:${closed}`, startTimeoutMs: 600 }, logger: quiet }), (err: Error) => {
    assert.ok(err instanceof RedisUnreachableError, String(err));
    assert.match(err.message, new RegExp(`Redis at 127\\.0\\.0\\.1:${closed} did not answer within 600 ms \\(.*ECONNREFUSED`));
    assert.doesNotMatch(err.message, /hunter2/);
    return true;
  });
  assert.ok(Date.now() - t0 < 3_000, `gave up after ${Date.now() - t0} ms`);
  await waitForHandles(handles);
  // A Redis that accepts the connection and says nothing (stopped): the same, with nothing to report but the silence.
  redis.pause();
  try {
    t0 = Date.now();
    await assert.rejects(serve({ port: 0, createServer, redis: { url: redis.url, prefix: 'st:', startTimeoutMs: 600 }, logger: quiet }), RedisUnreachableError);
    assert.ok(Date.now() - t0 < 3_000, `gave up after ${Date.now() - t0} ms`);
  } finally {
    redis.resume();
  }
  await waitForHandles(handles);
  // Stopped for less than the start timeout: start-up waits for it.
  redis.pause();
  const resumed = setTimeout(() => redis.resume(), 400);
  try {
    const s = await serve({ port: 0, createServer, redis: { url: redis.url, prefix: 'st:', startTimeoutMs: 5_000 }, logger: quiet });
    await s.close();
  } finally {
    clearTimeout(resumed);
    redis.resume();
  }
  await assert.rejects(serve({ port: 0, createServer, redis: { url: redis.url, startTimeoutMs: -1 } }), /startTimeoutMs/);
});

test('closing does not wait for a Redis that is away: at once when it is down, within commandTimeoutMs when it does not answer', async () => {
  const timed = async (p: RedisPort) => {
    const t0 = Date.now();
    await p.close();
    return Date.now() - t0;
  };
  const paused = new RedisPort({ url: redis.url, prefix: 'port:', commandTimeoutMs: 300, log: pino({ level: 'silent' }) });
  await paused.connect();
  redis.pause();
  try {
    const waited = await timed(paused);
    assert.ok(waited < 1_500, `closed after ${waited} ms with Redis not answering`);
  } finally {
    redis.resume();
  }
  const down = new RedisPort({ url: redis.url, prefix: 'port:', commandTimeoutMs: 300, log: pino({ level: 'silent' }) });
  await down.connect();
  // A whole server too: shutting down (SIGTERM) must not hang on its Redis.
  const server = await serve({ port: 0, createServer: () => new McpServer({ name: 'close-test', version: '1.0.0' }), redis: { url: redis.url, prefix: 'close:' } });
  await redis.stop();
  try {
    await new Promise((r) => setTimeout(r, 300)); // the clients see the connection go and start reconnecting
    const waited = await timed(down);
    assert.ok(waited < 500, `closed after ${waited} ms with Redis down`);
    const t0 = Date.now();
    await server.close();
    assert.ok(Date.now() - t0 < 2_000, `the server closed after ${Date.now() - t0} ms with Redis down`);
  } finally {
    await redis.start();
  }
});

test('a port closed while it connects opens no connection and says why', async () => {
  const early = new RedisPort({ url: redis.url, prefix: 'port:', commandTimeoutMs: 300, log: pino({ level: 'silent' }) });
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
  const connecting = early.connect();
  await early.close();
  await assert.rejects(connecting, /closed while it connected/);
  await waitForHandles(handles);
});

test('node-redis is loaded by an instance that uses Redis and never by one that does not', async () => {
  // A real process, since this one has loaded node-redis long ago: it serves and closes, and its
  // loader reports every module file it resolved.
  const script = `
    const { serve } = await import('./src/index.ts');
    const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
    const url = process.argv[1];
    const server = await serve({ port: 0, createServer: () => new McpServer({ name: 'x', version: '1' }), ...(url ? { redis: { url, prefix: 'load:' } } : {}) });
    await server.close();`;
  const redisModulesLoaded = async (...args: string[]) => {
    const stderr = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', '--import', './test/fixtures/log-resolved.mjs', '--input-type=module', '-e', script, ...args], (err, _out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(errOut),
      ),
    );
    assert.match(stderr, /resolved .*\/src\/server\.ts/, 'the loader reported what it resolved');
    return stderr.split('\n').filter((l) => /\/node_modules\/(redis|@redis\/[^/]+)\//.test(l)).length;
  };
  assert.equal(await redisModulesLoaded(), 0, 'no node-redis module without Redis');
  assert.ok((await redisModulesLoaded(redis.url)) > 0, 'node-redis loaded with Redis');
});

/** The Redis connections of a refused start are closed: the process is left with what it had. */
async function waitForHandles(n: number): Promise<void> {
  const count = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
  for (let i = 0; i < 50 && count() > n; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(count() <= n, `${count()} handles open, ${n} before`);
}
