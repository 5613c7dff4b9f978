// Reads one SSE response body: events and `retry:` hints out, a watchdog for silent connections,
// a bound on the size of one event, and a pause while the consumer is behind.
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** The client options every read applies: the transports pass their resolved options as they are. */
export interface SseReadLimits {
  /** No byte for this long (0: never) ends the read ('idle'). */
  idleTimeoutMs: number;
  /** The largest event taken; a larger one ends the read with OversizedEvent. */
  maxMessageBytes: number;
  /** While its promise is pending, reading pauses. */
  backpressure?: (() => Promise<void> | undefined) | undefined;
}

export interface SseReadOptions {
  /** Aborting it ends the read ('aborted'). */
  signal: AbortSignal;
  onEvent(event: EventSourceMessage): void;
  onRetry(ms: number): void;
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

export async function readSse(body: ReadableStream<Uint8Array>, limits: SseReadLimits, o: SseReadOptions): Promise<SseEnd> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let idle = false;
  let failure: Error | undefined;
  const stop = () => void reader.cancel().catch(() => {});
  const parser = createParser({
    onEvent: (e) => {
      if (failure) return;
      // The parser bounds what it buffers; an event that arrived whole is measured here.
      if (e.data.length > limits.maxMessageBytes) {
        failure = new OversizedEvent(limits.maxMessageBytes, e.id);
        stop();
        return;
      }
      o.onEvent(e);
    },
    onRetry: (ms) => o.onRetry(ms),
    onError: (err) => {
      // Unknown fields are ignored, as the SSE standard says; an oversized event is not.
      if (err.type === 'max-buffer-size-exceeded') {
        failure = new OversizedEvent(limits.maxMessageBytes);
        stop();
      }
    },
    maxBufferSize: limits.maxMessageBytes,
  });
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
      parser.feed(decoder.decode(r.value, { stream: true }));
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
