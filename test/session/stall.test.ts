// A client that stops reading but stays connected, below the byte bound: its stream is closed once
// nothing has drained for stallTimeoutMs, and it can resume from the log.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { STREAMABLE_HEADERS, rawSession, startServer, waitFor } from '../helpers.js';

test('a stalled stream is closed after stallTimeoutMs', async () => {
  // A byte bound far above what is sent, so only the stall rule can act.
  const server = await startServer({ keepAliveMs: 50, stallTimeoutMs: 400, maxBufferedBytes: 256 * 2 ** 20 });
  try {
    const id = await rawSession(server.url);
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(`GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAccept: text/event-stream\r\nMcp-Session-Id: ${id}\r\n\r\n`);
    socket.pause();
    await waitFor(() => server.handler.sessions.connections.open.size === 1, 5_000, 'the GET stream');
    // About 9 MB of notifications: more than the kernel buffers hold, so bytes queue in the server.
    const res = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, 'Mcp-Session-Id': id },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'tick', arguments: { n: 100_000 } } }),
    });
    await res.text();
    await waitFor(() => server.handler.stats.stalledStreamsClosed === 1, 10_000, 'the stalled stream to be closed');
    assert.equal(server.handler.stats.slowClientsEvicted, 0, 'closed for stalling, not for its bytes');
    assert.equal(server.handler.sessions.connections.open.size, 0);
    socket.destroy();
  } finally {
    await server.close();
  }
});
