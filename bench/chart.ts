// The chart in the README: calls/s (rpc) and KiB per idle session, per implementation, as a plain
// SVG of horizontal bars (no charting library).
import { find, type Results, type Row } from './report.js';

interface Bar {
  label: string;
  value: number;
  mcpwire: boolean;
}

const COLORS = { mcpwire: '#2563eb', peer: '#9ca3af' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function bars(rows: Row[], key: string, picks: Array<[string, 'sse' | 'mcp', string]>, clients?: number): Bar[] {
  const out: Bar[] = [];
  for (const [impl, wire, label] of picks) {
    const r = find(rows, impl, wire, clients);
    const v = r?.[key];
    if (typeof v === 'number' && Number.isFinite(v)) out.push({ label, value: v, mcpwire: impl.startsWith('mcpwire') });
  }
  return out;
}

function panel(x: number, y: number, width: number, title: string, digits: number, data: Bar[]): string {
  const labelW = 190;
  const barH = 20;
  const gap = 8;
  const max = Math.max(1, ...data.map((b) => b.value));
  const plotW = width - labelW - 70;
  const parts = [`<text x="${x}" y="${y}" font-size="15" font-weight="600">${esc(title)}</text>`];
  data.forEach((b, i) => {
    const by = y + 16 + i * (barH + gap);
    const w = Math.max(1, (b.value / max) * plotW);
    parts.push(
      `<text x="${x + labelW - 8}" y="${by + 14}" font-size="12" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${x + labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH}" rx="2" fill="${b.mcpwire ? COLORS.mcpwire : COLORS.peer}"/>`,
      `<text x="${x + labelW + w + 6}" y="${by + 14}" font-size="12">${b.value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}</text>`,
    );
  });
  if (data.length === 0) parts.push(`<text x="${x}" y="${y + 30}" font-size="12">not measured</text>`);
  return parts.join('\n');
}

export function writeChart(res: Results): string {
  const c = res.meta.plan.rpcClients.includes(16) ? 16 : res.meta.plan.rpcClients[0]!;
  const library: Array<[string, 'sse' | 'mcp', string]> = [
    ['mcpwire', 'sse', 'mcpwire /sse'],
    ['mcpwire', 'mcp', 'mcpwire /mcp'],
    ['sdk-sse', 'sse', 'SDK 1.32 SSE'],
    ['sdk-streamable', 'mcp', 'SDK 1.32 Streamable'],
    ['stub', 'sse', 'raw node:http stub /sse'],
    ['stub', 'mcp', 'raw node:http stub /mcp'],
  ];
  const gateways: Array<[string, 'sse' | 'mcp', string]> = [
    ['mcpwire-gateway', 'sse', 'mcpwire gateway /sse'],
    ['mcpwire-gateway-shared', 'sse', 'mcpwire gateway --shared /sse'],
    ['supergateway', 'sse', 'supergateway 4.0 /sse'],
  ];
  const calls = [...bars(res.rpc, 'callsPerS', library, c), ...bars(res.gateway, 'callsPerS', gateways)];
  const kib = bars(res.sessions, 'kibPerSession', [
    ...library,
    ['mcpwire-hibernate', 'sse', 'mcpwire /sse, hibernating'],
    ['mcpwire-hibernate', 'mcp', 'mcpwire /mcp, hibernating'],
  ]);
  const rowsH = (n: number) => 16 + Math.max(n, 1) * 28;
  const height = 70 + Math.max(rowsH(calls.length), rowsH(kib.length)) + 30;
  const m = res.meta;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="${height}" viewBox="0 0 1000 ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" fill="#111827">
<rect width="1000" height="${height}" fill="#ffffff"/>
${panel(20, 34, 500, `calls/s, ${c} clients (higher is better)`, 0, calls)}
${panel(520, 34, 470, `KiB per idle session, ${m.plan.sessions.toLocaleString('en-US')} sessions (lower is better)`, 1, kib)}
<text x="20" y="${height - 14}" font-size="11" fill="#6b7280">${esc(`${m.date.slice(0, 10)} · ${m.cpu}, ${m.cores} cores, Node ${m.node} · server on CPU 0, load generator on CPU 1 · npm run bench${m.quick ? ' -- --quick' : ''}`)}</text>
</svg>
`;
}
