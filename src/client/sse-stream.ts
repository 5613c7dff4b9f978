// Reads one SSE response body: events and `retry:` hints out, a watchdog for silent connections,
// a bound on the size of one event, and a pause while the consumer is behind.
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** The client options every read applies: the transports pass their resolved options as they are. */
export interface SseReadLimits {
  /** No byte for this long (0: never) ends the read ('idle'). */
  idleTimeoutMs: number;
  /** The largest event taken, in UTF-8 bytes; see `onOversized` for what happens to a larger one. */
  maxMessageBytes: number;
  /** While its promise is pending, reading pauses. */
  backpressure?: (() => Promise<void> | undefined) | undefined;
}

export interface SseReadOptions {
  /** Aborting it ends the read ('aborted'). */
  signal: AbortSignal;
  onEvent(event: EventSourceMessage): void;
  onRetry(ms: number): void;
  /**
   * With it, an event larger than the bound is handed here and skipped, and the read goes on (a
   * listening stream); without it, the read ends with the OversizedEvent (a request's stream, whose
   * answer it may have been).
   */
  onOversized?(err: OversizedEvent): void;
}

/** An event larger than the bound: reading it again (a resume) would fail the same way. */
export class OversizedEvent extends Error {
  /** `eventId`: the id of the event, when it had one (a resume can start after it). */
  constructor(
    max: number,
    readonly eventId?: string,
  ) {
    super(`mcpwire: the server sent a message larger than ${max} bytes (maxMessageBytes); it was dropped`);
    this.name = 'OversizedEvent';
  }
}

/** Why a read ended: the server closed it, the watchdog, our abort, or a failure. */
export type SseEnd = 'eof' | 'idle' | 'aborted' | Error;

/** Whether `s` takes more than `max` bytes in UTF-8; counted only when it could (a UTF-16 unit is at most 3 bytes). */
function overBytes(s: string, max: number): boolean {
  return s.length > max || (s.length * 3 > max && Buffer.byteLength(s, 'utf8') > max);
}

/**
 * What the parser may buffer beyond the bound: the field name of the line being read ("data: "), or
 * an `id:` or `event:` line after data lines. The parser counts UTF-16 units, which are never more
 * than the UTF-8 bytes: an event within the bound always fits, and each whole event is measured in bytes.
 */
const PARSER_SLACK = 4_096;

/** A blank line, the end of an event (a CR followed by LF is one line end, not two). */
const EVENT_END = /(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r|\n)/;

export async function readSse(body: ReadableStream<Uint8Array>, limits: SseReadLimits, o: SseReadOptions): Promise<SseEnd> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let idle = false;
  let failure: Error | undefined;
  /** The parser gave up on an event too large to buffer: the rest of it is discarded, up to its end. */
  let overflowed = false;
  let skipping = false;
  /** The last characters seen while skipping: a blank line may straddle two chunks. */
  let tail = '';
  const stop = () => void reader.cancel().catch(() => {});
  const oversized = (err: OversizedEvent) => {
    if (o.onOversized) {
      o.onOversized(err);
      return;
    }
    failure = err;
    stop();
  };
  const parser = createParser({
    onEvent: (e) => {
      if (failure) return;
      // The parser bounds what it buffers; each whole event is measured here.
      if (overBytes(e.data, limits.maxMessageBytes)) oversized(new OversizedEvent(limits.maxMessageBytes, e.id));
      else o.onEvent(e);
    },
    onRetry: (ms) => o.onRetry(ms),
    onError: (err) => {
      // Unknown fields are ignored, as the SSE standard says; an oversized event is not.
      if (err.type === 'max-buffer-size-exceeded') overflowed = true;
    },
    maxBufferSize: limits.maxMessageBytes + PARSER_SLACK,
  });
  const feed = (text: string) => {
    if (skipping) {
      const seen = tail + text;
      const end = EVENT_END.exec(seen);
      if (!end) {
        tail = seen.slice(-2);
        return;
      }
      skipping = false;
      parser.reset();
      text = seen.slice(end.index + end[0].length);
    }
    parser.feed(text);
    if (!overflowed) return;
    // The parser took all of `text` and dropped the event's start; its id, if any, is not known.
    overflowed = false;
    oversized(new OversizedEvent(limits.maxMessageBytes));
    if (failure) return;
    skipping = true;
    tail = '';
    feed(text.slice(-2));
  };
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (limits.idleTimeoutMs <= 0) return;
    if (timer) timer.refresh();
    else
      timer = setTimeout(() => {
        idle = true;
        stop();
      }, limits.idleTimeoutMs);
  };
  const disarm = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  o.signal.addEventListener('abort', stop, { once: true });
  try {
    if (o.signal.aborted) return 'aborted';
    arm();
    for (;;) {
      const wait = limits.backpressure?.();
      if (wait) {
        disarm();
        await wait;
        if (o.signal.aborted) return 'aborted';
        arm();
      }
      const r = await reader.read();
      if (r.done) break;
      arm();
      feed(decoder.decode(r.value, { stream: true }));
      if (failure) return failure;
    }
  } catch (err) {
    if (o.signal.aborted) return 'aborted';
    if (idle) return 'idle';
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    disarm();
    o.signal.removeEventListener('abort', stop);
  }
  if (failure) return failure;
  if (o.signal.aborted) return 'aborted';
  return idle ? 'idle' : 'eof';
}
