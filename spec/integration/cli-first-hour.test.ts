/**
 * The command line as someone new to it meets it: versions, the bare command,
 * a typo, commander's own errors, every command's help. Which stream, which
 * exit code, which first line. No broker is reached.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from '../harness/cli';
import { REPO_ROOT } from '../harness/participants';

const PROGRAM = 'noflo-runtime-msgflo';
const COMMANDS = ['setup', 'coordinator', 'status', 'procfile', 'send', 'dump', 'version'];

async function versionOf(packageJson: string): Promise<string> {
  const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version: string };
  return version;
}

/** The one line on stderr of a refused call, checked to be alone, and nothing on stdout. */
function refusal(result: { code: number | null; stdout: string; stderr: string }): string {
  assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  return lines[0] ?? '';
}

describe('command line: versions', () => {
  for (const args of [['--version'], ['-V'], ['version']]) {
    test(`${args.join(' ')} prints this package's, NoFlo's and Node's versions on stdout`, async (t) => {
      const result = await runCli(t, args);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      const own = await versionOf(path.join(REPO_ROOT, 'package.json'));
      const noflo = await versionOf(path.join(REPO_ROOT, 'node_modules', 'noflo', 'package.json'));
      assert.equal(result.stdout, `${PROGRAM} ${own}\nnoflo ${noflo}\nnode ${process.version}\n`);
    });
  }
});

describe('command line: the bare command', () => {
  test('prints the usage on stderr and exits 1, without asking for --name', async (t) => {
    const result = await runCli(t, []);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr.split('\n')[0], `Usage: ${PROGRAM} [options] [command]`);
    assert.match(result.stderr, /\nCommands:\n/);
    assert.match(result.stderr, /\nExamples:\n/);
    assert.doesNotMatch(result.stderr, /missing --name/);
  });

  test('--help prints the same usage on stdout and exits 0', async (t) => {
    const bare = await runCli(t, []);
    const help = await runCli(t, ['--help']);
    assert.equal(help.code, 0);
    assert.equal(help.stderr, '');
    assert.equal(help.stdout, bare.stderr);
  });
});

describe('command line: a stray word', () => {
  const cases: Array<[string, string[], string]> = [
    ['a typo names the nearest command', ['sned'], `${PROGRAM}: unknown command 'sned' (did you mean send?); commands: ${[...COMMANDS, 'help'].join(', ')}`],
    ['two letters swapped', ['stauts'], `${PROGRAM}: unknown command 'stauts' (did you mean status?); commands: ${[...COMMANDS, 'help'].join(', ')}`],
    ['a word like no command lists them all', ['frobnicate'], `${PROGRAM}: unknown command 'frobnicate'; commands: ${[...COMMANDS, 'help'].join(', ')}`],
    ['a word after a participant\'s flags', ['--name', 'r', '--graph', 'core/Repeat', 'extra'], `${PROGRAM}: unknown command 'extra'; commands: ${[...COMMANDS, 'help'].join(', ')}`],
  ];
  for (const [what, args, line] of cases) {
    test(what, async (t) => {
      assert.equal(refusal(await runCli(t, args)), line);
    });
  }
});

describe("command line: commander's errors begin with the program's name", () => {
  const cases: Array<[string, string[], string]> = [
    ['an unknown option', ['--colour', 'red'], `${PROGRAM}: unknown option '--colour'`],
    ['an unknown option close to one', ['--nmae', 'r'], `${PROGRAM}: unknown option '--nmae' (did you mean --name?)`],
    ['a missing argument', ['setup'], `${PROGRAM}: missing required argument 'graph'`],
    ['a missing required option', ['send', '--json', '1'], `${PROGRAM}: required option '-q, --queue <queue>' not specified`],
    ['an option without its value', ['dump', '--queue'], `${PROGRAM}: option '-q, --queue <queue>' argument missing`],
    ['a value not among the choices', ['--name', 'r', '--graph', 'core/Repeat', '--log-format', 'xml'], `${PROGRAM}: option '--log-format <format>' argument 'xml' is invalid. Allowed choices are text, json.`],
    ['an extra argument to a subcommand', ['send', '--queue', 'q', 'extra'], `${PROGRAM}: too many arguments for 'send'. Expected 0 arguments but got 1.`],
    ['an unknown option of a subcommand', ['status', '--colour'], `${PROGRAM}: unknown option '--colour'`],
  ];
  for (const [what, args, line] of cases) {
    test(what, async (t) => {
      assert.equal(refusal(await runCli(t, args)), line);
    });
  }
});

describe('command line: help', () => {
  for (const command of COMMANDS) {
    test(`${command} --help has an example, on stdout`, async (t) => {
      const result = await runCli(t, [command, '--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      assert.match(result.stdout.split('\n')[0] ?? '', new RegExp(`^Usage: ${PROGRAM} ${command} `));
      assert.match(result.stdout, new RegExp(`\\nExamples:\\n  \\$ ${PROGRAM} ${command}\\b`));
    });
  }

  test('help COMMAND is COMMAND --help', async (t) => {
    const help = await runCli(t, ['help', 'send']);
    const flag = await runCli(t, ['send', '--help']);
    assert.equal(help.code, 0);
    assert.equal(help.stdout, flag.stdout);
  });

  test('defaults and choices are shown as typed, unquoted', async (t) => {
    for (const command of [[], ...COMMANDS.map((name) => [name])]) {
      const result = await runCli(t, [...command, '--help']);
      const text = result.stdout.replace(/\s+/g, ' ');
      assert.doesNotMatch(text, /(default|choices|preset): "/, `help of ${command.join(' ') || 'the participant'}`);
    }
    const root = (await runCli(t, ['--help'])).stdout.replace(/\s+/g, ' ');
    assert.match(root, /--prefetch <n> jobs in flight per inport \(default: 1\)/);
    assert.match(root, /a JSON line per job outcome on stdout \(choices: text, json, default: text\)/);
    const setup = (await runCli(t, ['setup', '--help'])).stdout.replace(/\s+/g, ' ');
    assert.match(setup, /how long to wait for the roles to be discovered \(default: 30\)/);
  });
});
