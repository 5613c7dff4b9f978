// `mcpwire gateway` as a real process: flags, shutdown on SIGTERM, and children that die with the
// gateway even when it is killed with SIGKILL (or when the process that started it goes away).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { sleep } from '../helpers.js';
import { descendantsOf, startCliGateway, type CliGateway } from './fixtures/cli.js';
import { TINY, alive, call, eventually, initialize, openSession, post, processesMarked, textOf } from './fixtures/gateway.js';

const started: CliGateway[] = [];
async function cli(args: string[], wrapper: string[] = []): Promise<CliGateway> {
  const gw = await startCliGateway(args, wrapper);
  started.push(gw);
  return gw;
}
after(async () => {
  for (const gw of started) {
    await gw.stop(2_000);
    if (alive(gw.pid)) process.kill(gw.pid, 'SIGKILL'); // started under a wrapper that is gone
  }
});

const tiny = ['--', TINY.command, ...TINY.args];

async function whoami(url: string, sid: string) {
  return JSON.parse(textOf((await post(url, call('who', 'whoami'), sid)).body)) as { pid: number; env: string | null; cwd: string; args: string[] };
}

describe('mcpwire gateway (CLI)', () => {
  test('serves the command on /mcp and /sse with --env and --cwd; /health reports the children', async () => {
    const gw = await cli(['--env', 'TINY_ENV=a=b', '--cwd', '/tmp', ...tiny]);
    const sid = await openSession(gw.url);
    const w = await whoami(gw.url, sid);
    assert.equal(w.env, 'a=b');
    assert.equal(w.cwd, '/tmp');
    const sse = await fetch(new URL('/sse', gw.url), { headers: { Accept: 'text/event-stream' } });
    assert.equal(sse.status, 200);
    await sse.body!.cancel();
    const h = (await (await fetch(new URL('/health', gw.url))).json()) as Record<string, any>;
    assert.equal(h.children.mode, 'isolated');
    assert.equal(h.children.alive, 1);
  });

  test('without --, the words after the command are the command\'s, flags included', async () => {
    const gw = await cli(['--shared', TINY.command, ...TINY.args, '--port', '5', '--shared', '--', 'x']);
    const w = await whoami(gw.url, await openSession(gw.url));
    assert.deepEqual(w.args, ['--port', '5', '--shared', '--', 'x']);
    const h = (await (await fetch(new URL('/health', gw.url))).json()) as Record<string, any>;
    assert.equal(h.children.mode, 'shared', 'the gateway kept its own --shared');
  });

  test('--max-sessions and --max-children refuse with 503 and say which limit', async () => {
    const sessions = await cli(['--max-sessions', '1', ...tiny]);
    await openSession(sessions.url);
    const r1 = await post(sessions.url, initialize());
    assert.equal(r1.status, 503);
    assert.match(r1.body.error.message, /session limit/);
    const children = await cli(['--max-children', '1', ...tiny]);
    await openSession(children.url);
    const r2 = await post(children.url, initialize());
    assert.equal(r2.status, 503);
    assert.match(r2.body.error.message, /--max-children/);
  });

  test('--shared: one child for all; /health reports it', async () => {
    const gw = await cli(['--shared', ...tiny]);
    const a = await openSession(gw.url);
    const b = await openSession(gw.url);
    assert.equal((await whoami(gw.url, a)).pid, (await whoami(gw.url, b)).pid);
    const h = (await (await fetch(new URL('/health', gw.url))).json()) as Record<string, any>;
    assert.equal(h.children.mode, 'shared');
    assert.equal(h.children.state, 'up');
  });

  test('SIGTERM: the gateway stops its children and exits 0', async () => {
    const marker = randomUUID();
    const gw = await cli(['--env', `MCPWIRE_TEST_MARK=${marker}`, ...tiny]);
    await openSession(gw.url);
    await openSession(gw.url);
    assert.equal(processesMarked(marker).length, 4, 'two children, each with its watcher');
    assert.equal(await gw.stop(), 0);
    assert.deepEqual(processesMarked(marker), []);
  });

  test('kill -9 of the gateway: its children (even ones that ignore SIGTERM) die with it', async () => {
    const marker = randomUUID();
    const gw = await cli(['--env', `MCPWIRE_TEST_MARK=${marker}`, '--env', 'TINY_IGNORE_TERM=1', '--kill-grace-ms', '3000', ...tiny]);
    const pids: number[] = [];
    for (let i = 0; i < 3; i++) pids.push((await whoami(gw.url, await openSession(gw.url))).pid);
    assert.equal(descendantsOf(gw.pid).length, 6);
    process.kill(gw.pid, 'SIGKILL');
    await gw.exited;
    await sleep(200);
    assert.ok(pids.every(alive), 'they ignore SIGTERM: still there within the grace period');
    await eventually(async () => processesMarked(marker).length === 0, 15_000, 'the children to be killed after the grace period');
  });

  test('--exit-with-parent: when the process that started the gateway dies, the gateway and its children go', async () => {
    const marker = randomUUID();
    // A shell starts the gateway and waits for it; the shell is then killed.
    const gw = await cli(['--exit-with-parent', '--env', `MCPWIRE_TEST_MARK=${marker}`, ...tiny], ['/bin/sh', '-c', '"$@" & wait', 'sh']);
    await openSession(gw.url);
    assert.equal(processesMarked(marker).length, 2);
    process.kill(gw.proc.pid!, 'SIGKILL');
    await eventually(async () => !alive(gw.pid), 15_000, 'the gateway to exit');
    await eventually(async () => processesMarked(marker).length === 0, 15_000, 'its children to go');
  });
});
