// What a client transport counts about its connections, for logs, tests and the curious.

export interface TransportStats {
  /** Messages handed to the client. */
  messagesReceived: number;
  /** Streams that broke (closed by the server or the network, or silenced) and were taken up again. */
  streamsLost: number;
  /** Streams resumed with Last-Event-ID (the legacy stream: reattached to its session). */
  resumes: number;
  /** Streams closed by the watchdog because they showed no byte for `idleTimeoutMs`. */
  watchdogTrips: number;
  /** Sessions the server lost, replaced by replaying the client's initialize. */
  reinitializations: number;
}

export function newTransportStats(): TransportStats {
  return { messagesReceived: 0, streamsLost: 0, resumes: 0, watchdogTrips: 0, reinitializations: 0 };
}
