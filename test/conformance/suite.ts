// Running the official conformance suite (0.1.16, on the Node 22 it needs) from the tests.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CONFORMANCE_DIR = fileURLToPath(new URL('.', import.meta.url));
const tools = join(CONFORMANCE_DIR, 'tools');
const node22 = join(tools, 'node_modules', '.bin', 'node');
const dist = join(tools, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist');

/** The scenarios that send raw Streamable HTTP to --url: not applicable to /sse. */
export const LEGACY_NOT_APPLICABLE = join(CONFORMANCE_DIR, 'legacy-not-applicable.yml');

export const suiteInstalled = (): boolean => existsSync(node22);

export interface Run {
  code: number;
  passed: number;
  failed: number;
  warnings: number;
  output: string;
}

/** `cli` is `index.js` (the suite) or `sse-cli.mjs` (its copy that connects over legacy /sse). */
export function runSuite(cli: 'index.js' | 'sse-cli.mjs', args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(node22, [join(dist, cli), 'server', ...args], { cwd: tools, timeout: 240_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const output = stdout + stderr;
      const total = /Total: (\d+) passed, (\d+) failed/.exec(output);
      resolve({
        code: err ? ((err as { code?: number }).code ?? 1) : 0,
        passed: total ? Number(total[1]) : 0,
        failed: total ? Number(total[2]) : -1,
        warnings: (output.match(/\bWARNING\b/g) ?? []).length,
        output,
      });
    });
  });
}

/** The suite is known to flake about once in fifty runs (an elicitation scenario); one retry. */
export async function runWithRetry(cli: 'index.js' | 'sse-cli.mjs', args: string[], ok: (r: Run) => boolean): Promise<Run> {
  const first = await runSuite(cli, args);
  if (ok(first)) return first;
  return runSuite(cli, args);
}

/** Writes sse-cli.mjs beside the installed suite (see sse-cli.mjs). */
export function buildLegacyCli(): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [join(CONFORMANCE_DIR, 'sse-cli.mjs')], (err) => (err ? reject(err) : resolve())),
  );
}

/** The failed scenarios and warnings of a run, for an assertion message. */
export function failedLines(output: string): string {
  return output
    .split('\n')
    .filter((l) => l.startsWith('✗') || /WARNING/.test(l))
    .join('\n');
}
