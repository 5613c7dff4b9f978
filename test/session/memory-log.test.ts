// The in-memory event log: a ring bounded by events and by bytes, made with room for the one event
// most logs hold; what a reader is told when its cursor fell out of it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStreamLog } from '../../src/store/memory.js';

const datas = (r: ReturnType<MemoryStreamLog['readAfter']>) => ('events' in r && r.events ? r.events.map((e) => e.data) : []);

test('a log of one event, then of many: the oldest go past maxEvents, a reader behind them is told how many it missed', () => {
  const log = new MemoryStreamLog({ maxEvents: 10, maxBytes: 1_000_000 });
  assert.equal(log.append('e1'), '1');
  assert.deepEqual(datas(log.readAfter('0')), ['e1']);
  for (let i = 2; i <= 25; i++) log.append(`e${i}`);
  const behind = log.readAfter('0');
  assert.ok(!behind.invalid);
  assert.equal(behind.expired, true);
  assert.equal(behind.missed, 15);
  assert.deepEqual(datas(behind), Array.from({ length: 10 }, (_, i) => `e${i + 16}`));
  assert.deepEqual(datas(log.readAfter('20')), ['e21', 'e22', 'e23', 'e24', 'e25']);
  assert.deepEqual(log.readAfter('26'), { invalid: true });
});

test('the byte bound drops the oldest events but always keeps the newest; a dropped log starts again', () => {
  const log = new MemoryStreamLog({ maxEvents: 100, maxBytes: 10 });
  log.append('aaaa');
  log.append('bbbb');
  log.append('cccc');
  assert.deepEqual(datas(log.readAfter('0')), ['bbbb', 'cccc']);
  log.append('x'.repeat(50));
  assert.deepEqual(datas(log.readAfter('3')), ['x'.repeat(50)]);
  log.drop();
  assert.equal(log.append('again'), '5');
  assert.deepEqual(datas(log.readAfter('4')), ['again']);
});
