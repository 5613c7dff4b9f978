// `mcpwire gateway` given what users give it by mistake: refused at once with one line naming what is
// wrong (exit 2: usage; exit 1: a command or folder that is not there), before any client is told
// it is listening; SIGHUP stops it as SIGTERM does; README's table and --help list the same flags.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { helpFlags, readmeTableFlags, refused, runCli } from '../serve/cli-run.js';
import { startCliGateway } from './fixtures/cli.js';
import { TINY, openSession, processesMarked } from './fixtures/gateway.js';

const gateway = (...args: string[]) => ['gateway', '--port', '0', ...args];
const tiny = ['--', TINY.command, ...TINY.args];

describe('mcpwire gateway: bad flags', () => {
  test('no command, and flag values it cannot take: exit 2 naming them', async () => {
    refused(await runCli(gateway()), 2, /missing required argument 'command'/);
    refused(await runCli(gateway('--')), 2, /missing required argument 'command'/);
    refused(await runCli(gateway('--env', 'NOVALUE', ...tiny)), 2, /option '--env <NAME=value>'/);
    refused(await runCli(gateway('--restart', 'sometimes', ...tiny)), 2, /--restart/);
    refused(await runCli(gateway('--max-children', '0', ...tiny)), 2, /--max-children/);
    refused(await runCli(gateway('--kill-grace-ms', '99999999999', ...tiny)), 2, /--kill-grace-ms/);
    refused(await runCli(gateway('--cwd', '', ...tiny)), 2, /--cwd/);
  });

  test('a command that does not exist, or a --cwd that is not a folder: exit 1 at start, naming it', async () => {
    refused(await runCli(gateway('--', 'mcpwire-no-such-command', '--flag')), 1, /^mcpwire: the command mcpwire-no-such-command was not found/);
    refused(await runCli(gateway('--', '/no/such/server')), 1, /^mcpwire: the command \/no\/such\/server was not found/);
    refused(await runCli(gateway('--cwd', '/tmp', '--', './mcpwire-no-such-server')), 1, /^mcpwire: the command \.\/mcpwire-no-such-server was not found/);
    refused(await runCli(gateway('--cwd', '/no/such/folder', ...tiny)), 1, /^mcpwire: --cwd \/no\/such\/folder: no such folder$/);
    refused(await runCli(gateway('--cwd', '/etc/hostname', ...tiny)), 1, /^mcpwire: --cwd \/etc\/hostname: not a folder$/);
    // Found the way its watcher's shell finds it: through PATH (as --env sets it), or relative to --cwd.
    const dir = TINY.command.replace(/\/[^/]+$/, '');
    for (const args of [['--env', `PATH=/nonexistent:${dir}`, '--', 'node', ...TINY.args], ['--cwd', dir, '--', './node', ...TINY.args]]) {
      const gw = await startCliGateway(args);
      await openSession(gw.url);
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('mcpwire gateway: signals', () => {
  test('SIGHUP: the gateway stops its children and exits 0, as on SIGTERM', async () => {
    const marker = randomUUID();
    const gw = await startCliGateway(['--env', `MCPWIRE_TEST_MARK=${marker}`, ...tiny]);
    try {
      await openSession(gw.url);
      assert.equal(processesMarked(marker).length, 2, 'a child and its watcher');
      gw.proc.kill('SIGHUP');
      const code = await Promise.race([gw.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000))]);
      assert.equal(code, 0);
      assert.ok(gw.logs.some((l) => /SIGHUP: draining/.test(l.msg)));
      assert.deepEqual(processesMarked(marker), []);
    } finally {
      await gw.stop(1_000);
    }
  });
});

describe('mcpwire gateway: README and --help', () => {
  test('list the same flags', async () => {
    const documented = new Set([...readmeTableFlags('Gateway'), ...readmeTableFlags('CLI')]);
    assert.deepEqual([...(await helpFlags('gateway'))].sort(), [...documented].sort());
  });
});
