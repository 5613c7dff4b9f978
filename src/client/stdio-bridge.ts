// A stdio ↔ remote bridge: JSON-RPC lines in on `input` go to a transport, what the transport
// receives goes out on `output` as lines, and nothing else ever does. Both ways are bounded:
// at most `maxInFlight` sends at once (input is not read meanwhile), and while `output` is full the
// transport stops reading its streams (wire it with `backpressure: bridge.outputReady`).
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, messageKind } from '../jsonrpc.js';
import { HttpError, type ClientLogger } from './http.js';
import { CONNECTION_LOST } from './messages.js';

export interface StdioBridgeOptions {
  input: Readable;
  output: Writable;
  logger?: ClientLogger;
  /** Longest input line accepted, in bytes; a longer one is answered with an error and skipped. Default 16 MiB. */
  maxLineBytes?: number;
  /** Messages being sent at once; input is not read while this many are under way. Default 32. */
  maxInFlight?: number;
  /**
   * After input ends, how long sends under way, and requests still waiting for their response, may
   * take before the transport closes. Default 2000 ms.
   */
  closeGraceMs?: number;
}

/** Requests remembered as waiting for a response (for the grace at the end); more are not tracked. */
const MAX_TRACKED_REQUESTS = 10_000;

export class StdioBridge {
  /** Lines refused (not JSON, not JSON-RPC, too long). */
  refused = 0;
  private readonly maxLineBytes: number;
  private readonly maxInFlight: number;
  private readonly closeGraceMs: number;
  private inFlight = 0;
  private readonly unanswered = new Set<RequestId>();
  private slotFreed: (() => void) | undefined;
  private drained: Promise<void> | undefined;
  private outputGone = false;
  private transport: Transport | undefined;
  private starting: Promise<void> | undefined;
  private stopped = false;
  private closing = false;
  /** The transport closed by itself (it gave up on the server): the bridge ended for that. */
  lost = false;

  constructor(private readonly o: StdioBridgeOptions) {
    this.maxLineBytes = o.maxLineBytes ?? 16 * 1024 * 1024;
    this.maxInFlight = o.maxInFlight ?? 32;
    this.closeGraceMs = o.closeGraceMs ?? 2_000;
    o.output.on('error', (err: Error) => {
      this.outputGone = true;
      o.logger?.warn({ err: err.message }, 'the output closed; nothing more can be delivered');
    });
  }

  /** For the transport's `backpressure` option: pending while the output is full. */
  readonly outputReady = (): Promise<void> | undefined => this.drained;

