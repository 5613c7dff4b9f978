// The set of live sessions: creation under limits, lookup bound to the principal, idle expiry,
// change notifications fanned out to the sessions they concern, and shutdown with drain.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { BackendFactory, InboundExtra, SessionContext, Wire } from '../backend/types.js';
import { PrincipalCounts } from '../principal.js';
import { broadcastLogLevel, changeNotification, levelPasses } from '../store/change.js';
import type { Bus, ChangeEvent, EventStore } from '../store/types.js';
import type { Cluster } from './cluster.js';
import { ClusteredSession } from './clustered-session.js';
import { Session } from './session.js';
import { SseConnections, type SseLimits } from './sse-writer.js';
import type { Stats } from './stats.js';

export interface EngineOptions {
  store: EventStore;
  bus: Bus;
  stats: Stats;
  log: Logger;
  backendFactory: BackendFactory;
  maxSessions: number;
  maxSessionsPerPrincipal: number;
  sessionIdleMs: number;
  /** Drop the backend of a session idle this long, keeping the session (0: never). */
  hibernateAfterMs: number;
  legacyReconnectGraceMs: number;
  keepAliveMs: number;
  retryMs: number;
  sse: SseLimits;
  retainFinishedStreams: number;
  finishedStreamTtlMs: number;
  /** Several instances over Redis; without it, everything is in this process. */
  cluster?: Cluster;
}

/** Why no session was created: draining, the session limit (or the principal's), or the backend's own reason. */
export type CreateRefusal = 'draining' | 'full' | 'principal-full' | `backend: ${string}`;

/** What happens in the engine, for observers (the dashboard); emitted only while someone watches. */
export type EngineEvent =
  | { type: 'session-opened'; sessionId: string; wire: Wire }
  | { type: 'session-ended'; sessionId: string; wire: Wire; reason: string }
  | { type: 'change'; change: ChangeEvent; sessionIds: string[] };

export class SessionManager {
  readonly sessions = new Map<string, Session>();
  readonly byWire: Record<Wire, number> = { legacy: 0, streamable: 0 };
  readonly connections: SseConnections;
  draining = false;
  private readonly sweeper: NodeJS.Timeout | undefined;
  private readonly unsubscribeBus: () => void;
  private readonly sessionDeps;
  private readonly watchers = new Set<(e: EngineEvent) => void>();
  /** Sessions held here per principal. */
  private readonly perPrincipal = new PrincipalCounts();

  constructor(private readonly opts: EngineOptions) {
    this.connections = new SseConnections(opts.sse, opts.stats, opts.keepAliveMs);
    this.sessionDeps = {
      store: opts.cluster ? opts.cluster.store : opts.store,
      stats: opts.stats,
      log: opts.log,
      backendFactory: opts.backendFactory,
      retryMs: opts.retryMs,
      retainFinishedStreams: opts.retainFinishedStreams,
      finishedStreamTtlMs: opts.finishedStreamTtlMs,
      onEnded: (s: Session, reason: string) => this.forget(s, reason),
      onDetached: (s: Session) => this.detached(s),
    };
    const periods = [opts.sessionIdleMs, opts.hibernateAfterMs].filter((p) => p > 0);
    if (periods.length > 0) {
      const every = Math.max(250, Math.min(...periods.map((p) => p / 4), 30_000));
      this.sweeper = setInterval(() => this.sweep(), every);
      this.sweeper.unref();
    }
    // With several instances, changes reach sessions through Redis (Cluster.fanOut), not locally.
    this.unsubscribeBus = opts.cluster ? () => {} : opts.bus.subscribe((e) => this.deliverChange(e));
  }

  /** Connects to the shared engine, when there is one. */
  async start(): Promise<void> {
    await this.opts.cluster?.start(this.sessions as Map<string, ClusteredSession>);
  }

  get stats(): Stats {
    return this.opts.stats;
  }

  create(
    wire: Wire,
    principal: string | undefined,
    context: Omit<SessionContext, 'sessionId' | 'wire'>,
  ): Session | CreateRefusal | Promise<Session | CreateRefusal> {
    if (this.draining) return 'draining';
    if (this.sessions.size >= this.opts.maxSessions) return 'full';
    if (this.perPrincipal.full(principal, this.opts.maxSessionsPerPrincipal)) return 'principal-full';
    const busy = this.opts.backendFactory.refuseSession?.();
    if (busy !== undefined) return `backend: ${busy}`;
    const id = randomUUID();
    const cluster = this.opts.cluster;
    const ctx = { ...context, sessionId: id, wire };
    const session = cluster
      ? new ClusteredSession(id, wire, principal, ctx, this.sessionDeps, cluster, { owned: true, epoch: '1', owner: cluster.me })
      : new Session(id, wire, principal, ctx, this.sessionDeps);
    this.add(session);
    if (!cluster) return session;
    return cluster.create(id, principal, wire).then(
      () => session,
      (err: unknown) => {
        session.end('could not be stored');
        throw err;
      },
    );
  }

  private add(session: Session): void {
    this.sessions.set(session.id, session);
    this.byWire[session.wire]++;
    this.perPrincipal.add(session.principal);
    this.opts.stats.sessionsCreated++;
    if (this.watchers.size > 0) this.emit({ type: 'session-opened', sessionId: session.id, wire: session.wire });
  }

