// `npm run bench [-- --quick] [-- --only rpc,sessions,fanout,gateway,scaling]`: starts every implementation
// under test pinned to one core, drives it from this process pinned to the other, and writes
// bench/results/latest.json, latest.md and chart.svg.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { writeChart } from './chart.js';
import { CANNED, GATEWAYS, HIBERNATING, ROOT, SDK_NOTIFY, SERVERS, SUPERGATEWAY, type Impl } from './impls.js';
import type { WireName } from './load/session.js';
import { ephemeralRange, freePort, loadAverage, pinSelf, SERVER_CPU, startServer, waitForQuiet, type RunningServer } from './proc.js';
import { renderMarkdown, type Results, type Row } from './report.js';
import { best } from './stats.js';
import { runFanout } from './scenarios/fanout.js';
import { runRpc } from './scenarios/rpc.js';
import { runScaling } from './scenarios/scaling.js';
import { runSessions } from './scenarios/sessions.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const flag = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const only = flag('--only') === undefined ? undefined : new Set(flag('--only')!.split(','));
const onlyImpls = flag('--impl') === undefined ? undefined : new Set(flag('--impl')!.split(','));
const outName = flag('--out') ?? 'latest';
// Profiling the servers under test: their profiles land in bench/.build/profiles.
const profileFlags = ['--cpu-prof', '--heap-prof']
  .filter((f) => args.includes(f))
  .flatMap((f) => [f, `${f}-dir=${resolve(ROOT, 'bench/.build/profiles')}`, ...(f === '--cpu-prof' ? ['--cpu-prof-interval=100'] : [])]);

// `passes`: rpc and fanout run that many times, in alternating order; each configuration reports its
// best pass (the most calls/s, the least CPU per event), since other work on a shared machine can
// only ever slow a run down. Every pass is kept in latest.json.
const PLAN = quick
  ? { rpcClients: [16], warmupS: 1, rpcS: 2, passes: 1, sessions: 1_000, settleMs: 1_300, fanout: { sessions: 20, events: 200 }, gatewayClients: 8, gatewayWarmupS: 1 }
  : { rpcClients: [1, 16, 64], warmupS: 1.5, rpcS: 3, passes: 2, sessions: 19_000, settleMs: 3_000, fanout: { sessions: 100, events: 1_000 }, gatewayClients: 16, gatewayWarmupS: 4 };
// Overrides, for profiling and for looking closer at one figure.
if (flag('--clients')) PLAN.rpcClients = flag('--clients')!.split(',').map(Number);
if (flag('--seconds')) PLAN.rpcS = Number(flag('--seconds'));
if (flag('--sessions')) PLAN.sessions = Number(flag('--sessions'));
if (flag('--passes')) PLAN.passes = Number(flag('--passes'));

const RESULTS_DIR = resolve(ROOT, 'bench/results');
const started = Date.now();
const log = (msg: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`);

function openFileLimit(): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 1024;
}

let nextPort = 23_000;
let runIndex = 0;

/** Starts `impl` on a fresh port; each server start also gets its own client source address. */
async function withServer<T>(impl: Impl, wire: WireName, fn: (e: { server: RunningServer; target: import('./load/session.js').Target; wire: WireName }) => Promise<T>): Promise<T> {
  const port = await freePort(nextPort);
  nextPort = port + 1;
  const localAddresses = Array.from({ length: 8 }, (_, k) => `127.${1 + (runIndex % 250)}.0.${k + 1}`);
  runIndex++;
  const server = await startServer({ ...impl.spec, args: [...profileFlags, ...impl.spec.args] }, port);
  try {
    return await fn({ server, wire, target: { origin: `http://127.0.0.1:${port}`, ssePath: impl.ssePath, mcpPath: impl.mcpPath, localAddresses } });
  } finally {
    await server.stop();
  }
}

function selected(impls: Impl[]): Impl[] {
  return onlyImpls ? impls.filter((i) => onlyImpls.has(i.id)) : impls;
}

/** Time left for waiting on other work to finish (see waitForQuiet), over the whole run. */
let quietBudgetMs = quick ? 5_000 : 45_000;

