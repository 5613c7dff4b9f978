// `npm run bench [-- --quick] [-- --only rpc,sessions,fanout,gateway]`: starts every implementation
// under test pinned to one core, drives it from this process pinned to the other, and writes
// bench/results/latest.json, latest.md and chart.svg.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { writeChart } from './chart.js';
import { CANNED, GATEWAYS, HIBERNATING, ROOT, SERVERS, SUPERGATEWAY, type Impl } from './impls.js';
import type { WireName } from './load/session.js';
import { ephemeralRange, freePort, loadAverage, pinSelf, startServer, waitForQuiet, type RunningServer } from './proc.js';
import { renderMarkdown, type Results, type Row } from './report.js';
import { runFanout } from './scenarios/fanout.js';
import { runRpc } from './scenarios/rpc.js';
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

const PLAN = quick
  ? { rpcClients: [16], warmupS: 1, rpcS: 2, sessions: 2_000, fanout: { sessions: 20, events: 200 }, gatewayClients: 16 }
  : { rpcClients: [1, 16, 64], warmupS: 2, rpcS: 5, sessions: 19_000, fanout: { sessions: 100, events: 1_000 }, gatewayClients: 16 };
// Overrides, for profiling and for looking closer at one figure.
if (flag('--clients')) PLAN.rpcClients = flag('--clients')!.split(',').map(Number);
if (flag('--seconds')) PLAN.rpcS = Number(flag('--seconds'));
if (flag('--sessions')) PLAN.sessions = Number(flag('--sessions'));

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
let quietBudgetMs = quick ? 10_000 : 90_000;

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
    sessions: [],
    fanout: [],
    gateway: [],
  };

  if (!only || only.has('rpc')) {
    await each([...SERVERS, CANNED], results.rpc, 'rpc', (impl, wire) =>
      withServer(impl, wire, async (e) => {
        const out = [];
        for (const c of PLAN.rpcClients) out.push({ ...(await runRpc(e, c, PLAN.warmupS, PLAN.rpcS)) });
        return out;
      }),
    );
  }
  if (!only || only.has('fanout')) {
    await each(SERVERS, results.fanout, 'fanout', (impl, wire) =>
      withServer(impl, wire, async (e) => [{ ...(await runFanout(e, PLAN.fanout.sessions, PLAN.fanout.events, 60_000)) }]),
    );
  }
  if (!only || only.has('gateway')) {
    if (!existsSync(SUPERGATEWAY)) log('supergateway is not installed in bench/tools (run: npm ci --prefix bench/tools)');
    await each(GATEWAYS, results.gateway, 'gateway', (impl, wire) =>
      withServer(impl, wire, async (e) => [{ ...(await runRpc(e, PLAN.gatewayClients, PLAN.warmupS, PLAN.rpcS)) }]),
    );
  }
  if (!only || only.has('sessions')) {
    await each([...SERVERS, HIBERNATING], results.sessions, 'sessions', (impl, wire) =>
      withServer(impl, wire, async (e) => [
        { ...(await runSessions(e, sessionCount, { concurrency: 64, settleMs: quick ? 2_500 : 5_000, timeoutMs: quick ? 60_000 : 150_000 })) },
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
