// HTTP for the load generator on undici's lowest level (`dispatch` with a handler), so that the
// client spends as little as it can per request: no body stream objects, one string per response.
import type { IncomingHttpHeaders } from 'node:http';
import { Client, type Dispatcher } from 'undici';

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const TIMEOUTS = { headersTimeout: 60_000, connectTimeout: 60_000, keepAliveTimeout: 600_000 };

/** A keep-alive connection for requests, one at a time. */
export function requestClient(origin: string, localAddress: string): Client {
  return new Client(origin, { ...TIMEOUTS, bodyTimeout: 60_000, pipelining: 1, localAddress });
}

/** A connection of its own for a long-lived SSE stream (a GET that never frees its socket). */
export function streamClient(origin: string, localAddress: string): Client {
  return new Client(origin, { ...TIMEOUTS, bodyTimeout: 0, localAddress });
}

/** Sends a request and collects its whole response body as text. */
export function send(d: Dispatcher, method: string, path: string, headers: Record<string, string>, body: string | null): Promise<Response> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let resHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    d.dispatch(
      { method, path, headers, body },
      {
        // Its presence marks the handler as undici's current handler API.
        onRequestStart() {},
        onResponseStart(_c, statusCode, h) {
          status = statusCode;
          resHeaders = h;
        },
        onResponseData(_c, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          const body = chunks.length === 1 ? chunks[0]!.toString('utf8') : chunks.length === 0 ? '' : Buffer.concat(chunks).toString('utf8');
          resolve({ status, headers: resHeaders, body });
        },
        onResponseError(_c, err) {
          reject(err);
        },
      },
    );
  });
}

/**
 * Opens a GET stream: resolves with the status and headers once they arrive, then hands every body
 * chunk (decoded) to `onText` and calls `onEnd` when the stream ends or fails.
 */
export function openStream(
  d: Dispatcher,
  path: string,
  headers: Record<string, string>,
  onText: (text: string) => void,
  onEnd: (err?: Error) => void,
): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const utf8 = new TextDecoder();
    let started = false;
    d.dispatch(
      { method: 'GET', path, headers },
      {
        onRequestStart() {},
        onResponseStart(_c, status, h) {
          started = true;
          resolve({ status, headers: h });
        },
        onResponseData(_c, chunk) {
          onText(utf8.decode(chunk, { stream: true }));
        },
        onResponseEnd() {
          onEnd();
        },
        onResponseError(_c, err) {
          if (started) onEnd(err);
          else reject(err);
        },
      },
    );
  });
}
