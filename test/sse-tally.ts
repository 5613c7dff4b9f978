// Reading numbered notifications off SSE streams in fault tests: each arrives once, in order?
import assert from 'node:assert/strict';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** Reads an SSE response into `onEvent` until it ends or its connection dies; resolves either way. */
export function pump(res: Response, onEvent: (e: EventSourceMessage) => void): Promise<'ended' | 'broken'> {
  const parser = createParser({ onEvent });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  return (async () => {
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) return 'ended';
        parser.feed(decoder.decode(r.value, { stream: true }));
      }
    } catch {
      return 'broken';
    }
  })();
}

/** Collects numbered notifications (`data.seq` or `data.tick`) and the last event id of a stream. */
export class Tally {
  readonly numbers: number[] = [];
  lastId: string | undefined;
  result: unknown;
  /** Every result and every error answer seen on the stream. */
  readonly results: unknown[] = [];
  readonly errors: unknown[] = [];

  constructor(private readonly field: 'seq' | 'tick') {}

  onEvent = (e: EventSourceMessage): void => {
    if (e.id) this.lastId = e.id;
    if (!e.data) return;
    const m = JSON.parse(e.data) as { method?: string; params?: { data?: Record<string, number> }; result?: unknown; error?: unknown };
    const n = m.params?.data?.[this.field];
    if (m.method === 'notifications/message' && typeof n === 'number') this.numbers.push(n);
    if (m.result !== undefined) {
      this.result = m.result;
      this.results.push(m.result);
    }
    if (m.error !== undefined) this.errors.push(m.error);
  };

  assertExactlyOnceInOrder(count: number): void {
    assert.equal(this.numbers.length, count, `received ${this.numbers.length} of ${count}`);
    this.numbers.forEach((n, i) => assert.equal(n, i + 1, `position ${i} holds ${n}`));
  }
}

