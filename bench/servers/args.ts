// What every bench server shares without loading anything else (the stub must stay bare).

/** The port a bench server listens on: `--port <n>` (0 for any). */
export function portArg(): number {
  const i = process.argv.indexOf('--port');
  return i === -1 ? 0 : Number(process.argv[i + 1]);
}

/** Tells the runner the server is up: one line on stdout. */
export function ready(port: number): void {
  process.stdout.write(`listening ${port}\n`);
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const wallMs = (): number => performance.timeOrigin + performance.now();
