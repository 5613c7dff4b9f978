// A count of distinct paths that stays bounded: the same path seen on every change is counted once.
// Up to `cap` paths are remembered; past that, only a full walk of the folder (which sees each path
// once) adds to the count, so a large folder is still counted, never twice, in bounded memory.
export class PathTally {
  private readonly paths = new Set<string>();
  private beyond = 0;

  constructor(private readonly cap: number) {}

  get count(): number {
    return this.paths.size + this.beyond;
  }

  /** Up to `n` of the paths counted, for a log line. */
  sample(n: number): string[] {
    return [...this.paths].slice(0, n);
  }

  add(rel: string, fullWalk: boolean): void {
    if (this.paths.has(rel)) return;
    if (this.paths.size < this.cap) this.paths.add(rel);
    else if (fullWalk) this.beyond++;
  }

  delete(rel: string): void {
    this.paths.delete(rel);
  }

  deleteUnder(prefix: string): void {
    for (const r of this.paths) if (r.startsWith(prefix)) this.paths.delete(r);
  }

  clear(): void {
    this.paths.clear();
    this.beyond = 0;
  }
}
