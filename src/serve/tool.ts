// The shape of a tool of `mcpwire serve`, and the checks its arguments go through.
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, LoggingLevel, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface ToolCall {
  args: Record<string, unknown>;
  extra: Extra;
  /** A `notifications/message` tied to this call, when the session's log level lets it through. */
  log(level: LoggingLevel, data: unknown): Promise<void>;
}

export interface Tool {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: 'object'; properties: Record<string, object>; required?: string[]; additionalProperties: false };
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  call(c: ToolCall): Promise<CallToolResult>;
}

/** A bad argument: answered as a tool error result the caller can correct. */
export class ToolInputError extends Error {}

export function stringArg(args: Record<string, unknown>, name: string, opts: { maxLength: number; optional?: false }): string;
export function stringArg(args: Record<string, unknown>, name: string, opts: { maxLength: number; optional: true }): string | undefined;
export function stringArg(args: Record<string, unknown>, name: string, opts: { maxLength: number; optional?: boolean }): string | undefined {
  const v = args[name];
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new ToolInputError(`${name} must be a non-empty string`);
  if (v.length > opts.maxLength) throw new ToolInputError(`${name} must be at most ${opts.maxLength} characters`);
  return v;
}

export function intArg(args: Record<string, unknown>, name: string, min: number, max: number, fallback: number): number {
  const v = args[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ToolInputError(`${name} must be a whole number from ${min} to ${max}`);
  return v;
}

export function boolArg(args: Record<string, unknown>, name: string): boolean {
  const v = args[name];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new ToolInputError(`${name} must be true or false`);
  return v;
}

export function textResult(text: string, structuredContent?: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text }], ...(structuredContent ? { structuredContent } : {}) };
}
