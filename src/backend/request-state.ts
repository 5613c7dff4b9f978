// The `requestState` of a 2026-07-28 input_required result: the client's earlier answers, bound to
// the principal, the request (method, name or URI, a digest of the arguments) and an expiry, and
// protected by an HMAC, since the client carries it and may alter it.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface StateBinding {
  principal: string;
  method: string;
  target: string;
  argsDigest: string;
}

interface Payload {
  v: 1;
  p: string;
  m: string;
  t: string;
  d: string;
  e: number;
  a: Record<string, unknown>;
}

export type Verified = { ok: true; answers: Record<string, unknown> } | { ok: false; reason: string };

export class RequestStateSigner {
  private key: Buffer;

  /** `secret`: the same on every instance that may see a retry; a random one per process otherwise. */
  constructor(
    secret: string | undefined,
    private readonly ttlMs: number,
  ) {
    this.key = secret === undefined ? randomBytes(32) : keyOf(secret);
  }

  /** Switches to a secret shared with other instances (states signed before no longer verify). */
  useSecret(secret: string): void {
    this.key = keyOf(secret);
  }

  sign(binding: StateBinding, answers: Record<string, unknown>): string {
    const payload: Payload = { v: 1, p: binding.principal, m: binding.method, t: binding.target, d: binding.argsDigest, e: Date.now() + this.ttlMs, a: answers };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  verify(state: string, binding: StateBinding): Verified {
    const dot = state.lastIndexOf('.');
    if (dot <= 0) return { ok: false, reason: 'it is not a requestState this server issued' };
    const body = state.slice(0, dot);
    const given = Buffer.from(state.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, reason: 'it failed its integrity check' };
    }
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
    } catch {
      return { ok: false, reason: 'it failed its integrity check' };
    }
    if (payload.e < Date.now()) return { ok: false, reason: 'it has expired; call again without it' };
    if (payload.p !== binding.principal) return { ok: false, reason: 'it was issued to another principal' };
    if (payload.m !== binding.method || payload.t !== binding.target || payload.d !== binding.argsDigest) {
      return { ok: false, reason: 'it was issued for another request' };
    }
    return { ok: true, answers: payload.a ?? {} };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

function keyOf(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** A digest of a JSON value that does not depend on the order of object keys. */
export function digestOf(value: unknown): string {
  return createHash('sha256').update(canonical(value)).digest('base64url');
}

/**
 * The JSON text of `root` with object keys sorted. A loop with its own stack, not recursion: a client's
 * arguments may nest deeper than the call stack goes (JSON.parse takes them).
 */
function canonical(root: unknown): string {
  const out: string[] = [];
  // Values still to write, and punctuation (a string in `text`), last first.
  const todo: Array<{ value: unknown } | { text: string }> = [{ value: root }];
  while (todo.length > 0) {
    const item = todo.pop()!;
    if ('text' in item) {
      out.push(item.text);
      continue;
    }
    const v = item.value;
    if (Array.isArray(v)) {
      out.push('[');
      todo.push({ text: ']' });
      for (let i = v.length - 1; i >= 0; i--) {
        todo.push({ value: v[i] });
        if (i > 0) todo.push({ text: ',' });
      }
    } else if (typeof v === 'object' && v !== null) {
      const keys = Object.keys(v).sort();
      out.push('{');
      todo.push({ text: '}' });
      for (let i = keys.length - 1; i >= 0; i--) {
        todo.push({ value: (v as Record<string, unknown>)[keys[i]!] });
        todo.push({ text: `${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:` });
      }
    } else {
      out.push(JSON.stringify(v) ?? 'null');
    }
  }
  return out.join('');
}

/** `value` has objects or arrays nested more than `max` levels deep (checked without recursion). */
export function nestedDeeper(value: unknown, max: number): boolean {
  const todo: Array<[unknown, number]> = [[value, 0]];
  while (todo.length > 0) {
    const [v, depth] = todo.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return true;
    for (const x of Object.values(v)) todo.push([x, depth + 1]);
  }
  return false;
}

/** How long the shared secret outlives the last instance that used it (every instance refreshes it hourly). */
export const SHARED_SECRET_TTL_MS = 7 * 24 * 3600_000;

/**
 * A secret every instance sharing a Redis agrees on: the first to ask draws it, the others read it. Reading
 * refreshes its TTL, so it lives while any instance does and leaves nothing behind for good once all are gone.
 */
export async function sharedSecret(port: { key(...parts: string[]): string; command<T>(args: string[]): Promise<T> }): Promise<string> {
  const key = port.key('request-state-secret');
  const ttl = String(SHARED_SECRET_TTL_MS);
  await port.command(['SET', key, randomBytes(32).toString('base64url'), 'NX', 'PX', ttl]);
  const secret = await port.command<string | null>(['GETEX', key, 'PX', ttl]);
  if (!secret) throw new Error('mcpwire: the shared requestState secret could not be read from Redis');
  return secret;
}
