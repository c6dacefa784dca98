/**
 * The supervisor of participant processes: output by line and role,
 * restarts with a doubling delay up to a cap, SIGTERM then SIGKILL, a
 * shell's children stopped with it.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { ChildSupervisor, type SupervisorOptions } from '../../src/host/children';
import { processAlive } from '../harness/cli';
import { eventually } from '../harness/wait';

function supervisor(t: TestContext, options: SupervisorOptions = {}): ChildSupervisor {
  const result = new ChildSupervisor(options);
  t.after(() => result.stopAll());
  return result;
}

/** `node -e SCRIPT`, as a command. */
function node(script: string): { file: string; args: string[] } {
  return { file: process.execPath, args: ['-e', script] };
}

describe('child supervisor', () => {
  test('each line a child writes comes by role and stream; a child that dies is started again, the delay doubling up to the cap', async (t) => {
    const children = supervisor(t, { restartDelayMs: 50, maxRestartDelayMs: 150 });
    const lines: string[] = [];
    const deaths: Array<[string, number, readonly string[]]> = [];
    children.on('output', (role, stream, line) => lines.push(`${role} ${stream} ${line}`));
    children.on('died', (_role, reason, delay, last) => deaths.push([reason, delay, last]));
    await children.start('worker', node("console.log('one'); console.error('two'); process.exit(3)"));
    await eventually(() => deaths.length >= 4, () => `four deaths: ${JSON.stringify(deaths)}`, 5_000);
    assert.deepEqual(deaths.slice(0, 4).map(([reason, delay]) => [reason, delay]), [
      ['exited with code 3', 50],
      ['exited with code 3', 100],
      ['exited with code 3', 150],
      ['exited with code 3', 150],
    ]);
    assert.deepEqual([...(deaths[0]?.[2] ?? [])].sort(), ['one', 'two']);
    assert.ok(lines.includes('worker stdout one') && lines.includes('worker stderr two'), lines.join('\n'));
    await children.stop('worker');
    const count = deaths.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(deaths.length, count, 'no restart once stopped');
    assert.deepEqual(children.roles(), []);
  });

  test('stop: SIGTERM, then SIGKILL for a child that ignores it; a program that does not exist fails the start', async (t) => {
    const children = supervisor(t, { stopTimeoutMs: 300 });
    await children.start('stubborn', node("process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000)"));
    const lines: string[] = [];
    children.on('output', (_role, _stream, line) => lines.push(line));
    await eventually(() => lines.includes('up'), 'the child up');
    const pid = children.pid('stubborn') as number;
    const began = Date.now();
    await children.stop('stubborn');
    assert.ok(Date.now() - began >= 250, 'waited for SIGTERM to work');
    assert.ok(lines.includes('ignored'), 'SIGTERM came first');
    assert.equal(processAlive(pid), false);
    await assert.rejects(children.start('ghost', { file: '/nonexistent/program', args: [] }), /role "ghost": cannot start \/nonexistent\/program: spawn \/nonexistent\/program ENOENT/);
    assert.equal(children.has('ghost'), false);
  });

  test('through a shell: the shell and what it started stop together', async (t) => {
    const children = supervisor(t);
    const lines: string[] = [];
    children.on('output', (_role, _stream, line) => lines.push(line));
    await children.start('shell', { shell: '/bin/sh', line: `${JSON.stringify(process.execPath)} -e "console.log(process.pid); setInterval(() => {}, 1000)" & wait` });
    await eventually(() => lines.length > 0, 'the grandchild up');
    const grandchild = Number(lines[0]);
    assert.ok(processAlive(grandchild));
    await children.stop('shell');
    await eventually(() => !processAlive(grandchild), 'the grandchild gone', 2_000);
  });
});
