// Plain counters kept by the engine on the hot path; health and metrics read them on demand.
export interface Stats {
  sessionsCreated: number;
  sessionsEnded: number;
  streamsOpened: number;
  streamsClosed: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  keepalivesSent: number;
  replays: number;
  eventsReplayed: number;
  resumeMisses: number;
  /** Logged messages that fell off a log before any client received them. */
  eventsDropped: number;
  slowClientsEvicted: number;
  stalledStreamsClosed: number;
  takeovers: number;
  /** Responses with no pending request to go to (for example after the session's stream ended). */
  orphanResponses: number;
  httpErrors: number;
  hibernations: number;
  rehydrations: number;
  /** Several instances: sessions taken from an owner whose lease lapsed, woken from hibernation, fenced. */
  ownerTakeovers: number;
  wakeups: number;
  fenced: number;
}

export function newStats(): Stats {
  return {
    sessionsCreated: 0,
    sessionsEnded: 0,
    streamsOpened: 0,
    streamsClosed: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    keepalivesSent: 0,
    replays: 0,
    eventsReplayed: 0,
    resumeMisses: 0,
    eventsDropped: 0,
    slowClientsEvicted: 0,
    stalledStreamsClosed: 0,
    takeovers: 0,
    orphanResponses: 0,
    httpErrors: 0,
    hibernations: 0,
    rehydrations: 0,
    ownerTakeovers: 0,
    wakeups: 0,
    fenced: 0,
  };
}
