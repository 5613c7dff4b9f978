// When to try a lost stream again: exponential backoff with jitter, capped, never sooner than the
// server's `retry:` hint (the spec makes honouring it a MUST).

export interface ReconnectOptions {
  /** Delay before the first retry, in ms. Default 500. */
  initialDelayMs?: number;
  /** Cap of the delay, in ms. Default 30 000. */
  maxDelayMs?: number;
  /** Growth of the delay per failed attempt. Default 2. */
  factor?: number;
  /** Share of each delay taken away at random (0: none, 1: anything down to 0). Default 0.5. */
  jitter?: number;
  /** Failed attempts in a row after which the listening stream gives up. Default: unlimited. */
  maxRetries?: number;
  /** Failed attempts in a row after which a request's response stream gives up. Default 8. */
  maxRequestRetries?: number;
}

export type ReconnectPolicy = Required<ReconnectOptions>;

export function reconnectPolicy(o: ReconnectOptions = {}): ReconnectPolicy {
  const p: ReconnectPolicy = {
    initialDelayMs: o.initialDelayMs ?? 500,
    maxDelayMs: o.maxDelayMs ?? 30_000,
    factor: o.factor ?? 2,
    jitter: o.jitter ?? 0.5,
    maxRetries: o.maxRetries ?? Infinity,
    maxRequestRetries: o.maxRequestRetries ?? 8,
  };
  for (const [name, v] of Object.entries(p)) {
    if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new TypeError(`mcpwire: reconnect.${name} must be a number ≥ 0`);
  }
  if (p.factor < 1) throw new TypeError('mcpwire: reconnect.factor must be ≥ 1');
  if (p.jitter > 1) throw new TypeError('mcpwire: reconnect.jitter must be between 0 and 1');
  return p;
}

/**
 * The wait before attempt number `attempt` (0 for the first retry after a loss). The server's
 * `retry:` hint is a floor: the spec says to wait at least that long.
 */
export function reconnectDelay(p: ReconnectPolicy, attempt: number, serverRetryMs?: number, random = Math.random): number {
  const grown = Math.min(p.maxDelayMs, p.initialDelayMs * p.factor ** Math.min(attempt, 64));
  const jittered = grown * (1 - p.jitter * random());
  return Math.round(Math.max(jittered, serverRetryMs ?? 0));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A stream open at least this long counts as a working one even if it delivered nothing. */
export const STABLE_STREAM_MS = 5_000;

/**
 * Paces a stream that is reopened each time it ends (a listening stream). A stream that ends soon
 * after it opened, having delivered nothing, proves no more than a refused connection: without this,
 * a server or proxy that accepts and closes at once would be asked again at a constant rate forever.
 * Each such stream in a row waits one backoff step longer; one that delivered a message, or stayed
 * open a while, starts over.
 */
export class StreamPacer {
  private shortInARow = 0;
  private openedAt = 0;
  private useful = false;

  constructor(private readonly stableMs = STABLE_STREAM_MS) {}

  opened(): void {
    this.openedAt = performance.now();
    this.useful = false;
  }

  delivered(): void {
    this.useful = true;
  }

  /** The stream ended: returns the backoff step for the wait before it is opened again. */
  ended(): number {
    if (this.useful || performance.now() - this.openedAt >= this.stableMs) this.shortInARow = 0;
    else this.shortInARow++;
    return this.shortInARow;
  }
}
