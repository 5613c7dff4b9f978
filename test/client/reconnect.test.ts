// The reconnect policy: exponential, capped, jittered, never sooner than the server's retry: hint.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pause, reconnectDelay, reconnectPolicy } from '../../src/client/reconnect.js';

test('delays grow by the factor up to the cap; jitter takes away at most its share', () => {
  const p = reconnectPolicy({ initialDelayMs: 100, maxDelayMs: 1_000, factor: 2, jitter: 0.5 });
  const top = (attempt: number) => reconnectDelay(p, attempt, undefined, () => 0);
  const bottom = (attempt: number) => reconnectDelay(p, attempt, undefined, () => 1);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 50].map(top), [100, 200, 400, 800, 1_000, 1_000, 1_000]);
  assert.deepEqual([0, 1, 2, 3, 4].map(bottom), [50, 100, 200, 400, 500]);
  for (let i = 0; i < 200; i++) {
    const d = reconnectDelay(p, 3);
    assert.ok(d >= 400 && d <= 800, String(d));
  }
});

test('the server’s retry: hint is a floor', () => {
  const p = reconnectPolicy({ initialDelayMs: 100, jitter: 0 });
  assert.equal(reconnectDelay(p, 0, 2_500), 2_500);
  assert.equal(reconnectDelay(p, 0, 10), 100);
});

test('defaults: 500 ms doubling to 30 s, the listening stream never gives up, a request stream after 8', () => {
  const p = reconnectPolicy();
  assert.equal(p.initialDelayMs, 500);
  assert.equal(p.maxDelayMs, 30_000);
  assert.equal(p.maxRetries, Infinity);
  assert.equal(p.maxRequestRetries, 8);
  assert.equal(reconnectDelay(p, 100, undefined, () => 0), 30_000);
});

test('bad settings are refused with a clear message', () => {
  assert.throws(() => reconnectPolicy({ initialDelayMs: -1 }), /initialDelayMs/);
  assert.throws(() => reconnectPolicy({ factor: 0.5 }), /factor/);
  assert.throws(() => reconnectPolicy({ jitter: 2 }), /jitter/);
  assert.throws(() => reconnectPolicy({ maxRetries: Number.NaN }), /maxRetries/);
});

test('pause ends early when its signal aborts', async () => {
  const ac = new AbortController();
  const started = Date.now();
  setTimeout(() => ac.abort(), 20);
  await pause(60_000, ac.signal);
  assert.ok(Date.now() - started < 10_000);
});