  /**
   * Runs until the input ends, then closes the transport (which ends the remote session); or until
   * the transport closes by itself (`lost`), after answering every request still waiting.
   */
  async run(transport: Transport): Promise<void> {
    this.transport = transport;
    transport.onmessage = (m) => this.write(m);
    transport.onerror = (err) => this.o.logger?.warn({ err: err.message }, 'transport');
    transport.onclose = () => this.transportClosed();
    // A server down at start is no reason to leave the host without answers: each message tries again.
    await this.started().catch((err: Error) => this.o.logger?.warn({ err: err.message }, 'the transport could not start; will try again with the next message'));
    try {
      await this.pump();
    } catch (err) {
      if (!this.stopped) this.o.logger?.warn({ err: (err as Error).message }, 'reading the input failed');
    }
    const deadline = Date.now() + this.closeGraceMs;
    while (!this.lost && (this.inFlight > 0 || this.unanswered.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.closing = true;
    await transport.close();
  }

  private started(): Promise<void> {
    this.starting ??= this.transport!.start().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private transportClosed(): void {
    if (this.closing || this.lost) return;
    this.lost = true;
    this.o.logger?.warn({}, 'the transport closed; answering what is still waiting and ending');
    const err = new Error('mcpwire: the connection to the server is closed');
    for (const id of [...this.unanswered]) this.write(errorResponse(id, err));
    this.stop();
  }

  /** Ends the input now (a signal): `run` then closes the transport and returns. */
  stop(): void {
    this.stopped = true;
    this.o.input.destroy();
  }

  private async pump(): Promise<void> {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let skipping = false;
    for await (const chunk of this.o.input as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        const piece = buf.subarray(start, nl === -1 ? buf.length : nl);
        if (!skipping) {
          pendingBytes += piece.length;
          if (pendingBytes > this.maxLineBytes) {
            skipping = true;
            pending = [];
            pendingBytes = 0;
            this.refuse(ErrorCode.InvalidRequest, `Invalid Request: a line longer than ${this.maxLineBytes} bytes was skipped`);
          } else {
            pending.push(piece);
          }
        }
        if (nl === -1) break;
        if (!skipping) await this.line(Buffer.concat(pending).toString('utf8'));
        skipping = false;
        pending = [];
        pendingBytes = 0;
        start = nl + 1;
      }
    }
    if (!skipping && pendingBytes > 0) await this.line(Buffer.concat(pending).toString('utf8'));
  }

  private async line(text: string): Promise<void> {
    const trimmed = text.trim();
    if (trimmed === '') return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      this.refuse(ErrorCode.ParseError, 'Parse error: a line on stdin is not JSON');
      return;
    }
    for (const m of Array.isArray(value) ? value : [value]) {
      const kind = messageKind(m);
      if (!kind) {
        this.refuse(ErrorCode.InvalidRequest, 'Invalid Request: a line on stdin is not a JSON-RPC 2.0 message');
        continue;
      }
      await this.forward(m as JSONRPCMessage, kind === 'request');
    }
  }

  /**
   * Requests go out side by side (their answers come back on their own streams); notifications,
   * responses and `initialize` are sent in turn, so that, say, `initialized` reaches the server
   * after the session exists and before what follows it.
   */
  private async forward(m: JSONRPCMessage, isRequest: boolean): Promise<void> {
    while (this.inFlight >= this.maxInFlight) await new Promise<void>((r) => (this.slotFreed = r));
    this.inFlight++;
    const id = isRequest ? (m as { id: RequestId }).id : undefined;
    if (id !== undefined && this.unanswered.size < MAX_TRACKED_REQUESTS) this.unanswered.add(id);
    const tracked = id !== undefined && this.unanswered.has(id);
    const sending = this.started()
      .then(() => this.transport!.send(m))
      .then(
        () => {},
        (err: Error) => {
          // The transport may have answered it already (it closed while this was being sent).
          if (id !== undefined && (!tracked || this.unanswered.has(id))) this.write(errorResponse(id, err));
          else if (id === undefined) this.o.logger?.warn({ err: err.message }, 'a message could not be sent');
        },
      );
    const done = sending.finally(() => {
      this.inFlight--;
      const wake = this.slotFreed;
      this.slotFreed = undefined;
      wake?.();
    });
    if (!isRequest || (m as { method: string }).method === 'initialize') await done;
  }

  private refuse(code: number, message: string): void {
    this.refused++;
    this.o.logger?.warn({}, message);
    this.write({ jsonrpc: '2.0', id: null, error: { code, message } } as unknown as JSONRPCMessage);
  }

  private write(m: JSONRPCMessage): void {
    if (!('method' in m) && 'id' in m && m.id !== null) this.unanswered.delete(m.id as RequestId);
    if (this.outputGone) return;
    const ok = this.o.output.write(JSON.stringify(m) + '\n');
    if (!ok && !this.drained) {
      this.drained = new Promise<void>((resolve) => {
        const done = () => {
          this.o.output.off('drain', done);
          this.o.output.off('close', done);
          this.drained = undefined;
          resolve();
        };
        this.o.output.on('drain', done);
        this.o.output.on('close', done);
      });
    }
  }
}

function errorResponse(id: RequestId, err: Error): JSONRPCMessage {
  const data = err instanceof HttpError ? { status: err.status, ...(err.rpcError ? { error: err.rpcError } : {}) } : undefined;
  return { jsonrpc: '2.0', id, error: { code: CONNECTION_LOST, message: err.message, ...(data ? { data } : {}) } } as JSONRPCMessage;
}
