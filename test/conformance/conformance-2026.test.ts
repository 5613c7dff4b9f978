// The official conformance suite's 0.2.0 alpha (on the Node 22 it needs) against one mcpwire URL,
// with the frozen requirement sets of both eras: 2026-07-28 (stateless, per-request _meta, listen,
// input_required) and 2025-11-25 (sessions), so one endpoint is shown to serve each at its own wire.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { McpWireServer } from '../../src/index.js';
import { startServer } from '../helpers.js';
import { nextSuiteInstalled, runConformance } from './next.js';

let server: McpWireServer;
before(async () => {
  assert.ok(nextSuiteInstalled(), 'conformance 0.2.0 tools missing: npm test installs them (scripts/test-setup.sh)');
  server = await startServer();
});
after(async () => {
  await server.close();
});

test('conformance 0.2.0-alpha.12 --requirements 2026-07-28: every scored scenario passes', async () => {
  const r = await runConformance(`${server.url}/mcp`, '2026-07-28');
  const unscored = r.notScored.map((s) => `${s.name} ${s.passed}/${s.failed}`).join(', ');
  const sum = (k: 'passed' | 'failed') => r.notScored.reduce((n, s) => n + s[k], 0);
  console.log(`conformance 2026-07-28: ${r.scoredPassed} checks passed, ${r.scoredFailed} failed in ${r.scored} scored scenarios; not scored: ${sum('passed')} passed, ${sum('failed')} failed (${unscored})`);
  assert.equal(r.scored, 37, r.output.slice(-3000));
  assert.equal(r.scoredFailed, 0, r.failures);
  assert.equal(r.code, 0);
  // Of what is run but not scored, only the tasks extension (not implemented) may fail.
  for (const s of r.notScored) if (!s.name.startsWith('tasks-')) assert.equal(s.failed, 0, `${s.name} failed`);
});

test('conformance 0.2.0-alpha.12 --requirements 2025-11-25 on the same URL: no failure', async () => {
  const r = await runConformance(`${server.url}/mcp`, '2025-11-25');
  const sum = (k: 'passed' | 'failed') => r.notScored.reduce((n, s) => n + s[k], 0);
  console.log(`conformance 2025-11-25: ${r.scoredPassed} checks passed, ${r.scoredFailed} failed in ${r.scored} scored scenarios; not scored: ${sum('passed')} passed, ${sum('failed')} failed`);
  assert.ok(r.scored >= 30, r.output.slice(-3000));
  assert.equal(r.scoredFailed + sum('failed'), 0, r.failures);
  assert.equal(r.code, 0);
});
