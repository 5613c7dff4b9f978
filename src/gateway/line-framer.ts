// Newline-delimited framing of a byte stream (a child's stdout or stderr): complete lines out,
// partial lines buffered, lines past a byte limit skipped rather than buffered.

/** What is kept of a line that was too long: its length and its two ends (to find the id it answered). */
export interface OverlongLine {
  bytes: number;
  head: string;
  tail: string;
}

const EDGE_BYTES = 512;

export class LineFramer {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Set while skipping the rest of a line past the limit. */
  private skipping: { bytes: number; head: Buffer; tail: Buffer } | undefined;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverlong: (line: OverlongLine) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        this.keep(chunk.subarray(start));
        return;
      }
      if (this.partBytes === 0 && !this.skipping && nl - start <= this.maxLineBytes) {
        this.emit(chunk.toString('utf8', start, nl));
      } else {
        this.keep(chunk.subarray(start, nl));
        this.endLine();
      }
      start = nl + 1;
    }
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): void {
    if (this.partBytes > 0 || this.skipping) this.endLine();
  }

  private keep(piece: Buffer): void {
    if (piece.length === 0) return;
    const s = this.skipping;
    if (s) {
      s.bytes += piece.length;
      s.tail = lastBytes(Buffer.concat([s.tail, piece]));
      return;
    }
    if (this.partBytes + piece.length <= this.maxLineBytes) {
      // A copy: a slice would pin the stream's whole chunk while the line waits for its end.
      this.parts.push(Buffer.from(piece));
      this.partBytes += piece.length;
      return;
    }
    const sofar = Buffer.concat([...this.parts, piece]);
    this.skipping = { bytes: sofar.length, head: Buffer.from(sofar.subarray(0, EDGE_BYTES)), tail: lastBytes(sofar) };
    this.parts = [];
    this.partBytes = 0;
  }

  private endLine(): void {
    const s = this.skipping;
    if (s) {
      this.skipping = undefined;
      this.onOverlong({ bytes: s.bytes, head: s.head.toString('utf8'), tail: s.tail.toString('utf8') });
      return;
    }
    const parts = this.parts;
    if (parts.length === 0) return;
    const line = (parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.partBytes)).toString('utf8');
    this.parts = [];
    this.partBytes = 0;
    this.emit(line);
  }

  private emit(line: string): void {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim().length > 0) this.onLine(text);
  }
}

function lastBytes(b: Buffer): Buffer {
  return b.length <= EDGE_BYTES ? Buffer.from(b) : Buffer.from(b.subarray(b.length - EDGE_BYTES));
}
