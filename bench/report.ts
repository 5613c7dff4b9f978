// The markdown report: the targets of issue 7 against what was measured, mcpwire / peer ratios, and
// every row of every scenario.
import type { ScalingResult } from './scenarios/scaling.js';

export interface Row {
  impl: string;
  label: string;
  wire: 'sse' | 'mcp';
  /** How busy other work kept the machine just before this run (percent of both cores). */
  otherBusyPct: number;
  error?: string;
  [metric: string]: unknown;
}

export interface Results {
  meta: {
    date: string;
    quick: boolean;
    commit: string;
    node: string;
    cpu: string;
    cores: number;
    pinning: string;
    ephemeralPorts: [number, number];
    openFileLimit: number;
    sdk: string;
    supergateway: string;
    plan: {
      rpcClients: number[];
      warmupS: number;
      rpcS: number;
      passes: number;
      sessions: number;
      settleMs: number;
      fanout: { sessions: number; events: number };
      gatewayClients: number;
      gatewayWarmupS: number;
    };
    loadAvgStart: number;
    loadAvgEnd: number;
    durationS: number;
  };
  /** The best pass per configuration (see `rpcPasses` for every pass). */
  rpc: Row[];
  rpcPasses: Row[];
  sessions: Row[];
  fanout: Row[];
  fanoutPasses: Row[];
  gateway: Row[];
  /** One vs two instances on Redis, and Redis vs memory (issue 8); absent when not run. */
  scaling?: ScalingResult;
  /** The bench's SDK McpServer alone, per tools/call, in-process (no HTTP): the floor under mcpwire. */
  sdkFloor: { sessions: number; calls: number; usPerCall: number } | undefined;
}

const WIRE = { sse: '/sse', mcp: '/mcp' } as const;

export function find(rows: Row[], impl: string, wire: 'sse' | 'mcp', clients?: number): Row | undefined {
  return rows.find((r) => r.impl === impl && r.wire === wire && !r.error && (clients === undefined || r.clients === clients));
}

const num = (r: Row | undefined, k: string): number => (r && typeof r[k] === 'number' ? (r[k] as number) : NaN);

function fmt(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return '—';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '—';
}

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

interface Check {
  what: string;
  measured: string;
  target: string;
  met: boolean | undefined;
}

