// `Mcp-Param-{Name}` headers (2026-07-28): a tool may mark parameters with `x-mcp-header`; clients
// mirror their values into headers, and a server that reads the body must check that each header
// matches the body (after base64 decoding) and that none is missing: 400 + -32020 otherwise.
import type { IncomingHttpHeaders } from 'node:http';
import { decodeHeaderValue } from './era.js';

export interface HeaderSpec {
  /** The chain of `properties` keys from the schema root to the annotated parameter. */
  path: string[];
  /** The header name, lower-cased (`mcp-param-region`). */
  header: string;
  type: 'string' | 'integer' | 'boolean';
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DECIMAL = /^-?[0-9]+(?:\.[0-9]+)?$/;

/**
 * The header annotations of a tool's input schema, found along `properties` chains only. A tool whose
 * annotations break the rules (bad name, duplicate, non-primitive type) is one clients drop, so
 * nothing is enforced for it.
 */
export function headerSpecsOf(inputSchema: unknown): HeaderSpec[] {
  const specs: HeaderSpec[] = [];
  const seen = new Set<string>();
  let valid = true;
  const walk = (schema: unknown, path: string[], depth: number) => {
    if (depth > 16 || typeof schema !== 'object' || schema === null) return;
    const props = (schema as { properties?: unknown }).properties;
    if (typeof props !== 'object' || props === null) return;
    for (const [key, def] of Object.entries(props as Record<string, unknown>)) {
      if (typeof def !== 'object' || def === null) continue;
      const name = (def as Record<string, unknown>)['x-mcp-header'];
      const type = (def as Record<string, unknown>).type;
      if (name !== undefined) {
        const lower = typeof name === 'string' ? name.toLowerCase() : '';
        if (!TOKEN.test(lower) || seen.has(lower) || (type !== 'string' && type !== 'integer' && type !== 'boolean')) {
          valid = false;
          continue;
        }
        seen.add(lower);
        specs.push({ path: [...path, key], header: `mcp-param-${lower}`, type });
      }
      walk(def, [...path, key], depth + 1);
    }
  };
  walk(inputSchema, [], 0);
  return valid ? specs : [];
}

/** Why the `Mcp-Param-*` headers do not match the arguments, or undefined when they do. */
export function paramHeaderProblem(specs: HeaderSpec[], args: unknown, headers: IncomingHttpHeaders): string | undefined {
  for (const spec of specs) {
    let value: unknown = args;
    // Own properties only: an absent `constructor` argument is not Object's constructor.
    for (const key of spec.path) value = typeof value === 'object' && value !== null && Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
    const raw = headers[spec.header];
    const name = `Mcp-Param-${spec.header.slice('mcp-param-'.length)}`;
    if (value === undefined || value === null) {
      if (raw !== undefined) return `${name} is sent but the argument it mirrors is not`;
      continue;
    }
    if (raw === undefined) return `${name} is required when the argument it mirrors is given`;
    const decoded = decodeHeaderValue((Array.isArray(raw) ? raw.join(', ') : raw).trim());
    if (decoded === undefined) return `${name} is not a valid header value`;
    if (!matches(spec.type, decoded, value)) return `${name} does not match the argument it mirrors`;
  }
  return undefined;
}

function matches(type: HeaderSpec['type'], header: string, value: unknown): boolean {
  switch (type) {
    case 'integer':
      // Compared as numbers (42 and 42.0 are the same value), but only in decimal: what Number() also
      // reads (0x2A, 4.2e1, +42, ' 42') is a different header to a proxy that routes on it.
      return typeof value === 'number' && DECIMAL.test(header) && Number(header) === value;
    case 'boolean':
      return typeof value === 'boolean' && header === String(value);
    case 'string':
      return header === value;
  }
}
