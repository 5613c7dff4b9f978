// Running the conformance suite's 0.2.0 alpha (test/conformance/tools-next, on its own Node 22)
// against a URL with a frozen requirement set, and reading its summary: the scenarios the set scores,
// and those it runs without scoring (extensions, pending ones).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const tools = fileURLToPath(new URL('./tools-next/', import.meta.url));
const node22 = join(tools, 'node_modules', '.bin', 'node');
const cli = join(tools, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');

export interface ScenarioScore {
  name: string;
  passed: number;
  failed: number;
}

export interface ConformanceRun {
  code: number;
  output: string;
  scoredScenarios: ScenarioScore[];
  notScored: ScenarioScore[];
  scored: number;
  scoredPassed: number;
  scoredFailed: number;
  /** The scored scenarios that failed, one per line. */
  failures: string;
}

export function nextSuiteInstalled(): boolean {
  return existsSync(cli) && existsSync(node22);
}

function parse(output: string): { scored: ScenarioScore[]; notScored: ScenarioScore[] } {
  const summary = output.slice(output.indexOf('=== SUMMARY ==='));
  const all: ScenarioScore[] = [];
  for (const m of summary.matchAll(/^[✓✗] (\S+): (\d+) passed, (\d+) failed$/gm)) all.push({ name: m[1]!, passed: Number(m[2]), failed: Number(m[3]) });
  const tail = summary.slice(summary.indexOf('Not scored'));
  const unscored = new Set([...tail.matchAll(/^\s+[✓✗] (\S+) \(/gm)].map((m) => m[1]!));
  return { scored: all.filter((s) => !unscored.has(s.name)), notScored: all.filter((s) => unscored.has(s.name)) };
}

function runOnce(url: string, requirements: string): Promise<ConformanceRun> {
  const out = mkdtempSync(join(tmpdir(), `mcpwire-conformance-${requirements}-`));
  return new Promise((resolve) => {
    execFile(node22, [cli, 'server', '--url', url, '--requirements', requirements, '-o', out], { cwd: tools, timeout: 300_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const output = stdout + stderr;
      const { scored, notScored } = parse(output);
      resolve({
        code: err ? ((err as { code?: number }).code ?? 1) : 0,
        output,
        scoredScenarios: scored,
        notScored,
        scored: scored.length,
        scoredPassed: scored.reduce((n, s) => n + s.passed, 0),
        scoredFailed: scored.reduce((n, s) => n + s.failed, 0),
        failures: scored.some((s) => s.failed > 0)
          ? [...scored.filter((s) => s.failed > 0).map((s) => `${s.name}: ${s.failed} failed`), ...failedChecks(out, scored.filter((s) => s.failed > 0).map((s) => s.name))].join('\n')
          : output.slice(-2000),
      });
    });
  });
}

/** The checks of these scenarios that failed, with the suite's own words for why (from the checks.json it writes per scenario). */
function failedChecks(dir: string, scenarios: string[]): string[] {
  const lines: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!entry.endsWith('checks.json') || !scenarios.some((name) => entry.includes(name))) continue;
    try {
      const checks = JSON.parse(readFileSync(join(dir, entry), 'utf8')) as Array<{ id: string; status: string; errorMessage?: string }>;
      for (const c of checks) if (c.status === 'FAILURE') lines.push(`  ${c.id}: ${c.errorMessage ?? ''}`);
    } catch {
      // a scenario that wrote no readable checks: its summary line says enough
    }
  }
  return lines;
}

/** One retry: a scenario of the suite flakes once in a while on a loaded machine. */
export async function runConformance(url: string, requirements: '2026-07-28' | '2025-11-25'): Promise<ConformanceRun> {
  const first = await runOnce(url, requirements);
  if (first.code === 0 && first.scoredFailed === 0) return first;
  console.log(`conformance ${requirements}: the first run failed, retrying once:\n${first.failures}`);
  return runOnce(url, requirements);
}
