// Flag values, checked as commander parses them: a bad one is a usage error naming the flag
// ("error: option '--port <n>' argument '70000' is invalid. …", exit 2 through main.ts). Secrets
// (tokens, headers, URLs that may hold a password) are checked by `refuse` after parsing instead,
// since commander's own message repeats the value.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { type Command, InvalidArgumentError } from 'commander';

/** Node's timers hold at most 2^31-1 ms; a longer delay silently becomes 1 ms. */
const MAX_MS = 2 ** 31 - 1;

/** A whole number in decimal digits ('', '1.5', '-1', '0x10' and '1e3' are not), from `min` to `max`. */
export const whole =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (v: string): number => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!(n >= min && n <= max)) throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `Give a whole number ≥ ${min}.` : `Give a whole number from ${min} to ${max}.`);
    return n;
  };

/** A delay in milliseconds: it becomes a timer. */
export const ms = (min = 0) => whole(min, MAX_MS);

export const nonEmpty = (v: string): string => {
  if (v === '') throw new InvalidArgumentError('Give a value.');
  return v;
};

/** Comma-separated values, added up over repeats; `check` says why one is wrong. */
export const list =
  (check: (item: string) => string | undefined = () => undefined) =>
  (v: string, prev: string[] | undefined): string[] => {
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) throw new InvalidArgumentError('Give at least one value.');
    const why = items.map(check).find(Boolean);
    if (why) throw new InvalidArgumentError(why);
    return [...(prev ?? []), ...items];
  };

/** What CORS and the Origin check compare: `scheme://host[:port]`, or `*`. */
export const origin = (o: string) => (o === '*' || /^[a-z][a-z0-9+.-]*:\/\/[^\s/?#@]+\/?$/i.test(o) ? undefined : 'An origin is scheme://host[:port] (no path), or *.');

/** What the Host check compares: a name or address, with or without a port. */
export const hostName = (h: string) => (/^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(:\d{1,5})?$/i.test(h) ? undefined : 'A host is a name or an address, with an optional :port (no scheme, no path).');

/** An address to bind: an IP address or a host name. */
export const bindAddress = (v: string): string => {
  if (isIP(v) === 0 && !/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$/i.test(v)) throw new InvalidArgumentError('Give an IP address or a host name.');
  return v;
};

/** A bearer token as the server reads one from `Authorization`: visible ASCII, no spaces. */
export const BEARER = /^[\x21-\x7e]+$/;

/** A usage error (exit 2) naming the flag, and where its value came from, but never the value. */
export function refuse(cmd: Command, name: string, why: string): never {
  const option = cmd.options.find((o) => o.attributeName() === name)!;
  const from = cmd.getOptionValueSource(name) === 'env' ? ` (from ${option.envVar})` : '';
  cmd.error(`error: option '${option.flags}'${from} is invalid: ${why}`, { exitCode: 2, code: 'mcpwire.usage' });
}

/** A folder this process can use (`mode`: what it needs of it); a runtime error naming the flag otherwise. */
export async function folder(flag: string, dir: string, mode: number): Promise<void> {
  const s = await stat(dir).catch((err: NodeJS.ErrnoException) => err.code ?? 'EIO');
  if (s === 'ENOENT' || s === 'ENOTDIR') throw new Error(`${flag} ${dir}: no such folder`);
  if (typeof s === 'string') throw new Error(`${flag} ${dir}: ${s === 'EACCES' ? 'permission denied' : s}`);
  if (!s.isDirectory()) throw new Error(`${flag} ${dir}: not a folder`);
  if (!(await access(dir, mode).then(() => true, () => false))) throw new Error(`${flag} ${dir}: permission denied`);
}

export const { R_OK, X_OK } = constants;
