/**
 * `procfile`'s lines run as meant in a POSIX shell, as foreman and Heroku
 * run them: each line of a Procfile made from a graph whose IIPs hold
 * quotes, `$`, backquotes, blanks and newlines is run through `sh -c` with
 * stub programs that print the arguments they got. And a bad participant
 * library stops `procfile` and `setup` with one line.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../harness/cli';
import { temporaryFile } from '../harness/files';
import { FIXTURES } from '../harness/participants';

/** A Procfile line as foreman reads it: `name: command`. */
const PROCFILE_LINE = /^([A-Za-z0-9_-]+):\s*(.+)$/;

test('procfile: every line, run by sh -c, gives each program exactly the arguments meant (NoFlo roles, and library commands with #IIPS)', async (t) => {
  const tricky = `it's "quoted" $HOME \`date\` back\\slash\nsecond line; & | > *`;
  const graph = {
    processes: { plain: { component: 'core/Repeat' }, text: { component: 'core/Repeat' }, object: { component: 'core/Repeat' }, worker: { component: 'python/Worker' } },
    connections: [
      { data: tricky, tgt: { process: 'text', port: 'in' } },
      { data: { say: tricky, n: [1, '$PATH'] }, tgt: { process: 'object', port: 'in' } },
      { data: tricky, tgt: { process: 'worker', port: 'config' } },
    ],
  };
  const graphFile = await temporaryFile(t, 'System.json', JSON.stringify(graph));
  const library = await temporaryFile(t, 'library.json', JSON.stringify({ components: { 'python/Worker': 'stub-worker --role #ROLE --iips #IIPS' } }));
  const result = await runCli(t, ['procfile', graphFile, '--basedir', FIXTURES, '--library', library]);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 4, result.stdout);

  // Stubs named as the programs, printing their arguments as JSON.
  const stubs = path.dirname(await temporaryFile(t, 'noflo-runtime-msgflo', `#!${process.execPath}\nprocess.stdout.write(JSON.stringify(process.argv.slice(2)));\n`));
  await writeFile(path.join(stubs, 'stub-worker'), `#!${process.execPath}\nprocess.stdout.write(JSON.stringify(process.argv.slice(2)));\n`);
  await chmod(path.join(stubs, 'noflo-runtime-msgflo'), 0o755);
  await chmod(path.join(stubs, 'stub-worker'), 0o755);
  const argv: Record<string, unknown> = {};
  for (const line of lines) {
    const match = PROCFILE_LINE.exec(line);
    assert.ok(match, `a Procfile line: ${line}`);
    const out = execFileSync('/bin/sh', ['-c', match[2] as string], { env: { PATH: `${stubs}:/usr/bin:/bin`, HOME: '/nowhere' }, encoding: 'utf8' });
    argv[match[1] as string] = JSON.parse(out);
  }
  assert.deepEqual(argv, {
    plain: ['--name', 'plain', '--graph', 'core/Repeat'],
    text: ['--name', 'text', '--graph', 'core/Repeat', '--iips', JSON.stringify({ in: tricky })],
    object: ['--name', 'object', '--graph', 'core/Repeat', '--iips', JSON.stringify({ in: { say: tricky, n: [1, '$PATH'] } })],
    worker: ['--role', 'worker', '--iips', JSON.stringify({ config: tricky })],
  });
});

test('procfile --ignore takes comma-separated roles too, as msgflo-setup does', async (t) => {
  const result = await runCli(t, ['procfile', 'systems/Chain.fbp', '--basedir', FIXTURES, '--ignore', 'worker,repeater', '--include', 'worker: python worker.py']);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trimEnd().split('\n'), [`prefixer: noflo-runtime-msgflo --name prefixer --graph fixtures/Prefix --iips '{"prefix":"sys:"}'`, 'worker: python worker.py']);
});

test('a bad participant library stops procfile and setup with one line naming the file and the entry, before any broker', async (t) => {
  const library = await temporaryFile(t, 'package.json', JSON.stringify({ msgflo: { components: { 'python/Worker': '' } } }));
  const graph = await temporaryFile(t, 'System.fbp', 'worker(python/Worker)\n');
  const expected = `noflo-runtime-msgflo: library "${library}": component "python/Worker" has no command: expected a non-empty string, got ""\n`;
  for (const args of [['procfile', graph, '--library', library], ['setup', graph, '--participants', '--library', library, '--broker', 'amqp://127.0.0.1:1']]) {
    const result = await runCli(t, [...args, '--basedir', FIXTURES]);
    assert.equal(result.code, 1, args[0]);
    assert.equal(result.stderr, expected, args[0]);
  }
});
