// Isolation (the default): one child per MCP session. Messages pass through unchanged; the only
// work is deciding which of the session's streams a child message belongs to, and answering for a
// child that is busy, gone, said too much, or never answered the session's initialize.
import type { Logger } from 'pino';
import type { Backend, BackendHost, InboundExtra } from '../backend/types.js';
import type { JSONRPCMessage, MessageKind, RequestId } from '../jsonrpc.js';
import type { MaybePromise } from '../store/types.js';
import { WriteAccount, type ExitInfo, type StdioChild } from './child.js';
import type { OverlongLine } from './line-framer.js';
import {
  GatewayError,
  QUEUE_FULL,
  SERVER_GONE,
  TOO_MANY_IN_FLIGHT,
  errorResponse,
  exitDescription,
  exitError,
  answeredIdOf,
  isSessionEvent,
  overlongError,
  progressTokenOf,
  type Msg,
  type ProgressToken,
} from './messages.js';
import type { GatewayRuntime } from './runtime.js';

interface InFlight {
  token: ProgressToken | undefined;
  pollTimer: NodeJS.Timeout | undefined;
}

export class IsolatedBackend implements Backend {
  /** Client requests the child has not answered yet (bounded by maxInFlight). */
  private readonly inFlight = new Map<RequestId, InFlight>();
  private readonly byToken = new Map<ProgressToken, RequestId>();
  private readonly account: WriteAccount;
  private readonly child: StdioChild;
  private closing = false;
  /** The session's initialize the child is running, and the deadline for its answer (--init-timeout-ms). */
  private handshake: { id: RequestId; deadline: NodeJS.Timeout } | undefined;
  /** The child missed that deadline: it is being stopped as failed, and nothing more it says is passed on. */
  private expired = false;

  constructor(
    private readonly rt: GatewayRuntime,
    private readonly host: BackendHost,
    log: Logger,
  ) {
    this.account = new WriteAccount(rt.opts.maxQueuedBytes);
    this.child = rt.spawn(
      {
        message: (m, kind) => this.fromChild(m, kind),
        overlong: (line) => this.overlong(line),
        exit: (exit) => this.exited(exit),
      },
      log,
    );
  }

  receive(message: JSONRPCMessage, extra: InboundExtra): void {
    const m = message as Msg;
    if (m.method !== undefined && m.id !== undefined && m.id !== null) {
      this.request(m, m.id, extra);
      return;
    }
    if (m.method === 'notifications/cancelled') this.settle(m.params?.requestId as RequestId);
    const r = this.child.write(JSON.stringify(m), this.account);
    if (r !== 'ok') this.rt.log.warn({ sessionId: this.host.sessionId, method: m.method }, `a client message could not be passed on (${r}); dropped`);
  }

  private request(m: Msg, id: RequestId, extra: InboundExtra): void {
    if (this.inFlight.size >= this.rt.opts.maxInFlight) {
      this.rt.stats.refusedBusy++;
      void this.host.send(errorResponse(id, GatewayError.Refused, TOO_MANY_IN_FLIGHT));
      return;
    }
    const r = this.child.write(JSON.stringify(m), this.account);
    if (r !== 'ok') {
      if (r === 'full') this.rt.stats.refusedBusy++;
      void this.host.send(errorResponse(id, GatewayError.Refused, r === 'full' ? QUEUE_FULL : SERVER_GONE));
      return;
    }
    const token = progressTokenOf(m);
    if (token !== undefined) this.byToken.set(token, id);
    const close = extra.closeSSEStream;
    const ms = this.rt.opts.closeSseAfterMs;
    const pollTimer = ms > 0 && close ? setTimeout(close, ms) : undefined;
    pollTimer?.unref();
    this.inFlight.set(id, { token, pollTimer });
    if (m.method === 'initialize') this.handshakeDeadline(id);
  }

  /**
   * A child that never answers initialize would hold its session, its process and its place under
   * --max-children until the client gives up: as in shared mode, after `initTimeoutMs` it is stopped
   * as failed, and its exit answers the initialize (and anything else in flight) and ends the session.
   */
  private handshakeDeadline(id: RequestId): void {
    const ms = this.rt.opts.initTimeoutMs;
    if (ms <= 0 || this.handshake) return;
    const deadline = setTimeout(() => {
      this.handshake = undefined;
      this.expired = true;
      this.child.fail(`did not answer initialize within ${ms} ms`);
    }, ms);
    deadline.unref();
    this.handshake = { id, deadline };
  }

  /** The handshake is over (answered, or the child or session is gone): its deadline goes. */
  private endHandshake(answered?: RequestId): void {
    if (!this.handshake || (answered !== undefined && answered !== this.handshake.id)) return;
    clearTimeout(this.handshake.deadline);
    this.handshake = undefined;
  }

  private settle(id: RequestId): void {
    const f = this.inFlight.get(id);
    if (!f) return;
    this.inFlight.delete(id);
    if (f.token !== undefined && this.byToken.get(f.token) === id) this.byToken.delete(f.token);
    if (f.pollTimer) clearTimeout(f.pollTimer);
  }

  /** The one request in flight, if there is exactly one: what an untagged child message belongs to. */
  private soleRequest(): RequestId | undefined {
    if (this.inFlight.size !== 1) return undefined;
    return this.inFlight.keys().next().value;
  }

  private fromChild(message: JSONRPCMessage, kind: MessageKind): MaybePromise<void> {
    if (this.closing || this.expired) return;
    const m = message as Msg;
    if (kind === 'response') {
      if (m.id !== null && m.id !== undefined) {
        this.endHandshake(m.id);
        this.settle(m.id);
      }
      return this.host.send(message);
    }
    if (kind === 'notification') {
      if (m.method === 'notifications/progress') {
        const token = m.params?.progressToken as ProgressToken;
        return this.host.send(message, this.byToken.get(token));
      }
      if (isSessionEvent(m.method!)) return this.host.send(message);
    }
    // Logs, sampling, elicitation, roots, pings: they carry no request id, so they follow the one
    // request in flight when there is one, else take the session's own stream.
    return this.host.send(message, this.soleRequest());
  }

  private overlong(line: OverlongLine): void {
    if (this.closing || this.expired) return;
    const id = answeredIdOf(line);
    if (id === undefined || !this.inFlight.has(id)) return;
    this.endHandshake(id);
    this.settle(id);
    void this.host.send(overlongError(id, line, this.rt.opts.maxLineBytes));
  }

  private exited(exit: ExitInfo): void {
    if (this.closing) return;
    this.closing = true;
    this.endHandshake();
    const sends: Array<MaybePromise<void>> = [];
    for (const id of [...this.inFlight.keys()]) {
      this.settle(id);
      sends.push(this.host.send(exitError(id, exit)));
    }
    const end = () => this.host.backendClosed(`server process ${exitDescription(exit)}`);
    Promise.all(sends).then(end, end);
  }

  close(): Promise<void> {
    this.closing = true;
    this.endHandshake();
    for (const id of [...this.inFlight.keys()]) this.settle(id);
    return this.child.stop().then(() => undefined);
  }
}
