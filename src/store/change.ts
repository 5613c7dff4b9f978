// What a session is sent for each published change, and which sessions take it.
import type { ChangeEvent } from './types.js';

const CHANGE_METHOD = {
  resource_updated: 'notifications/resources/updated',
  tools_list_changed: 'notifications/tools/list_changed',
  prompts_list_changed: 'notifications/prompts/list_changed',
  resources_list_changed: 'notifications/resources/list_changed',
} as const;

export interface ChangeNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export function changeMethod(event: ChangeEvent): string {
  return event.kind === 'notification' ? event.method : CHANGE_METHOD[event.kind];
}

/** The notification a session is sent for `event`. */
export function changeNotification(event: ChangeEvent): ChangeNotification {
  switch (event.kind) {
    case 'notification':
      return event.params === undefined ? { jsonrpc: '2.0', method: event.method } : { jsonrpc: '2.0', method: event.method, params: event.params };
    case 'resource_updated':
      return { jsonrpc: '2.0', method: CHANGE_METHOD.resource_updated, params: { uri: event.uri } };
    default:
      return { jsonrpc: '2.0', method: CHANGE_METHOD[event.kind] };
  }
}

/** Log levels from least to most severe (RFC 5424, as MCP names them). */
export const LOG_SEVERITY = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/**
 * The `level` a broadcast log message (`notifications/message`) is at, or undefined for any other
 * change: a session that asked for a level (`logging/setLevel`) is sent only messages at it or above.
 */
export function broadcastLogLevel(event: ChangeEvent): number | undefined {
  if (event.kind !== 'notification' || event.method !== 'notifications/message') return undefined;
  return LOG_SEVERITY.indexOf(String(event.params?.level));
}

/** Whether a session at logging level `sessionLevel` (none asked: everything) takes a message at `level`. */
export function levelPasses(level: number | undefined, sessionLevel: string | undefined | null): boolean {
  return level === undefined || !sessionLevel || level >= LOG_SEVERITY.indexOf(sessionLevel);
}