async function each(impls: Impl[], rows: Row[], scenario: string, run: (impl: Impl, wire: WireName) => Promise<Record<string, unknown>[]>): Promise<void> {
  for (const impl of selected(impls)) {
    for (const wire of impl.wires) {
      const t0 = Date.now();
      const busy = await waitForQuiet(Math.min(quietBudgetMs, 20_000));
      quietBudgetMs = Math.max(0, quietBudgetMs - (Date.now() - t0));
      if (busy > 0.1) log(`other work keeps ${Math.round(busy * 100)}% of the machine busy: measuring anyway`);
      const load = Math.round(busy * 1000) / 10;
      try {
        for (const r of await run(impl, wire)) {
          rows.push({ impl: impl.id, label: impl.label, wire, otherBusyPct: load, ...r });
          log(`${scenario} ${impl.id} ${wire}: ${JSON.stringify(r)}`);
        }
      } catch (err) {
        const error = (err as Error).message;
        rows.push({ impl: impl.id, label: impl.label, wire, otherBusyPct: load, error });
        log(`${scenario} ${impl.id} ${wire}: FAILED ${error}`);
      }
    }
  }
}

async function main(): Promise<void> {
  pinSelf();
  const fdLimit = openFileLimit();
  // Each held session costs the load generator one socket (and the server one); keep room for the rest.
  const sessionCount = Math.min(PLAN.sessions, fdLimit - 600);
  if (sessionCount < PLAN.sessions) log(`open-file limit ${fdLimit}: the sessions scenario opens ${sessionCount}, not ${PLAN.sessions} (raise ulimit -n)`);
  const loadStart = loadAverage();
  if (loadStart > 0.5) log(`load average ${loadStart}: other work is running; figures will be noisy`);

  const results: Results = {
    meta: {
      date: new Date().toISOString(),
      quick,
      commit: gitCommit(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      pinning: 'server and its children on CPU 0, load generator on CPU 1 (taskset)',
      ephemeralPorts: ephemeralRange(),
      openFileLimit: fdLimit,
      sdk: packageVersion('node_modules/@modelcontextprotocol/sdk/package.json'),
      supergateway: packageVersion('bench/tools/node_modules/supergateway/package.json'),
      plan: { ...PLAN, sessions: sessionCount },
      loadAvgStart: loadStart,
      loadAvgEnd: NaN,
      durationS: NaN,
    },
    rpc: [],
    rpcPasses: [],
    sessions: [],
    fanout: [],
    fanoutPasses: [],
    gateway: [],
    sdkFloor: undefined,
  };

  if (!only || only.has('rpc')) {
    for (let pass = 0; pass < PLAN.passes; pass++) {
      const impls = quick ? [...SERVERS] : [...SERVERS, CANNED];
      await each(pass % 2 ? impls.reverse() : impls, results.rpcPasses, `rpc pass ${pass + 1}`, (impl, wire) =>
        withServer(impl, wire, async (e) => {
          const out = [];
          // The canned engine is a diagnostic, and later passes re-measure the headline: 16 clients.
          const headline = PLAN.rpcClients.includes(16) ? [16] : PLAN.rpcClients;
          const counts = impl === CANNED || pass > 0 ? headline : PLAN.rpcClients;
          for (const c of counts) out.push({ pass: pass + 1, ...(await runRpc(e, c, PLAN.warmupS, PLAN.rpcS)) });
          return out;
        }),
      );
    }
    results.rpc = best(results.rpcPasses, (r) => `${r.impl} ${r.wire} ${r.clients}`, (r) => (r.error ? -Infinity : Number(r.callsPerS)));
  }
  if (!only || only.has('rpc')) {
    try {
      results.sdkFloor = sdkFloor();
      log(`sdk floor: ${JSON.stringify(results.sdkFloor)}`);
    } catch (err) {
      log(`sdk floor: FAILED ${(err as Error).message}`);
    }
  }
  if (!only || only.has('fanout')) {
    const impls = quick ? [...SERVERS] : [...SERVERS, SDK_NOTIFY];
    for (let pass = 0; pass < PLAN.passes; pass++) {
      await each(pass % 2 ? [...impls].reverse() : impls, results.fanoutPasses, `fanout pass ${pass + 1}`, (impl, wire) =>
        withServer(impl, wire, async (e) => [{ pass: pass + 1, ...(await runFanout(e, PLAN.fanout.sessions, PLAN.fanout.events, 60_000)) }]),
      );
    }
    results.fanout = best(results.fanoutPasses, (r) => `${r.impl} ${r.wire}`, (r) => (r.error ? -Infinity : -Number(r.missing) * 1e6 - Number(r.serverUsPerEvent)));
  }
  if (!only || only.has('gateway')) {
    if (!existsSync(SUPERGATEWAY)) log('supergateway is not installed in bench/tools (run: npm ci --prefix bench/tools)');
    // --quick leaves out the slowest runs: a child per session, and the SDK peers' 1,000 sessions.
    const gateways = quick ? GATEWAYS.filter((g) => g.id !== 'mcpwire-gateway') : GATEWAYS;
    await each(gateways, results.gateway, 'gateway', (impl, wire) =>
      // A longer warm-up: in the default mode each session has a child of its own to warm up.
      withServer(impl, wire, async (e) => [{ ...(await runRpc(e, PLAN.gatewayClients, PLAN.gatewayWarmupS, PLAN.rpcS)) }]),
    );
  }
  if (!only || only.has('scaling')) {
    await waitForQuiet(Math.min(quietBudgetMs, 20_000));
    results.scaling = await runScaling(
      { clients: 16, warmupS: quick ? 2 : 2.5, seconds: quick ? 2 : 5, cpuShare: 0.45, firstPort: nextPort, nodeFlags: profileFlags, passes: quick ? 1 : 2 },
      log,
    );
    nextPort += 20;
    if (results.scaling.skipped) log(`scaling: not run (${results.scaling.skipped})`);
    else log(`scaling: two instances over one ${results.scaling.twoOverOne}× (by session ${results.scaling.bySessionOverOne}×), Redis over memory ${results.scaling.redisOverMemory}×`);
  }
  if (!only || only.has('sessions')) {
    const holders = quick ? [...SERVERS.filter((i) => !i.id.startsWith('sdk-')), HIBERNATING] : [...SERVERS, HIBERNATING];
    await each(holders, results.sessions, 'sessions', (impl, wire) =>
      withServer(impl, wire, async (e) => [
        {
          ...(await runSessions(e, sessionCount, {
            concurrency: 64,
            settleMs: PLAN.settleMs,
            timeoutMs: quick ? 60_000 : 150_000,
            // Hibernation leaves the servers built for the handshakes as garbage: what V8 gives back once
            // quiet (no sooner than ~30 s at 19,000 sessions) is the steady state of idle sessions.
            ...(impl === HIBERNATING && !quick ? { idleMs: 45_000 } : {}),
          })),
        },
      ]),
    );
  }

  results.meta.loadAvgEnd = loadAverage();
  results.meta.durationS = Math.round((Date.now() - started) / 1000);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(resolve(RESULTS_DIR, `${outName}.json`), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(resolve(RESULTS_DIR, `${outName}.md`), renderMarkdown(results));
  writeFileSync(resolve(RESULTS_DIR, `${outName === 'latest' ? 'chart' : outName + '-chart'}.svg`), writeChart(results));
  log(`done in ${results.meta.durationS}s: bench/results/${outName}.{json,md}`);
}

/** The SDK McpServer's own cost per call, in a process of its own on the server core. */
function sdkFloor(): { sessions: number; calls: number; usPerCall: number } {
  const calls = String(quick ? 40_000 : 200_000);
  const out = execFileSync('taskset', ['-c', SERVER_CPU, process.execPath, resolve(ROOT, 'bench/.build/bench/servers/sdk-floor.js'), '--calls', calls], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { sessions: number; calls: number; usPerCall: number };
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function packageVersion(path: string): string {
  try {
    return (JSON.parse(readFileSync(resolve(ROOT, path), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