/** Each target of the issue, as measured in this run. */
export function checks(res: Results): Check[] {
  const c = res.meta.plan.rpcClients.includes(16) ? 16 : res.meta.plan.rpcClients[0]!;
  const out: Check[] = [];
  const both = (f: (w: 'sse' | 'mcp') => number): number[] => (['sse', 'mcp'] as const).map(f);
  const fin = (vs: number[]) => vs.every(Number.isFinite);
  const show = (vs: number[], d = 1, unit = '') => `${fmt(vs[0]!, d)}${unit} (/sse), ${fmt(vs[1]!, d)}${unit} (/mcp)`;

  const us = both((w) => num(find(res.rpc, 'mcpwire', w, c), 'serverUsPerCall'));
  out.push({ what: `server µs CPU per call (${c} clients)`, measured: show(us), target: '≤ 30 on both', met: fin(us) ? us.every((v) => v <= 30) : undefined });

  const cps = both((w) => num(find(res.rpc, 'mcpwire', w, c), 'callsPerS') / num(find(res.rpc, 'stub', w, c), 'callsPerS'));
  out.push({ what: 'calls/s vs the stub', measured: show(cps, 2, '×'), target: '≥ 0.9× on both', met: fin(cps) ? cps.every((v) => v >= 0.9) : undefined });

  const p99 = both((w) => num(find(res.rpc, 'mcpwire', w, c), 'p99Ms') / num(find(res.rpc, 'stub', w, c), 'p99Ms'));
  out.push({ what: 'p99 latency vs the stub', measured: show(p99, 2, '×'), target: '≤ 1.2× on both', met: fin(p99) ? p99.every((v) => v <= 1.2) : undefined });

  const n = res.meta.plan.sessions;
  // Hibernation (issue 8) keeps an SDK server behind every session, rebuilt on its next message.
  for (const [impl, how] of [
    ['mcpwire', 'without hibernation'],
    ['mcpwire-hibernate', 'hibernateAfterMs 1000'],
  ] as const) {
    const kib = both((w) => num(find(res.sessions, impl, w), 'kibPerSession'));
    const marginal = both((w) => num(find(res.sessions, impl, w), 'marginalKibPerSession'));
    out.push({
      what: `idle KiB per session (${fmt(n)} sessions), ${how}`,
      measured: `${show(kib)}; marginal ${show(marginal)}`,
      target: '≤ 15',
      met: fin(kib) ? kib.every((v) => v <= 15) : undefined,
    });
    const held = both((w) => num(find(res.sessions, impl, w), 'held'));
    const rss = both((w) => num(find(res.sessions, impl, w), 'rssAfterMiB'));
    out.push({
      what: `sessions held, server RSS, ${how}`,
      measured: `${fmt(held[0]!)} in ${fmt(rss[0]!)} MiB (/sse), ${fmt(held[1]!)} in ${fmt(rss[1]!)} MiB (/mcp)`,
      target: '19,000 in ≤ 300 MiB',
      met: fin(held) && fin(rss) ? held.every((h) => h >= 19_000) && rss.every((r) => r <= 300) : undefined,
    });
  }
  // The hibernating rows also read RSS once quiet: the steady state, not the heap the opening left.
  const idleKib = both((w) => num(find(res.sessions, 'mcpwire-hibernate', w), 'kibPerSessionIdle'));
  if (fin(idleKib)) {
    const idleRss = both((w) => num(find(res.sessions, 'mcpwire-hibernate', w), 'rssIdleMiB'));
    const idleS = both((w) => num(find(res.sessions, 'mcpwire-hibernate', w), 'idleS'));
    const held = both((w) => num(find(res.sessions, 'mcpwire-hibernate', w), 'held'));
    out.push({
      what: `idle KiB per session (${fmt(n)} sessions), hibernateAfterMs 1000, once quiet (${fmt(idleS[0]!)} s / ${fmt(idleS[1]!)} s after the last settle)`,
      measured: show(idleKib),
      target: '≤ 15',
      met: idleKib.every((v) => v <= 15),
    });
    out.push({
      what: 'sessions held, server RSS, hibernateAfterMs 1000, once quiet',
      measured: `${fmt(held[0]!)} in ${fmt(idleRss[0]!)} MiB (/sse), ${fmt(held[1]!)} in ${fmt(idleRss[1]!)} MiB (/mcp)`,
      target: '19,000 in ≤ 300 MiB',
      met: fin(held) && fin(idleRss) ? held.every((h) => h >= 19_000) && idleRss.every((r) => r <= 300) : undefined,
    });
  }

  const fan = both((w) => num(find(res.fanout, 'mcpwire', w), 'serverUsPerEvent'));
  const lost = both((w) => num(find(res.fanout, 'mcpwire', w), 'missing') + num(find(res.fanout, 'mcpwire', w), 'duplicates'));
  const { sessions: fs, events: fe } = res.meta.plan.fanout;
  out.push({
    what: `fanout µs CPU per event (${fmt(fs)} × ${fmt(fe)}), missing + duplicates`,
    measured: `${show(fan, 2)}; ${fmt(lost[0]!)} / ${fmt(lost[1]!)} lost or doubled`,
    target: '≤ 3, zero missing, zero duplicates',
    met: fin(fan) && fin(lost) ? fan.every((v) => v <= 3) && lost.every((v) => v === 0) : undefined,
  });

  const sg = num(find(res.gateway, 'supergateway', 'sse'), 'callsPerS');
  const gw = num(find(res.gateway, 'mcpwire-gateway', 'sse'), 'callsPerS');
  const gws = num(find(res.gateway, 'mcpwire-gateway-shared', 'sse'), 'callsPerS');
  const foreign = res.gateway.filter((r) => r.impl.startsWith('mcpwire') && !r.error).reduce((s, r) => s + num(r, 'foreignReplies'), 0);
  const anyMcpwireGateway = res.gateway.some((r) => r.impl.startsWith('mcpwire') && !r.error);
  out.push({
    what: 'gateway calls/s vs supergateway (/sse), replies to sessions that did not ask',
    measured: `${ratio(gw, sg)} (isolated), ${ratio(gws, sg)} (--shared); ${anyMcpwireGateway ? fmt(foreign) : '—'} foreign replies`,
    target: '≥ 3×, zero',
    met: Number.isFinite(gw / sg) && anyMcpwireGateway ? Math.max(gw, gws) / sg >= 3 && foreign === 0 : undefined,
  });
  return out;
}

