// `node --import tsx bench/prof-top.ts <file.cpuprofile> [top=30] [skipSeconds=3]`: where a server's
// CPU went under load (idle and the first seconds, start-up, left out), by function and by part:
// mcpwire's own code, the SDK, zod, Node's http/net/streams, the garbage collector.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

const [file, n = '30', skip = '3'] = process.argv.slice(2);
if (!file) throw new Error('usage: prof-top.ts <file.cpuprofile> [top] [skipSeconds]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
const nodes = new Map(profile.nodes.map((x) => [x.id, x]));

function part(url: string, fn: string): string {
  if (url.includes('/src/') && !url.includes('node_modules')) return 'mcpwire';
  if (url.includes('@modelcontextprotocol/sdk')) return 'SDK';
  if (url.includes('/zod/')) return 'zod';
  if (url.includes('/bench/')) return 'bench server';
  if (url.startsWith('node:')) return 'node (' + url.slice(5).replace(/^internal\//, '').split('/')[0]!.replace(/^_/, '') + ')';
  if (url === '') return fn.startsWith('(') ? fn : 'native';
  return 'other';
}

const byFn = new Map<string, number>();
const byPart = new Map<string, number>();
let t = 0;
let counted = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  if (t < Number(skip) * 1e6) continue;
  const x = nodes.get(profile.samples[i]!)!;
  if (x.callFrame.functionName === '(idle)') continue;
  counted++;
  const url = x.callFrame.url.replace(/^file:\/\/.*node_modules\//, '').replace(/^file:\/\/.*\/bench\/\.build\//, '');
  const key = `${x.callFrame.functionName || '(anonymous)'} ${url}:${x.callFrame.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + 1);
  const p = part(x.callFrame.url, x.callFrame.functionName);
  byPart.set(p, (byPart.get(p) ?? 0) + 1);
}
const top = (m: Map<string, number>, k: number) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([name, v]) => `${((v / counted) * 100).toFixed(1).padStart(5)}%  ${name}`)
    .join('\n');
process.stdout.write(`${counted} busy samples after ${skip}s\n\nby part:\n${top(byPart, 40)}\n\nself time by function:\n${top(byFn, Number(n))}\n`);
