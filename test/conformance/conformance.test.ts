// The official conformance suite (0.1.16, on the Node 22 it needs) against mcpwire: every scenario
// on Streamable HTTP, and the same scenarios over legacy HTTP+SSE through a patched copy of its CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { McpWireServer } from '../../src/index.js';
import { startServer } from '../helpers.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const tools = join(here, 'tools');
const node22 = join(tools, 'node_modules', '.bin', 'node');
const dist = join(tools, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist');

interface Run {
  code: number;
  passed: number;
  failed: number;
  warnings: number;
  output: string;
}

function runSuite(cli: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(node22, [join(dist, cli), 'server', ...args], { cwd: tools, timeout: 180_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
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
async function runWithRetry(cli: string, args: string[], ok: (r: Run) => boolean): Promise<Run> {
  const first = await runSuite(cli, args);
  if (ok(first)) return first;
  return runSuite(cli, args);
}

function failedScenarios(output: string): string {
  return output
    .split('\n')
    .filter((l) => l.startsWith('✗'))
    .join('\n');
}

let server: McpWireServer;
before(async () => {
  assert.ok(existsSync(node22), 'conformance tools missing: npm test installs them (scripts/test-setup.sh)');
  server = await startServer();
});
after(async () => {
  await server.close();
});

test('conformance 0.1.16, --suite all, Streamable HTTP: no failure, no warning', async () => {
  const out = mkdtempSync(join(tmpdir(), 'mcpwire-conformance-'));
  const r = await runWithRetry('index.js', ['--url', `${server.url}/mcp`, '--suite', 'all', '-o', out], (x) => x.failed === 0 && x.warnings === 0);
  console.log(`conformance (Streamable HTTP /mcp): ${r.passed} checks succeeded, ${r.failed} failed, ${r.warnings} warnings`);
  assert.equal(r.failed, 0, failedScenarios(r.output));
  assert.equal(r.code, 0);
  assert.equal(r.warnings, 0);
  assert.ok(r.passed >= 44, `expected at least 44 checks, got ${r.passed}`);
});

test('conformance 0.1.16 scenarios over legacy HTTP+SSE: only the three raw-Streamable scenarios fail', async () => {
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [join(here, 'sse-cli.mjs')], (err) => (err ? reject(err) : resolve())),
  );
  const r = await runWithRetry(
    'sse-cli.mjs',
    ['--url', `${server.url}/sse`, '--suite', 'all', '--expected-failures', join(here, 'legacy-not-applicable.yml')],
    (x) => x.code === 0,
  );
  console.log(`conformance (legacy /sse): ${r.passed} checks succeeded, ${r.failed} failed (3 scenarios not applicable)`);
  assert.equal(r.code, 0, failedScenarios(r.output));
  assert.ok(r.passed >= 41, `expected at least 41 checks, got ${r.passed}`);
});
