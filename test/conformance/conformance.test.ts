// The official conformance suite (0.1.16, on the Node 22 it needs) against mcpwire: every scenario
// on Streamable HTTP, and the same scenarios over legacy HTTP+SSE through a patched copy of its CLI.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
import { startServer } from '../helpers.js';
import { LEGACY_NOT_APPLICABLE, buildLegacyCli, failedLines, runWithRetry, suiteInstalled } from './suite.js';

let server: McpWireServer;
before(async () => {
  assert.ok(suiteInstalled(), 'conformance tools missing: npm test installs them (scripts/test-setup.sh)');
  server = await startServer();
});
after(async () => {
  await server.close();
});

test('conformance 0.1.16, --suite all, Streamable HTTP: no failure, no warning', async () => {
  const out = mkdtempSync(join(tmpdir(), 'mcpwire-conformance-'));
  const r = await runWithRetry('index.js', ['--url', `${server.url}/mcp`, '--suite', 'all', '-o', out], (x) => x.failed === 0 && x.warnings === 0);
  console.log(`conformance (Streamable HTTP /mcp): ${r.passed} checks succeeded, ${r.failed} failed, ${r.warnings} warnings`);
  assert.equal(r.failed, 0, failedLines(r.output));
  assert.equal(r.code, 0);
  assert.equal(r.warnings, 0);
  assert.ok(r.passed >= 44, `expected at least 44 checks, got ${r.passed}`);
});

test('conformance 0.1.16 scenarios over legacy HTTP+SSE: only the three raw-Streamable scenarios fail', async () => {
  await buildLegacyCli();
  const r = await runWithRetry(
    'sse-cli.mjs',
    ['--url', `${server.url}/sse`, '--suite', 'all', '--expected-failures', LEGACY_NOT_APPLICABLE],
    (x) => x.code === 0,
  );
  console.log(`conformance (legacy /sse): ${r.passed} checks succeeded, ${r.failed} failed (3 scenarios not applicable)`);
  assert.equal(r.code, 0, failedLines(r.output));
  assert.ok(r.passed >= 41, `expected at least 41 checks, got ${r.passed}`);
});
