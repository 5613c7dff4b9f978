// The `mcpwire` CLI run to its end, as a user meets it: its exit code, stdout and stderr, and what a
// refusal must look like (one line on stderr naming the flag, nothing on stdout, no stack trace).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface Run {
  code: number | null;
  /** It got as far as serving (then it was killed): the flags were taken. */
  started: boolean;
  stdout: string;
  stderr: string;
}

const STARTED = /listening on|MCP at http|bridging stdio/;

/**
 * Runs `mcpwire <args>` from source until it exits, or until it has started serving (then kills it),
 * or for `limitMs` at most. `wrapper` runs it under another command (e.g. setpriv).
 */
export async function runCli(args: string[], o: { env?: Record<string, string>; wrapper?: string[]; limitMs?: number } = {}): Promise<Run> {
  const argv = [...(o.wrapper ?? []), process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args];
  const proc = spawn(argv[0]!, argv.slice(1), { cwd: REPO, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { code: null, started: false, stdout: '', stderr: '' };
  proc.stdout.on('data', (d) => (run.stdout += d));
  proc.stderr.on('data', (d) => {
    run.stderr += d;
    if (!run.started && STARTED.test(run.stderr)) {
      run.started = true;
      proc.kill('SIGKILL');
    }
  });
  const limit = setTimeout(() => proc.kill('SIGKILL'), o.limitMs ?? 30_000);
  run.code = await new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  clearTimeout(limit);
  return run;
}

/** Refused: exit `code` (2 usage, 1 runtime), one line on stderr matching `says`, nothing on stdout, `secret` nowhere. */
export function refused(r: Run, code: 1 | 2, says: RegExp, secret?: string): void {
  const what = `exit ${r.code}${r.started ? ' (it started)' : ''}; stderr: ${r.stderr.slice(0, 1_000)}`;
  assert.equal(r.started, false, what);
  assert.equal(r.code, code, what);
  assert.equal(r.stdout, '', 'nothing on stdout');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${what}`);
  assert.match(lines[0]!, says);
  if (secret !== undefined) assert.ok(!r.stderr.includes(secret), `the secret is repeated: ${r.stderr}`);
}

/** The long flags a command's --help lists (not --help itself). */
export async function helpFlags(command: string): Promise<Set<string>> {
  const r = await runCli([command, '--help']);
  assert.equal(r.code, 0, r.stderr);
  const flags = [...r.stdout.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
  return new Set(flags.filter((f) => f !== '--help'));
}

/** The long flags in the first column of the tables of README's section `heading` (`## heading`). */
export function readmeTableFlags(heading: string): Set<string> {
  const readme = readFileSync(new URL('README.md', `file://${REPO}`), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has ## ${heading}`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const cells = [...section.matchAll(/^\| ([^|]*(?:\\\|[^|]*)*) \|/gm)].map((m) => m[1]!);
  return new Set(cells.flatMap((c) => [...c.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0])));
}
