// The session's FIFO of finished streams: first in, first out across the moves that reclaim the
// emptied front, `remove` from anywhere, and nothing kept alive by a slot once shifted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Queue } from '../../src/session/queue.js';

test('items come out in the order they went in, through many moves of the live part to the front', () => {
  const q = new Queue<number>();
  const out: number[] = [];
  let next = 0;
  // Held at 100 long like a busy session's finished streams, then drained.
  for (let i = 0; i < 100; i++) q.push(next++);
  for (let i = 0; i < 1_000; i++) {
    q.push(next++);
    out.push(q.shift()!);
    assert.equal(q.length, 100);
    assert.equal(q.peek(), out.at(-1)! + 1);
  }
  while (q.length > 0) out.push(q.shift()!);
  assert.deepEqual(out, Array.from({ length: next }, (_, i) => i));
  assert.equal(q.shift(), undefined);
  assert.equal(q.peek(), undefined);
  q.push(7);
  assert.equal(q.shift(), 7, 'usable again once empty');
});

test('remove takes an item out from the middle, the front or nowhere', () => {
  const q = new Queue<string>();
  for (const s of ['a', 'b', 'c', 'd']) q.push(s);
  q.shift();
  assert.equal(q.remove('c'), true);
  assert.equal(q.remove('a'), false, 'an item already shifted is not found');
  assert.equal(q.remove('x'), false);
  assert.equal(q.remove('b'), true);
  assert.deepEqual([q.length, q.shift(), q.shift()], [1, 'd', undefined]);
});

test('a shifted item is not held by the queue any more', async () => {
  const q = new Queue<object>();
  let collected = false;
  const registry = new FinalizationRegistry(() => (collected = true));
  (() => {
    const item = {};
    registry.register(item, 'item');
    q.push(item);
    q.push({});
    q.shift();
  })();
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 20 && !collected; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10)); // finalizers run on a later turn
  }
  assert.equal(q.length, 1);
  assert.ok(collected, 'the shifted item was collected');
});