function maxBusy(res: Results): number {
  return Math.max(0, ...[...res.rpc, ...res.sessions, ...res.fanout, ...res.gateway].map((r) => r.otherBusyPct).filter(Number.isFinite));
}

export function renderMarkdown(res: Results): string {
  const m = res.meta;
  const c = m.plan.rpcClients.includes(16) ? 16 : m.plan.rpcClients[0]!;
  const parts: string[] = [];
  parts.push(`# mcpwire benchmark${m.quick ? ' (--quick)' : ''}`);
  parts.push(
    [
      `${m.date} · commit ${m.commit} · ${m.cpu}, ${m.cores} cores · Node ${m.node} · ${m.pinning}.`,
      `Peers: @modelcontextprotocol/sdk ${m.sdk}, supergateway ${m.supergateway}. Load average ${m.loadAvgStart} at the start, ${m.loadAvgEnd} at the end; ${m.durationS} s in all.`,
      `Reproduce with \`npm run bench\` (\`npm run bench -- --quick\` for a short run). Raw figures: \`bench/results/latest.json\`.`,
      `rpc: ${m.plan.warmupS} s of warm-up, then ${m.plan.rpcS} s measured per client count; fanout and rpc at ${c} clients ran ${m.plan.passes} pass${m.plan.passes === 1 ? '' : 'es'} (in alternating order) and each configuration shows its best pass, since other work can only slow a run down (every pass is in the JSON). Sessions settle ${m.plan.settleMs / 1000} s after each half.`,
      `Before each server started, the bench waited (up to 20 s) for other work to leave the machine idle; the most it found busy was ${fmt(maxBusy(res), 0)}% of both cores (\`otherBusyPct\` per row).`,
    ].join('\n'),
  );

  parts.push('## Targets (issue 7)');
  parts.push(
    table(
      ['target', 'measured', 'goal', 'met'],
      checks(res).map((k) => [k.what, k.measured, k.target, k.met === undefined ? 'not measured' : k.met ? 'yes' : '**no**']),
    ),
  );

  parts.push(`## Side by side (${c} clients)`);
  const cols: Array<[string, 'sse' | 'mcp', string]> = [
    ['mcpwire', 'sse', 'mcpwire /sse'],
    ['mcpwire', 'mcp', 'mcpwire /mcp'],
    ['sdk-sse', 'sse', 'SDK SSE'],
    ['sdk-streamable', 'mcp', 'SDK Streamable'],
    ['stub', 'sse', 'stub /sse'],
    ['stub', 'mcp', 'stub /mcp'],
  ];
  const line = (label: string, rows: Row[], key: string, digits: number, clients?: number) => [
    label,
    ...cols.map(([impl, wire]) => fmt(num(find(rows, impl, wire, clients), key), digits)),
  ];
  parts.push(
    table(
      ['', ...cols.map((x) => x[2])],
      [
        line('server µs CPU per call', res.rpc, 'serverUsPerCall', 1, c),
        line('calls/s', res.rpc, 'callsPerS', 0, c),
        line('p50 latency, ms', res.rpc, 'p50Ms', 2, c),
        line('p99 latency, ms', res.rpc, 'p99Ms', 2, c),
        line(`idle KiB per session (${fmt(m.plan.sessions)})`, res.sessions, 'kibPerSession', 1),
        line('marginal KiB per idle session', res.sessions, 'marginalKibPerSession', 1),
        line('sessions held', res.sessions, 'held', 0),
        line('server RSS with them, MiB', res.sessions, 'rssAfterMiB', 0),
        line(`fanout µs CPU per event (${m.plan.fanout.sessions} × ${fmt(m.plan.fanout.events)})`, res.fanout, 'serverUsPerEvent', 2),
        line('fanout events/s', res.fanout, 'eventsPerS', 0),
        line('fanout p99 delivery, ms', res.fanout, 'p99Ms', 1),
      ],
    ),
  );

  parts.push(`## Where a call's CPU goes (${c} clients, µs of server CPU per tools/call)`);
  parts.push(
    table(
      ['', '/sse', '/mcp'],
      [
        ['raw node:http stub (the platform)', ...(['sse', 'mcp'] as const).map((w) => fmt(num(find(res.rpc, 'stub', w, c), 'serverUsPerCall'), 1))],
        ['mcpwire engine, canned replies (no SDK server)', ...(['sse', 'mcp'] as const).map((w) => fmt(num(find(res.rpc, 'mcpwire-canned', w, c), 'serverUsPerCall'), 1))],
        ['the SDK McpServer alone, in-process, no HTTP', fmt(res.sdkFloor?.usPerCall ?? NaN, 1), fmt(res.sdkFloor?.usPerCall ?? NaN, 1)],
        ['mcpwire with an SDK McpServer per session', ...(['sse', 'mcp'] as const).map((w) => fmt(num(find(res.rpc, 'mcpwire', w, c), 'serverUsPerCall'), 1))],
      ],
    ),
  );
  parts.push(
    'The SDK figure is measured with a hot cache and nothing else running; in a server it shares the core with HTTP and garbage collection, so the costs do not simply add up.',
  );

  parts.push('## mcpwire / peer ratios');
  parts.push('Same wire format, same client count. Above 1 is better for calls/s and events/s; below 1 is better for CPU, latency and memory.');
  const ratioRows: string[][] = [];
  for (const wire of ['sse', 'mcp'] as const) {
    const sdk = wire === 'sse' ? 'sdk-sse' : 'sdk-streamable';
    for (const clients of m.plan.rpcClients) {
      const me = find(res.rpc, 'mcpwire', wire, clients);
      for (const [k, label] of [
        ['callsPerS', 'calls/s'],
        ['serverUsPerCall', 'µs CPU per call'],
        ['p99Ms', 'p99 latency'],
      ] as const) {
        ratioRows.push([
          `rpc, ${clients} client${clients === 1 ? '' : 's'}`,
          WIRE[wire],
          label,
          ratio(num(me, k), num(find(res.rpc, 'stub', wire, clients), k)),
          ratio(num(me, k), num(find(res.rpc, sdk, wire, clients), k)),
          '',
        ]);
      }
    }
    for (const [k, label] of [
      ['kibPerSession', 'KiB per idle session'],
      ['sessionsPerS', 'sessions opened/s'],
    ] as const) {
      const me = find(res.sessions, 'mcpwire', wire);
      ratioRows.push(['sessions', WIRE[wire], label, ratio(num(me, k), num(find(res.sessions, 'stub', wire), k)), ratio(num(me, k), num(find(res.sessions, sdk, wire), k)), '']);
    }
    for (const [k, label] of [
      ['serverUsPerEvent', 'µs CPU per event'],
      ['eventsPerS', 'events/s'],
      ['p99Ms', 'p99 delivery'],
    ] as const) {
      const me = find(res.fanout, 'mcpwire', wire);
      ratioRows.push(['fanout', WIRE[wire], label, ratio(num(me, k), num(find(res.fanout, 'stub', wire), k)), ratio(num(me, k), num(find(res.fanout, sdk, wire), k)), '']);
    }
  }
  const sg = find(res.gateway, 'supergateway', 'sse');
  for (const impl of ['mcpwire-gateway', 'mcpwire-gateway-shared']) {
    for (const [k, label] of [
      ['callsPerS', 'calls/s'],
      ['serverUsPerCall', 'µs CPU per call'],
      ['p99Ms', 'p99 latency'],
    ] as const) {
      ratioRows.push([`gateway${impl.endsWith('shared') ? ' --shared' : ''}`, '/sse', label, '', '', ratio(num(find(res.gateway, impl, 'sse'), k), num(sg, k))]);
    }
  }
  parts.push(table(['scenario', 'wire', 'metric', 'vs stub', 'vs SDK', 'vs supergateway'], ratioRows));

  parts.push('## rpc: `tools/call echo`, one call in flight per client');
  parts.push(
    table(
      ['implementation', 'wire', 'clients', 'calls/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', 'server µs/call', 'server CPU', 'load-gen CPU'],
      res.rpc.map((r) =>
        r.error
          ? [r.label, WIRE[r.wire], '', `failed: ${r.error}`, '', '', '', '', '', '', '']
          : [
              r.label,
              WIRE[r.wire],
              String(r.clients),
              fmt(num(r, 'callsPerS')),
              fmt(num(r, 'p50Ms'), 2),
              fmt(num(r, 'p90Ms'), 2),
              fmt(num(r, 'p99Ms'), 2),
              fmt(num(r, 'errors')),
              fmt(num(r, 'serverUsPerCall'), 1),
              `${fmt(num(r, 'serverCpuPct'))}%`,
              `${fmt(num(r, 'loadgenCpuPct'))}%`,
            ],
      ),
    ),
  );

  parts.push(`## sessions: ${fmt(m.plan.sessions)} sessions opened and held (64 handshakes at a time)`);
  parts.push(
    table(
      ['implementation', 'wire', 'established', 'failed', 'held', 'seconds', 'sessions/s', 'server µs/session', 'RSS before MiB', 'RSS after MiB', 'KiB/session', 'marginal KiB/session', 'once quiet: RSS MiB, KiB/session'],
      res.sessions.map((r) =>
        r.error
          ? [r.label, WIRE[r.wire], `failed: ${r.error}`, '', '', '', '', '', '', '', '', '', '']
          : [
              r.label,
              WIRE[r.wire],
              fmt(num(r, 'established')),
              fmt(num(r, 'failures')),
              fmt(num(r, 'held')),
              fmt(num(r, 'establishS'), 1),
              fmt(num(r, 'sessionsPerS')),
              fmt(num(r, 'serverUsPerSession'), 0),
              fmt(num(r, 'rssBeforeMiB'), 1),
              fmt(num(r, 'rssAfterMiB'), 1),
              fmt(num(r, 'kibPerSession'), 1),
              fmt(num(r, 'marginalKibPerSession'), 1),
              Number.isFinite(num(r, 'kibPerSessionIdle')) ? `${fmt(num(r, 'rssIdleMiB'), 1)}, ${fmt(num(r, 'kibPerSessionIdle'), 1)} (after ${fmt(num(r, 'idleS'))} s)` : '',
            ],
      ),
    ),
  );
  parts.push(
    'KiB/session is (RSS after − RSS before) / sessions. The sessions open in two halves with a settle after each; the marginal figure is the RSS growth per session over the second half, once the heap has grown to its working size. With hibernation the SDK servers built for the handshakes are dropped a second later and leave half-empty heap pages, which V8 compacts and gives back only once the process has been quiet a while (its memory reducer): those rows keep the sessions idle up to 45 s more, reading RSS each second, and show the lowest reading and when it came (the other rows were not given that wait, to keep the run under 10 minutes).',
  );

  parts.push(`## fanout: ${m.plan.fanout.sessions} sessions × ${fmt(m.plan.fanout.events)} notifications from one \`broadcast\` call`);
  parts.push(
    "Each event is one `notifications/message` to every session. The SDK's transports can only send it through each session's server (`notification()`); mcpwire's bench server uses the handler's `broadcast()`, which serializes it once for every session, as the stub does. The row \"notification() of each session's SDK server\" is mcpwire sending the way the SDK peers must.",
  );
  parts.push(
    table(
      ['implementation', 'wire', 'expected', 'delivered', 'missing', 'duplicates', 'seconds', 'events/s', 'p50 ms', 'p99 ms', 'server µs/event'],
      res.fanout.map((r) =>
        r.error
          ? [r.label, WIRE[r.wire], `failed: ${r.error}`, '', '', '', '', '', '', '', '']
          : [
              r.label,
              WIRE[r.wire],
              fmt(num(r, 'expected')),
              fmt(num(r, 'delivered')),
              fmt(num(r, 'missing')),
              fmt(num(r, 'duplicates')),
              fmt(num(r, 'seconds'), 2),
              fmt(num(r, 'eventsPerS')),
              fmt(num(r, 'p50Ms'), 1),
              fmt(num(r, 'p99Ms'), 1),
              fmt(num(r, 'serverUsPerEvent'), 2),
            ],
      ),
    ),
  );

  parts.push(`## gateway: rpc through a gateway in front of the same stdio echo server (${m.plan.gatewayClients} clients)`);
  parts.push(
    `${m.plan.gatewayWarmupS} s of warm-up, ${m.plan.rpcS} s measured. CPU includes the gateway's stdio children ("of which the gateway": its own process). "foreign" counts replies that reached a session that never sent that request.`,
  );
  parts.push(
    table(
      ['gateway', 'wire', 'calls/s', 'p50 ms', 'p99 ms', 'errors', 'foreign', 'server µs/call', 'of which the gateway', 'load-gen CPU'],
      res.gateway.map((r) =>
        r.error
          ? [r.label, WIRE[r.wire], `failed: ${r.error}`, '', '', '', '', '', '', '']
          : [
              r.label,
              WIRE[r.wire],
              fmt(num(r, 'callsPerS')),
              fmt(num(r, 'p50Ms'), 2),
              fmt(num(r, 'p99Ms'), 2),
              fmt(num(r, 'errors')),
              fmt(num(r, 'foreignReplies')),
              fmt(num(r, 'serverUsPerCall'), 1),
              fmt(num(r, 'ownUsPerCall'), 1),
              `${fmt(num(r, 'loadgenCpuPct'))}%`,
            ],
      ),
    ),
  );
  if (res.scaling) parts.push(...scalingSection(res.scaling));
  parts.push('![calls/s and KiB per idle session](chart.svg)');
  return parts.join('\n\n') + '\n';
}

