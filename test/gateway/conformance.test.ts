// The official conformance suite (0.1.16) through the gateway: the "everything" fixture over stdio,
// one child per session, judged on /mcp (and on legacy /sse) exactly as the library server is in
// test/conformance/conformance.test.ts. The score must match the library's.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LEGACY_NOT_APPLICABLE, buildLegacyCli, failedLines, runWithRetry, suiteInstalled } from '../conformance/suite.js';
import { EVERYTHING_STDIO, processesMarked, startGateway, type RunningGateway } from './fixtures/gateway.js';

before(() => {
  assert.ok(suiteInstalled(), 'conformance tools missing: npm test installs them (scripts/test-setup.sh)');
});

describe('gateway, one child per session', () => {
  let gw: RunningGateway;
  before(async () => {
    // closeSseAfterMs: requests still running after 100 ms have their SSE connection closed and
    // resumed by the client (SEP-1699), which is what the suite's test_reconnection check asks of a server.
    gw = await startGateway({ ...EVERYTHING_STDIO, closeSseAfterMs: 100 }, { legacyReconnectGraceMs: 1_000 });
  });
  after(async () => {
    await gw.close();
    assert.deepEqual(processesMarked(gw.marker), []);
  });

  test('conformance 0.1.16, --suite all, Streamable HTTP: no failure, no warning', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mcpwire-gw-conformance-'));
    const r = await runWithRetry('index.js', ['--url', `${gw.url}/mcp`, '--suite', 'all', '-o', out], (x) => x.failed === 0 && x.warnings === 0);
    console.log(`conformance through the gateway (Streamable HTTP /mcp): ${r.passed} checks succeeded, ${r.failed} failed, ${r.warnings} warnings`);
    assert.equal(r.failed, 0, failedLines(r.output));
    assert.equal(r.code, 0);
    assert.equal(r.warnings, 0, failedLines(r.output));
    assert.ok(r.passed >= 47, `expected the library's 47 checks, got ${r.passed}`);
  });

  test('conformance 0.1.16 scenarios over legacy HTTP+SSE: only the three raw-Streamable scenarios fail', async () => {
    await buildLegacyCli();
    const r = await runWithRetry(
      'sse-cli.mjs',
      ['--url', `${gw.url}/sse`, '--suite', 'all', '--expected-failures', LEGACY_NOT_APPLICABLE],
      (x) => x.code === 0,
    );
    console.log(`conformance through the gateway (legacy /sse): ${r.passed} checks succeeded, ${r.failed} failed (3 scenarios not applicable)`);
    assert.equal(r.code, 0, failedLines(r.output));
    assert.ok(r.passed >= 41, `expected the library's 41 checks, got ${r.passed}`);
  });
});

describe('gateway, --shared (one child for every session)', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ ...EVERYTHING_STDIO, shared: true, closeSseAfterMs: 100 });
  });
  after(async () => {
    await gw.close();
    assert.deepEqual(processesMarked(gw.marker), []);
  });

  test('conformance 0.1.16, --suite all, Streamable HTTP: the same score', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mcpwire-gw-conformance-'));
    const r = await runWithRetry('index.js', ['--url', `${gw.url}/mcp`, '--suite', 'all', '-o', out], (x) => x.failed === 0 && x.warnings === 0);
    console.log(`conformance through the shared gateway (Streamable HTTP /mcp): ${r.passed} checks succeeded, ${r.failed} failed, ${r.warnings} warnings`);
    assert.equal(r.failed, 0, failedLines(r.output));
    assert.equal(r.code, 0);
    assert.equal(r.warnings, 0, failedLines(r.output));
    assert.ok(r.passed >= 47, `expected the library's 47 checks, got ${r.passed}`);
    assert.equal(gw.gateway.stats.spawned, 1, 'one child served every session');
  });
});
