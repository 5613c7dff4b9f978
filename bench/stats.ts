// Latency samples (bounded) and their percentiles.
export class Samples {
  private readonly values: Float64Array;
  count = 0;

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity);
  }

  add(v: number): void {
    if (this.count < this.capacity) this.values[this.count++] = v;
  }

  /** Percentiles (0–100) of what was added, rounded to 0.01; NaN when empty. */
  percentiles(...ps: number[]): number[] {
    const sorted = this.values.slice(0, this.count).sort();
    return ps.map((p) => (sorted.length === 0 ? NaN : round2(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!)));
  }
}

export const round2 = (v: number): number => Math.round(v * 100) / 100;
export const round1 = (v: number): number => Math.round(v * 10) / 10;

/**
 * The best of several passes of the same runs, one per key: other work on the machine can only slow
 * a pass down. Rows keep the order in which their keys first came.
 */
export function best<T>(rows: T[], key: (r: T) => string, score: (r: T) => number): T[] {
  const chosen = new Map<string, T>();
  for (const r of rows) {
    const have = chosen.get(key(r));
    if (!have || score(r) > score(have)) chosen.set(key(r), r);
  }
  return [...chosen.values()];
}
