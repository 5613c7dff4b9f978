// Refusals as the checklist says: an HTTP status plus a JSON-RPC error body, never the input echoed.
import type { ServerResponse } from 'node:http';
import { errorBody, type RequestId } from '../jsonrpc.js';

export function sendError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers?: Record<string, string>,
  data?: unknown,
  id: RequestId | null = null,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(code, message, id, data);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