function scalingSection(sc: ScalingResult): string[] {
  const head = '## scaling: instances sharing sessions through one Redis, every POST to the next instance (round-robin) or to its session\'s instance';
  if (sc.skipped) return [head, `Not run: ${sc.skipped}.`];
  const share = sc.rows[0]?.cpuShare ?? NaN;
  return [
    head,
    `/mcp, ${sc.rows[0]?.clients ?? '—'} clients, each instance capped to ${fmt(share * 100)}% of one core (CPU cgroup) on the server core; redis-server on the load generator's core. ` +
      `Two instances over one: **${sc.twoOverOne ?? '—'}×** (target ≥ 1.8×); with each session's requests sent to one instance (by Mcp-Session-Id): ${sc.bySessionOverOne ?? '—'}×. One instance on Redis over one in memory: **${sc.redisOverMemory ?? '—'}×**. ` +
      `Each configuration shows its best of ${Math.max(...(sc.passes ?? []).map((p) => p.pass), 1)} passes (every pass is in the JSON).`,
    table(
      ['configuration', 'calls/s', 'p50 ms', 'p99 ms', 'errors', 'server µs/call', 'server CPU', 'load-gen CPU', 'Redis µs/call', 'Redis commands/call (in scripts too)'],
      sc.rows.map((r) =>
        r.firstError && !r.calls
          ? [r.config, `failed: ${r.firstError}`, '', '', '', '', '', '', '', '']
          : [
              r.config,
              fmt(r.callsPerS),
              fmt(r.p50Ms, 2),
              fmt(r.p99Ms, 2),
              fmt(r.errors),
              fmt(r.serverUsPerCall, 1),
              `${fmt(r.serverCpuPct)}%`,
              `${fmt(r.loadgenCpuPct)}%`,
              r.redisUsPerCall === undefined ? '—' : fmt(r.redisUsPerCall, 1),
              r.redisCommandsPerCall === undefined ? '—' : fmt(r.redisCommandsPerCall, 2),
            ],
      ),
    ),
  ];
}
