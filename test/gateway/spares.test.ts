// --spare-children: server processes started ahead of need. A new session takes one that is already
// running (the process start is not on its way), another is started behind it, spares count toward
// --max-children, a spare that dies is never handed out, and none outlives the gateway.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sleep, waitFor } from '../helpers.js';
import { META, modern } from '../modern/helpers.js';
import { TINY, call, capturingLogger, deleteSession, gatewayPerTest, initialize, openSession, post, processesMarked, textOf } from './fixtures/gateway.js';

const gateway = gatewayPerTest();

async function pidOf(url: string, sid: string): Promise<number> {
  return (JSON.parse(textOf((await post(url, call('who', 'whoami'), sid)).body)) as { pid: number }).pid;
}

async function health(url: string): Promise<{ alive: number; spare: number }> {
  const body = (await (await fetch(new URL('/health', url))).json()) as { children: { alive: number; spare: number } };
  return body.children;
}

describe('--spare-children', () => {
  test('a spare is running before any session; the first session is served by it and another spare starts', async () => {
    const gw = await gateway({ ...TINY, spareChildren: 1 });
    await waitFor(() => processesMarked(gw.marker).length > 0, 10_000, 'the spare to start');
    const before = new Set(processesMarked(gw.marker));
    assert.deepEqual(await health(gw.url), { ...(await health(gw.url)), alive: 1, spare: 1 });
    const sid = await openSession(gw.url);
    assert.ok(before.has(await pidOf(gw.url, sid)), 'the session runs in the process started before it');
    assert.equal(gw.gateway.children, 2, 'its own child and a new spare');
    assert.equal((await health(gw.url)).spare, 1);
    const second = await openSession(gw.url);
    assert.notEqual(await pidOf(gw.url, second), await pidOf(gw.url, sid), 'sessions never share a spare');
    assert.equal(await deleteSession(gw.url, sid), 200);
    assert.equal(await deleteSession(gw.url, second), 200);
  });

  test('spares count toward --max-children: a session may take the last one, then the cap holds', async () => {
    const gw = await gateway({ ...TINY, spareChildren: 1, maxChildren: 2 });
    const a = await openSession(gw.url);
    assert.equal(gw.gateway.children, 2, 'a child and a spare');
    const b = await openSession(gw.url);
    assert.equal(gw.gateway.children, 2, 'the spare was taken; none started past the cap');
    assert.equal((await health(gw.url)).spare, 0);
    const refused = await post(gw.url, initialize());
    assert.equal(refused.status, 503);
    assert.match(refused.body.error.message, /--max-children/);
    assert.equal(await deleteSession(gw.url, a), 200);
    await waitFor(() => gw.gateway.children === 1, 10_000, "a's child to stop");
    const c = await openSession(gw.url);
    assert.equal(textOf((await post(gw.url, call(1, 'echo', { text: 'c' }), c)).body), 'c');
    assert.ok(gw.gateway.children <= 2);
    await deleteSession(gw.url, b);
    await deleteSession(gw.url, c);
  });

  test('a spare that dies is not handed out: the next session gets a fresh child that works', async () => {
    const { logger, records } = capturingLogger();
    const gw = await gateway({ ...TINY, spareChildren: 1, logger });
    await waitFor(() => processesMarked(gw.marker).length > 0, 10_000, 'the spare to start');
    const doomed = processesMarked(gw.marker);
    for (const pid of doomed) process.kill(pid, 'SIGKILL');
    for (let end = Date.now() + 10_000; (await health(gw.url)).spare !== 0 && Date.now() < end; ) await sleep(50);
    assert.equal((await health(gw.url)).spare, 0, 'the dead spare is dropped');
    assert.equal(gw.gateway.children, 0);
    assert.ok(records.some((l) => l.spare === true && /killed by SIGKILL/.test(l.msg)), 'its end is logged as a spare\'s');
    const sid = await openSession(gw.url);
    const pid = await pidOf(gw.url, sid);
    assert.ok(!doomed.includes(pid));
    assert.equal(textOf((await post(gw.url, call(1, 'echo', { text: 'alive' }), sid)).body), 'alive');
    assert.equal((await health(gw.url)).spare, 1, 'and the spares are topped up again');
    await deleteSession(gw.url, sid);
  });

  test('a 2026 client with a new capability set is served by a spare too', async () => {
    const gw = await gateway({ ...TINY, spareChildren: 1 });
    await waitFor(() => processesMarked(gw.marker).length > 0, 10_000, 'the spare to start');
    const before = new Set(processesMarked(gw.marker));
    const r = await modern(gw.url, 'tools/call', { name: 'whoami', arguments: {} }, { meta: { ...META, 'io.modelcontextprotocol/clientCapabilities': { roots: {} } } });
    assert.equal(r.status, 200);
    const pid = (JSON.parse(textOf(r.body)) as { pid: number }).pid;
    assert.ok(before.has(pid), 'the request ran in the process started before it');
  });
});
