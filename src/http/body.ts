// Reading a request body under a byte limit that is enforced while the body streams in.
import type { IncomingMessage } from 'node:http';

/** `bytes`: the body's size on the wire (its UTF-8 bytes), for the byte counters. */
export type BodyResult = { ok: true; text: string; bytes: number } | { ok: false; reason: 'too-large' | 'aborted' };

export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.resolve({ ok: false, reason: 'too-large' });
  return new Promise((resolve) => {
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let size = 0;
    let done = false;
    // The listeners stay until the request is gone: once settled they do nothing, and not removing
    // them saves four calls on every request. 'error' covers an aborted request too.
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        first = more = undefined;
        req.pause();
        resolve({ ok: false, reason: 'too-large' });
        return;
      }
      if (first === undefined) first = chunk;
      else (more ??= [first]).push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      const text = more ? Buffer.concat(more, size).toString('utf8') : first ? first.toString('utf8') : '';
      resolve({ ok: true, text, bytes: size });
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      resolve({ ok: false, reason: 'aborted' });
    });
  });
}
