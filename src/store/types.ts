// The state behind the session engine, as interfaces that an in-memory store and a Redis store both
// fill. Methods may answer synchronously (memory) or with a promise (Redis): callers handle both, so
// the memory path pays for no promise per message.

export type MaybePromise<T> = T | Promise<T>;

/** One logged server→client message: its cursor within the stream and its serialized JSON. */
export interface StoredEvent {
  cursor: string;
  data: string;
}

/**
 * `events` are those after the cursor, oldest first. `expired`: the cursor is older than what the log
 * still holds, so `missed` events are gone and `events` is everything retained. `invalid`: the cursor
 * was never issued by this log.
 */
export type ReadResult = { invalid: false; expired: boolean; missed: number; events: StoredEvent[] } | { invalid: true };

/**
 * The log of one outgoing stream of one session. Every message gets its cursor here before it is
 * written to a socket, so a reconnecting client can be replayed exactly what it missed.
 */
export interface StreamLog {
  /**
   * Logs a message; `last` marks the final message of a POST's stream, `responseId` the request a
   * response answers. `record`: fields of the session's record this message makes true (the answer to
   * `initialize`, say), stored with it in one step where the store is shared, so that no instance can
   * see the message's effect (a client's next request) before the record. Returns its cursor.
   */
  append(data: string, last: boolean, responseId?: string | number, record?: Record<string, string>): MaybePromise<string>;
  /** Events strictly after `cursor`, oldest first. The cursor `initialCursor` means "from the start". */
  readAfter(cursor: string): MaybePromise<ReadResult>;
  /** The cursor that names the start of the stream (the priming event's cursor). */
  readonly initialCursor: string;
  /** Frees the log's memory; the stream is over. */
  drop(): MaybePromise<void>;
}

export interface EventLogLimits {
  /** Events kept per stream (default 1000). */
  maxEvents: number;
  /** Bytes of message data kept per stream, as UTF-16 code units of the JSON (default 1 MiB). */
  maxBytes: number;
}

export interface EventStore {
  open(sessionId: string, tag: string): StreamLog;
}

/**
 * A resource or list change, published once and delivered to every session and listener it concerns;
 * or a notification broadcast to every initialized session (listen streams of 2026-07-28 take only changes).
 */
export type ChangeEvent =
  | { kind: 'resource_updated'; uri: string }
  | { kind: 'tools_list_changed' | 'prompts_list_changed' | 'resources_list_changed' }
  | { kind: 'notification'; method: string; params?: Record<string, unknown> };

export interface Bus {
  publish(event: ChangeEvent): MaybePromise<void>;
  subscribe(listener: (event: ChangeEvent) => void): () => void;
}
