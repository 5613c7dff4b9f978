// /metrics: valid Prometheus text (checked line by line by the parser below), and counters that move
// when real traffic flows; behind the same auth as the rest.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FolderServer } from '../../src/serve/serve-folder.js';
import { readEvents, rawSession, waitFor } from '../helpers.js';
import { makeRoot, notifiedClient, removeRoot, startFolder } from './helpers.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(?:,|$)/;

/** Parses the Prometheus text format (0.0.4); throws on any line that is not valid. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string) => {
    if (families.has(sample)) return families.get(sample)!;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = sample.endsWith(suffix) ? sample.slice(0, -suffix.length) : undefined;
      const f = base === undefined ? undefined : families.get(base);
      if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
    }
    return undefined;
  };
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const where = `line ${i + 1}: ${line.slice(0, 80)}`;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      const f = families.get(m[1]!) ?? { type: 'untyped', help: '', samples: [] };
      f.help = m[2]!;
      families.set(m[1]!, f);
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      const f = families.get(m[1]!) ?? { type: 'untyped', help: '', samples: [] };
      assert.equal(f.samples.length, 0, `TYPE after samples, ${where}`);
      f.type = m[2]!;
      families.set(m[1]!, f);
    } else if (line.startsWith('#')) {
      continue; // a comment
    } else if ((m = SAMPLE.exec(line))) {
      const labels: Record<string, string> = {};
      let rest = m[2] ?? '';
      while (rest !== '') {
        const l = LABEL.exec(rest);
        assert.ok(l, `bad labels, ${where}`);
        labels[l[1]!] = l[2]!;
        rest = rest.slice(l[0].length);
      }
      // As Prometheus reads it (Go's ParseFloat): Inf and NaN in any case (prom-client writes "Nan").
      const special = /^([+-]?)(inf|infinity|nan)$/i.exec(m[3]!);
      const value = special ? (special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity) : Number(m[3]);
      assert.ok(special || (m[3] !== '' && !Number.isNaN(value)), `bad value, ${where}`);
      const f = familyOf(m[1]!);
      assert.ok(f, `sample of an undeclared family, ${where}`);
      f.samples.push({ name: m[1]!, labels, value });
    } else {
      assert.fail(`not Prometheus text, ${where}`);
    }
  }
  return families;
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
  assert.ok(f, `no metric ${name}`);
  const s = f.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s.reduce((a, x) => a + x.value, 0);
}

describe('/metrics', () => {
  let root: string;
  let running: FolderServer;
  before(async () => {
    root = await makeRoot();
    running = await startFolder(root, { keepAliveMs: 100 });
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
  });

  const scrape = async () => {
    const res = await fetch(`${running.server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await res.text());
  };

  test('parses as Prometheus text, with the engine, folder and process metrics typed', async () => {
    const m = await scrape();
    const types: Record<string, string> = {
      mcpwire_sessions: 'gauge',
      mcpwire_streams: 'gauge',
      mcpwire_messages_sent_total: 'counter',
      mcpwire_messages_received_total: 'counter',
      mcpwire_sent_bytes_total: 'counter',
      mcpwire_received_bytes_total: 'counter',
      mcpwire_keepalives_sent_total: 'counter',
      mcpwire_replays_total: 'counter',
      mcpwire_resume_misses_total: 'counter',
      mcpwire_events_dropped_total: 'counter',
      mcpwire_slow_clients_evicted_total: 'counter',
      mcpwire_notifications_total: 'counter',
      mcpwire_http_request_duration_seconds: 'histogram',
      mcpwire_serve_files: 'gauge',
      process_cpu_user_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) assert.equal(m.get(name)?.type, type, name);
    assert.equal(value(m, 'mcpwire_serve_files'), 4);
    assert.deepEqual(m.get('mcpwire_sessions')!.samples.map((s) => s.labels.wire).sort(), ['legacy', 'streamable']);
  });

  test('every notification kind is exported from the start, at 0 (so that increase() counts the first)', async () => {
    const m = await scrape();
    const kinds = ['prompts_list_changed', 'resource_updated', 'resources_list_changed', 'tools_list_changed'];
    for (const name of ['mcpwire_notifications_total', 'mcpwire_notification_deliveries_total']) {
      assert.deepEqual(m.get(name)!.samples.map((s) => s.labels.kind).sort(), kinds, name);
      assert.ok(m.get(name)!.samples.every((s) => s.value === 0), name);
    }
  });

  test('a request whose client left before any answer is timed with status 499, not 200', async () => {
    const count = (m: Map<string, Family>, status: string) => value(m, 'mcpwire_http_request_duration_seconds_count', { route: '/mcp', method: 'POST', status });
    const m0 = await scrape();
    const url = new URL(running.server.url);
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, 'connect');
    // A body announced and never sent in full: the request waits for it when the client goes.
    socket.write('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{"jsonrpc"');
    await new Promise((r) => setTimeout(r, 200));
    socket.destroy();
    let m1 = await scrape();
    for (let i = 0; i < 50 && count(m1, '499') === count(m0, '499'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      m1 = await scrape();
    }
    assert.equal(count(m1, '499') - count(m0, '499'), 1);
    assert.equal(count(m1, '200'), count(m0, '200'), 'no answer was sent, so no 200 either');
  });

  test('counters move when traffic flows', async () => {
    const m0 = await scrape();
    const mcp = await notifiedClient(running.server.url, 'mcp');
    const sse = await notifiedClient(running.server.url, 'sse');
    try {
      await mcp.client.subscribeResource({ uri: 'file:///hello.txt' });
      await sse.client.callTool({ name: 'search', arguments: { query: 'hello' } });
      await writeFile(join(root, 'hello.txt'), 'changed\n');
      await waitFor(() => mcp.got.updated.length > 0, 5_000, 'the update');
      // An open stream for longer than the keepalive interval gets keepalive comments.
      await new Promise((r) => setTimeout(r, 300));

      // A resumption (Last-Event-ID on the GET stream) and a miss (a stream that never existed).
      const sid = await rawSession(running.server.url);
      const headers = { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' };
      const resumed = await fetch(`${running.server.url}/mcp`, { headers: { ...headers, 'Last-Event-ID': 'g.0' } });
      assert.equal(resumed.status, 200);
      await readEvents(resumed, () => true, 2_000);
      const missed = await fetch(`${running.server.url}/mcp`, { headers: { ...headers, 'Last-Event-ID': 'r.bm9uZQ.1' } });
      assert.ok([404, 410].includes(missed.status), String(missed.status));
      await missed.text();

      const m1 = await scrape();
      assert.equal(value(m1, 'mcpwire_sessions', { wire: 'streamable' }), 2);
      assert.equal(value(m1, 'mcpwire_sessions', { wire: 'legacy' }), 1);
      assert.ok(value(m1, 'mcpwire_streams', { wire: 'legacy' }) >= 1);
      for (const name of ['mcpwire_messages_sent_total', 'mcpwire_messages_received_total', 'mcpwire_sent_bytes_total', 'mcpwire_received_bytes_total', 'mcpwire_sessions_created_total', 'mcpwire_keepalives_sent_total', 'mcpwire_replays_total', 'mcpwire_resume_misses_total']) {
        assert.ok(value(m1, name) > value(m0, name), `${name} did not move`);
      }
      assert.ok(value(m1, 'mcpwire_notifications_total', { kind: 'resource_updated' }) >= 1);
      assert.ok(value(m1, 'mcpwire_notification_deliveries_total', { kind: 'resource_updated' }) >= 1);
      assert.equal(value(m1, 'mcpwire_serve_searches_total', { outcome: 'completed' }), 1);
      const count = (m: Map<string, Family>) => value(m, 'mcpwire_http_request_duration_seconds_count', { route: '/mcp', method: 'POST' });
      assert.ok(count(m1) >= 3, 'POST /mcp requests were not timed');
      const buckets = m1.get('mcpwire_http_request_duration_seconds')!.samples.filter((s) => s.name.endsWith('_bucket') && s.labels.route === '/mcp' && s.labels.method === 'POST' && s.labels.status === '200');
      assert.ok(buckets.some((b) => b.labels.le === '+Inf'));
      assert.ok(buckets.every((b, i) => i === 0 || b.value >= buckets[i - 1]!.value), 'buckets are not cumulative');
    } finally {
      await mcp.client.close();
      await sse.client.close();
    }
  });
});

describe('/metrics behind auth', () => {
  let root: string;
  let running: FolderServer;
  before(async () => {
    root = await makeRoot();
    running = await startFolder(root, { auth: { tokens: ['s3cret-token'] } });
  });
  after(async () => {
    await running.close();
    await removeRoot(root);
  });

  test('401 without the token, the metrics with it', async () => {
    const no = await fetch(`${running.server.url}/metrics`);
    assert.equal(no.status, 401);
    assert.equal(((await no.json()) as { error: { code: number } }).error.code, -32000);
    const yes = await fetch(`${running.server.url}/metrics`, { headers: { Authorization: 'Bearer s3cret-token' } });
    assert.equal(yes.status, 200);
    assert.ok(parsePrometheus(await yes.text()).has('mcpwire_sessions'));
  });

  test("the dashboard's refusals count in mcpwire_http_errors_total, as the MCP endpoints' do", async () => {
    const errors = async () => {
      const res = await fetch(`${running.server.url}/metrics`, { headers: { Authorization: 'Bearer s3cret-token' } });
      return value(parsePrometheus(await res.text()), 'mcpwire_http_errors_total');
    };
    const before = await errors();
    for (const path of ['/_events', '/_dashboard/app.js', '/?token=a-guess']) {
      const res = await fetch(running.server.url + path);
      assert.equal(res.status, 401, path);
      await res.text();
    }
    assert.equal(await errors(), before + 3);
  });
});
