// The CLI's logger: pretty lines on a terminal, JSON lines otherwise; always on stderr, so a
// command's stdout stays its own (JSON-RPC for `connect`).
import { pino, type Logger } from 'pino';

export function cliLogger(level: string): Logger {
  if (process.stderr.isTTY) {
    return pino({ level, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } });
  }
  return pino({ level }, pino.destination({ fd: 2, sync: false }));
}