  /** The session with this id, if it exists and belongs to this principal (else it is "unknown"). */
  resolve(id: string, principal: string | undefined): Session | undefined | Promise<Session | undefined> {
    const s = this.sessions.get(id);
    if (s) {
      if (s.principal !== principal) return undefined;
      // Adopted before the handshake was answered (a legacy client posts its initialize to whichever
      // instance the balancer picks, once the endpoint event has named the session): the owner has
      // stored the negotiated version with the answer since, so read it again.
      if (s.protocolVersion === undefined && s instanceof ClusteredSession && !s.owned) return s.reloadVersion().then(() => s);
      return s;
    }
    return this.opts.cluster ? this.adopt(id, principal, this.opts.cluster) : undefined;
  }

  /** A session another instance created: this one gets its part of it (to take requests, hold streams). */
  private async adopt(id: string, principal: string | undefined, cluster: Cluster): Promise<Session | undefined> {
    const record = await cluster.lookup(id);
    if (!record || (record.pr || undefined) !== principal) return undefined;
    const again = this.sessions.get(id);
    if (again) return again;
    const wire = record.w as Wire;
    const context = { sessionId: id, wire, headers: {} };
    const session = new ClusteredSession(id, wire, principal, context, this.sessionDeps, cluster, {
      owned: record.own === cluster.me,
      epoch: record.ep ?? '',
      owner: record.own ?? '',
      record,
    });
    this.add(session);
    return session;
  }

  /**
   * Publishes a change; every session (and listener) it concerns is notified, on every instance.
   * `once` names the change: of several instances publishing the same name, only the first does.
   */
  publish(event: ChangeEvent, once?: string): void | Promise<void> {
    const cluster = this.opts.cluster;
    if (!cluster) return this.opts.bus.publish(event);
    if (once !== undefined) return cluster.claim(once).then((first) => (first ? this.publish(event) : undefined));
    if (this.watchers.size > 0) this.emit({ type: 'change', change: event, sessionIds: [] });
    // The bus carries changes to listen streams, which take no broadcast notifications.
    if (event.kind === 'notification') return cluster.fanOut(event);
    return Promise.all([cluster.fanOut(event), this.opts.bus.publish(event)]).then(() => {});
  }

  /** Observes sessions opening and ending and changes being delivered; returns the unsubscriber. */
  watch(listener: (e: EngineEvent) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  private emit(e: EngineEvent): void {
    for (const w of this.watchers) w(e);
  }

  private deliverChange(event: ChangeEvent): void {
    const message = changeNotification(event);
    // Serialized once for every session it goes to.
    const data = JSON.stringify(message);
    const level = broadcastLogLevel(event);
    const delivered: string[] | undefined = this.watchers.size > 0 ? [] : undefined;
    for (const s of this.sessions.values()) {
      if (s.protocolVersion === undefined) continue; // not initialized yet
      if (event.kind === 'resource_updated' && !s.subscriptions.has(event.uri)) continue;
      if (!levelPasses(level, s.logLevel)) continue;
      void s.send(message, undefined, data);
      delivered?.push(s.id);
    }
    if (delivered) this.emit({ type: 'change', change: event, sessionIds: delivered });
  }

  private detached(s: Session): void {
    if (s.ended || s.wire !== 'legacy' || s.attachedStreams > 0) return;
    // The legacy stream is the session's lifeline: without a reconnect (Last-Event-ID) it ends.
    if (s.graceTimer) clearTimeout(s.graceTimer);
    s.graceTimer = setTimeout(() => {
      s.graceTimer = undefined;
      if (s.attachedStreams === 0) void s.terminate('legacy stream closed');
    }, this.opts.legacyReconnectGraceMs);
    s.graceTimer.unref();
  }

  reattached(s: Session): void {
    if (s.graceTimer) clearTimeout(s.graceTimer);
    s.graceTimer = undefined;
  }

  private forget(s: Session, reason: string): void {
    if (this.sessions.get(s.id) !== s) return;
    this.sessions.delete(s.id);
    this.byWire[s.wire]--;
    this.perPrincipal.remove(s.principal);
    this.opts.stats.sessionsEnded++;
    if (this.watchers.size > 0) this.emit({ type: 'session-ended', sessionId: s.id, wire: s.wire, reason });
    this.opts.log.debug({ sessionId: s.id, wire: s.wire, reason }, 'session ended');
  }

  private sweep(): void {
    const now = Date.now();
    const idleBefore = this.opts.sessionIdleMs > 0 ? now - this.opts.sessionIdleMs : -Infinity;
    const sleepBefore = this.opts.hibernateAfterMs > 0 ? now - this.opts.hibernateAfterMs : -Infinity;
    for (const s of this.sessions.values()) {
      if (s.lastActive < idleBefore && s.pendingRequests === 0 && s.attachedStreams === 0) s.expire(idleBefore);
      else if (s.lastActive < sleepBefore && s.awake) s.hibernate();
      // A quiet session opens no new POST stream, which is where they are otherwise pruned.
      else s.pruneFinished();
    }
  }

  get pendingRequests(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.pendingRequests;
    return n;
  }

  /**
   * Stops taking sessions, lets in-flight requests finish for up to `drainMs`, then sends `retry:` on
   * every open stream, ends every session and stops the timers.
   */
  async close(drainMs = 0): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + drainMs;
    while (this.pendingRequests > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    await Promise.allSettled(
      [...this.sessions.values()].map((s) => {
        s.closeConnections(this.opts.retryMs);
        return s.shutdown();
      }),
    );
    if (this.sweeper) clearInterval(this.sweeper);
    this.connections.stop();
    this.unsubscribeBus();
    await this.opts.cluster?.stop();
  }
}

export type { InboundExtra };
