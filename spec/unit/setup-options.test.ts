/**
 * `setup`'s options next to msgflo-setup's (npm `msgflo` 0.12), read from
 * its own parser: each of msgflo-setup's options is one of ours, taking a
 * value the same way, but for the differences listed here (and in the
 * README), which are on purpose.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { program } from '../../src/cli/main';
import { REPO_ROOT } from '../harness/participants';

type ValueKind = 'required' | 'optional' | 'none';

/** msgflo-setup's options, from its parser (in a process of its own: it parses into commander's shared program). */
function msgfloSetupOptions(): Map<string, ValueKind> {
  const script = `const p = require('msgflo/lib/setup').parse(['node', 'msgflo-setup', 'g.fbp']);
    process.stdout.write(JSON.stringify(p.options.map((o) => [o.long, o.required ? 'required' : o.optional ? 'optional' : 'none'])));`;
  const text = execFileSync(process.execPath, ['-e', script], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000 });
  return new Map(JSON.parse(text) as Array<[string, ValueKind]>);
}

/** Where ours takes a value otherwise, and why. */
const DIFFERENCES: Record<string, { ours: ValueKind; why: string }> = {
  '--participants': { ours: 'none', why: 'a flag: `--participants true` would take `true` for the graph' },
  '--discover': { ours: 'none', why: 'a flag, and always on: bindings come from discovery' },
  '--forever': { ours: 'none', why: 'a flag' },
};

test("setup's options: msgflo-setup's, each taking its value the same way, but for the differences documented", () => {
  const setup = program().commands.find((command) => command.name() === 'setup');
  assert.ok(setup, 'a setup command');
  const ours = new Map<string, ValueKind>(setup.options.map((option) => [option.long ?? '', option.required ? 'required' : option.optional ? 'optional' : 'none']));
  const theirs = msgfloSetupOptions();
  assert.deepEqual([...theirs.keys()].sort(), ['--broker', '--componentdir', '--discover', '--forever', '--forward', '--ignore', '--library', '--only', '--participants', '--shell', '--timeout']);
  const differences: Record<string, ValueKind> = {};
  for (const [flag, kind] of theirs) {
    assert.ok(ours.has(flag), `msgflo-setup's ${flag} is one of ours`);
    if (ours.get(flag) !== kind) {
      differences[flag] = ours.get(flag) as ValueKind;
    }
  }
  assert.deepEqual(differences, Object.fromEntries(Object.entries(DIFFERENCES).map(([flag, { ours: kind }]) => [flag, kind])));
});

test('setup parses msgflo-setup\'s command lines into our flags', async () => {
  let seen: { graph: string; flags: Record<string, unknown> } | undefined;
  const cli = program();
  const setup = cli.commands.find((command) => command.name() === 'setup');
  assert.ok(setup);
  setup.action((graph: string, flags: Record<string, unknown>) => {
    seen = { graph, flags };
  });
  await cli.parseAsync(['node', 'x', 'setup', 'g.fbp', '--participants', '--only', 'a,b', '--ignore', 'c', '--ignore', 'd', '--library', 'lib.json', '--forward', 'stderr', '--shell', '--discover', '--timeout', '5']);
  assert.equal(seen?.graph, 'g.fbp');
  const { participants, only, ignore, library, forward, shell, discover, timeout } = seen?.flags ?? {};
  assert.deepEqual({ participants, only, ignore, library, forward, shell, discover, timeout }, {
    participants: true,
    only: ['a,b'],
    ignore: ['c', 'd'],
    library: 'lib.json',
    forward: 'stderr',
    shell: true,
    discover: true,
    timeout: '5',
  });
});
