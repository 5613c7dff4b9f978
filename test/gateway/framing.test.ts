// Newline-delimited framing of a child's stdout: what the gateway does with every byte it reads.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LineFramer, type OverlongLine } from '../../src/gateway/line-framer.js';
import { answeredIdOf } from '../../src/gateway/messages.js';

function framer(max = 1024) {
  const lines: string[] = [];
  const overlong: OverlongLine[] = [];
  const f = new LineFramer(max, (l) => lines.push(l), (l) => overlong.push(l));
  return { f, lines, overlong, buffered: () => (f as unknown as { partBytes: number }).partBytes };
}

describe('LineFramer', () => {
  test('one message per line; partial lines wait for their end, across any chunking', () => {
    const { f, lines } = framer();
    const text = '{"a":1}\n{"b":"é€😀"}\r\n\n   \n{"c":3}\n';
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i++) f.push(bytes.subarray(i, i + 1));
    assert.deepEqual(lines, ['{"a":1}', '{"b":"é€😀"}', '{"c":3}']);
    const whole = framer();
    whole.f.push(bytes);
    assert.deepEqual(whole.lines, lines);
  });

  test('a last line without a newline counts when the stream ends', () => {
    const { f, lines } = framer();
    f.push(Buffer.from('{"a":1}\n{"b":2}'));
    assert.deepEqual(lines, ['{"a":1}']);
    f.end();
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}']);
  });

  test('a line past the limit is skipped, never buffered beyond the limit, and reported with its ends', () => {
    const { f, lines, overlong, buffered } = framer(1024);
    f.push(Buffer.from('{"result":{"text":"'));
    for (let i = 0; i < 1000; i++) {
      f.push(Buffer.alloc(10_000, 'x'));
      assert.ok(buffered() <= 1024, 'what is held stays under the limit');
    }
    f.push(Buffer.from('"},"jsonrpc":"2.0","id":42}\n{"ok":true}\n'));
    assert.equal(overlong.length, 1);
    assert.equal(overlong[0]!.bytes, 19 + 10_000_000 + 27);
    assert.ok(overlong[0]!.head.startsWith('{"result":{"text":"xxx'));
    assert.ok(overlong[0]!.tail.endsWith('"jsonrpc":"2.0","id":42}'));
    assert.deepEqual(lines, ['{"ok":true}'], 'the next line is read normally');
    assert.equal(answeredIdOf(overlong[0]!), 42);
  });

  test('the id an over-long line answers: its top-level id only, none for a request or notification', () => {
    const line = (head: string, tail: string) => ({ bytes: 1e6, head, tail });
    const inside = '{"records":[{"id":1,"pad":"x"},{"id":2,"pad":"{\\"id\\":3"}';
    assert.equal(answeredIdOf(line(`{"jsonrpc":"2.0","id":"r-7","result":${inside}`, '}]}}')), 'r-7');
    assert.equal(answeredIdOf(line(`{"result":${inside}`, '{"id":9}]},"id":12}')), 12, 'the id last, in the tail');
    assert.equal(answeredIdOf(line(`{"result":${inside}`, '{"id":9}]}}')), undefined, 'ids inside the content are not the answer\'s');
    assert.equal(answeredIdOf(line(`{"jsonrpc":"2.0","method":"notifications/message","params":${inside}`, '{"id":4}]}}')), undefined);
    assert.equal(answeredIdOf(line(`{"jsonrpc":"2.0","id":5,"method":"sampling/createMessage","params":${inside}`, ']}}')), undefined, 'a request of the server');
    assert.equal(answeredIdOf(line(`{"params":${inside}`, '],"id":6,"method":"roots/list"}')), undefined, 'its method last');
    assert.equal(answeredIdOf(line('{"jsonrpc":"2.0","id":12', '')), undefined, 'an id cut off by the head\'s edge may be longer');
  });

  test('a line of exactly the limit passes', () => {
    const { f, lines, overlong } = framer(1024);
    const line = 'z'.repeat(1024);
    f.push(Buffer.from(line.slice(0, 500)));
    f.push(Buffer.from(line.slice(500) + '\n' + line + '\n'));
    assert.deepEqual(lines, [line, line]);
    assert.equal(overlong.length, 0);
  });
});
