/**
 * README's "Your own NoFlo project", end to end, as a user of the published
 * package goes through it: this checkout packed with `npm pack
 * --ignore-scripts` (dist/ is built before the tests run), installed into a
 * temporary copy of examples/myproject with the noflo of package-lock.json,
 * then every command of the section run there from the installed package,
 * on the embedded MQTT broker and on RabbitMQ.
 *
 * README and examples/ cannot drift apart: every file block of the section
 * must be byte for byte the file of examples/myproject it names (and every
 * file there must be shown), and every command of its `sh` blocks must be
 * run by a test here, or be one of {@link DONE_OTHERWISE}.
 *
 * On the embedded broker, no broker is configured, as in the README: the
 * first command of each step starts it, the others use it. It is put on a
 * free port with `MSGFLO_EMBEDDED_PORT` rather than on 127.0.0.1:1883, which
 * other test runs on the machine may use too.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { splitWords } from '../../src/host/shell-words';
import { freePort } from '../harness/brokers';
import { childEnv, startCli, type CommandResult, type RunningCommand } from '../harness/cli';
import { connectClient } from '../harness/client';
import { amqpUrl } from '../harness/env';
import { REPO_ROOT } from '../harness/participants';
import { eventually } from '../harness/wait';

const run = promisify(execFile);

const SECTION = '## Your own NoFlo project';
const EXAMPLE = path.join(REPO_ROOT, 'examples', 'myproject');

/** Commands of the section the test does its own way, and how. */
const DONE_OTHERWISE: Readonly<Record<string, string>> = {
  'mkdir myproject && cd myproject': 'a temporary folder holding a copy of examples/myproject',
  'npm install': 'npm install of the packed tarball and the noflo of package-lock.json, from the npm cache where it can',
  'export MSGFLO_BROKER=amqp://guest:guest@localhost': "MSGFLO_BROKER set to the test's RabbitMQ",
};

/** The commands the tests below run, as the README writes them. */
const SHOUT_BY_NAME = 'npx noflo-runtime-msgflo --name shout --graph myproject/Shout';
const SHOUT_BY_FILE = 'npx noflo-runtime-msgflo --name shout --graph graphs/Shout.fbp';
const DUMP_SHOUT = 'npx noflo-runtime-msgflo dump --queue shout.OUT --amount 1';
const SEND_HELLO = `npx noflo-runtime-msgflo send --queue shout.IN --json '"hello"'`;
const STATUS = 'npx noflo-runtime-msgflo status --wait 2';
const SYSTEM = 'npx noflo-runtime-msgflo setup graphs/System.fbp --participants --forever';
const DUMP_EXCLAIM = 'npx noflo-runtime-msgflo dump --queue exclaim.OUT --amount 1';
const SHARED = 'npx noflo-runtime-msgflo setup graphs/Shared.fbp --participants --forever --log-format json';
const SECOND_EXCLAIMER = 'npx noflo-runtime-msgflo --name exclaimer --graph myproject/Exclaim --log-format json';
const SEND_WORDS = [`npx noflo-runtime-msgflo send --queue shouter.IN --json '"one"'`, `npx noflo-runtime-msgflo send --queue shouter.IN --json '"two"'`];
const SUPERVISOR = 'npx noflo-runtime-msgflo --name supervisor --graph runtime-msgflo/Supervisor';
const VERSION = 'npx noflo-runtime-msgflo --version';
const NPM_TEST = 'npm test';

/** What the section shows: its commands, and its files by path. */
interface Walkthrough {
  readonly commands: readonly string[];
  readonly files: ReadonlyMap<string, string>;
}

/**
 * The section {@link SECTION} of `readme`: the lines of its `sh` blocks
 * (comments left out), and every other fenced block as the file of the
 * project named at the end of the line before it
 * (`` `myproject/graphs/Shout.fbp`: `` is `graphs/Shout.fbp`).
 *
 * @throws when the section is missing, or a block that is no `sh` names no file
 */
function readWalkthrough(readme: string): Walkthrough {
  const start = readme.indexOf(`\n${SECTION}\n`);
  assert.ok(start >= 0, `README.md has a section "${SECTION}"`);
  const rest = readme.slice(start + SECTION.length + 2);
  const end = rest.search(/^## /m);
  const lines = (end < 0 ? rest : rest.slice(0, end)).split('\n');
  const commands: string[] = [];
  const files = new Map<string, string>();
  let before = '';
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] as string;
    const fence = /^```(\S*)$/.exec(line);
    if (!fence) {
      if (line.trim() !== '') before = line;
      continue;
    }
    const close = lines.indexOf('```', i + 1);
    assert.ok(close > i, `the block at "${line}" after "${before}" is closed`);
    const body = lines.slice(i + 1, close);
    if (fence[1] === 'sh') {
      commands.push(...body.filter((command) => command.trim() !== '' && !command.startsWith('#')));
    } else {
      const file = /`myproject\/([^`\s]+)`:$/.exec(before)?.[1];
      assert.ok(file, `the ${fence[1] || 'plain'} block after "${before}" names its file: end the line before it with \`myproject/PATH\`:`);
      files.set(file, `${body.join('\n')}\n`);
    }
    i = close;
  }
  return { commands, files };
}

/** Every file under `dir`, by path relative to it, with `/` between folders. */
async function filesUnder(dir: string, prefix = ''): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      for (const [file, content] of await filesUnder(path.join(dir, entry.name), relative)) found.set(file, content);
    } else {
      found.set(relative, await readFile(path.join(dir, entry.name), 'utf8'));
    }
  }
  return found;
}

/** The version of noflo this checkout is locked to, which the project installs beside the tarball. */
async function lockedNofloVersion(): Promise<string> {
  const lock = JSON.parse(await readFile(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const version = lock.packages['node_modules/noflo']?.version;
  assert.ok(version, 'package-lock.json has node_modules/noflo');
  return version;
}

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('README "Your own NoFlo project", from an npm pack tarball', () => {
  let walkthrough: Walkthrough;
  let work: string;
  let project: string;
  /** The command as installed in the project: what `npx noflo-runtime-msgflo` runs there. */
  let installedBin: string;
  const ran = new Set<string>();
  let installSeconds = 0;

  before(async () => {
    walkthrough = readWalkthrough(await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8'));
    work = await mkdtemp(path.join(os.tmpdir(), 'msgflo-walkthrough-'));
    const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: REPO_ROOT });
    const tarball = path.join(work, packed.stdout.trim().split('\n').pop() ?? '');
    project = path.join(work, 'myproject');
    await cp(EXAMPLE, project, { recursive: true });
    const started = Date.now();
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `noflo@${await lockedNofloVersion()}`], { cwd: project });
    installSeconds = (Date.now() - started) / 1000;
    installedBin = path.join(project, 'node_modules', 'noflo-runtime-msgflo', 'bin', 'noflo-runtime-msgflo');
  }, { timeout: 240_000 });

  after(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

  /** The arguments of a README command line, which must be one of the section's; it counts as run. */
  const argsOf = (line: string): string[] => {
    assert.ok(walkthrough.commands.includes(line), `the README's walkthrough has the command ${line}`);
    ran.add(line);
    const words = splitWords(line, 'README command');
    assert.deepEqual(words.slice(0, 2), ['npx', 'noflo-runtime-msgflo']);
    return words.slice(2);
  };

  /** Start a README command line in the project, as npx would run it; killed after the test if still running. */
  const start = (t: TestContext, line: string, env: NodeJS.ProcessEnv): RunningCommand => startCli(t, argsOf(line), env, project, installedBin);

  /** Run a README command line to its end. */
  const complete = (t: TestContext, line: string, env: NodeJS.ProcessEnv, ms = 30_000): Promise<CommandResult> => within(start(t, line, env).exited, ms, line);

  /** Ctrl-C: the command stops and exits 0. */
  const interrupt = async (running: RunningCommand, what: string): Promise<void> => {
    running.child.kill('SIGINT');
    const result = await within(running.exited, 40_000, `${what} after Ctrl-C`);
    assert.equal(result.code, 0, `${what} exits 0 on Ctrl-C: ${result.stderr}`);
  };

  /** Dump `dumpLine`'s queue, send `hello` to shout.IN: the dump prints `expected` and exits 0. */
  const sendHello = async (t: TestContext, env: NodeJS.ProcessEnv, dumpLine: string, expected: string): Promise<void> => {
    const dump = start(t, dumpLine, env);
    await dump.waitForStderr(/^listening on \S+ on /m, 30_000);
    const sent = await complete(t, SEND_HELLO, env);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout, '');
    assert.match(sent.stderr, /^(sent|published) 7 bytes to shout\.IN on /m);
    if (env.MSGFLO_EMBEDDED_PORT !== undefined) {
      // No broker configured: it says whose embedded broker it uses.
      assert.match(sent.stderr.split('\n')[0] ?? '', /^no broker configured: using the MQTT broker on mqtt:\/\/127\.0\.0\.1:\d+, the embedded broker of process \d+$/);
    }
    const dumped = await within(dump.exited, 20_000, dumpLine);
    assert.equal(dumped.code, 0, dumped.stderr);
    assert.equal(dumped.stdout, `${expected}\n`);
  };

  /** `status` lists `role` played by one participant of `component`, with its first inport's queue. */
  const assertStatus = async (t: TestContext, env: NodeJS.ProcessEnv, role: string, component: string, inport: string): Promise<void> => {
    const status = await complete(t, STATUS, env);
    assert.equal(status.code, 0, status.stderr);
    const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    assert.match(status.stdout, new RegExp(`^${role}\\s+${escape(component)}\\s+1\\s+in ${inport}\\s+${role}\\.${inport.toUpperCase()}\\b`, 'm'));
  };

  test('the files the README shows are examples/myproject, byte for byte', async (t) => {
    t.diagnostic(`npm install of the tarball took ${installSeconds.toFixed(1)} s`);
    const example = await filesUnder(EXAMPLE);
    assert.deepEqual([...walkthrough.files.keys()].sort(), [...example.keys()].sort(), 'the same files');
    for (const [file, content] of walkthrough.files) {
      assert.equal(content, example.get(file), `${file} as the README shows it`);
    }
  });

  test('npx runs the installed command; npm test passes the memory:// unit test', async () => {
    const version = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.ok(walkthrough.commands.includes(VERSION));
    ran.add(VERSION);
    const npx = await run('npx', splitWords(VERSION, 'README command').slice(1), { cwd: project, env: childEnv({}) });
    assert.deepEqual(npx.stdout.split('\n').slice(0, 2), [`noflo-runtime-msgflo ${version.version}`, `noflo ${await lockedNofloVersion()}`]);
    const resolved = await run(process.execPath, ['-p', "require.resolve('noflo-runtime-msgflo')"], { cwd: project });
    assert.equal(resolved.stdout.trim(), path.join(project, 'node_modules', 'noflo-runtime-msgflo', 'dist', 'src', 'index.js'), 'the installed copy, not this checkout');

    assert.ok(walkthrough.commands.includes(NPM_TEST));
    ran.add(NPM_TEST);
    // As a user runs it: not as a file of this test run, which NODE_TEST_CONTEXT would make it.
    const env = childEnv({});
    delete env.NODE_TEST_CONTEXT;
    const tested = await run('npm', ['test'], { cwd: project, env });
    assert.match(tested.stdout, /^# pass 1$/m, tested.stdout);
    assert.match(tested.stdout, /^# fail 0$/m, tested.stdout);
  });

  /** A second exclaimer beside setup's: of two words, each does one, and both come out once. */
  const roundRobin = async (t: TestContext, env: NodeJS.ProcessEnv, url: string, shared: RunningCommand): Promise<void> => {
    assert.match(shared.stderr, /^ROUNDROBIN:\tshouter\.OUT -> exclaimer\.IN$/m);
    const second = start(t, SECOND_EXCLAIMER, env);
    await second.waitForStderr(/^exclaimer-\S+ \(myproject\/Exclaim\) is running on /m, 30_000);
    const peer = await connectClient('amqp', url);
    t.after(() => peer.close());
    const out = await peer.listen('exclaimer.OUT');
    for (const line of SEND_WORDS) {
      const sent = await complete(t, line, env);
      assert.equal(sent.code, 0, sent.stderr);
    }
    assert.deepEqual(((await out.waitFor(2, 20_000)) as string[]).sort(), ['ONE!', 'TWO!']);
    const jobs = (running: RunningCommand): Array<{ role: string; outcome: string }> =>
      running.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { role: string; outcome: string })
        .filter((job) => job.role === 'exclaimer');
    await eventually(() => jobs(shared).length + jobs(second).length >= 2, () => `two exclaimer jobs; setup: ${shared.stdout}; second: ${second.stdout}`, 10_000);
    assert.equal((await out.settle(300)).length, 2, 'each word once');
    assert.deepEqual([jobs(shared).length, jobs(second).length], [1, 1], 'one job each');
    assert.deepEqual([...jobs(shared), ...jobs(second)].map((job) => job.outcome), ['ack', 'ack']);
    await interrupt(second, SECOND_EXCLAIMER);
  };

  for (const broker of ['embedded', 'amqp'] as const) {
    test(`on ${broker === 'amqp' ? 'RabbitMQ' : 'the embedded MQTT broker'}: a graph by name and by file, a system, round robin, the installed Supervisor`, { timeout: 240_000 }, async (t) => {
      const port = await freePort();
      const url = broker === 'amqp' ? amqpUrl() : `mqtt://127.0.0.1:${port}`;
      const env: NodeJS.ProcessEnv = broker === 'amqp' ? { MSGFLO_BROKER: url } : { MSGFLO_EMBEDDED_PORT: String(port) };

      // A graph by name, its library from package.json's name.
      const byName = start(t, SHOUT_BY_NAME, env);
      await byName.waitForStderr(/^shout-\S+ \(myproject\/Shout\) is running on /m, 30_000);
      await sendHello(t, env, DUMP_SHOUT, '"HELLO"');
      await assertStatus(t, env, 'shout', 'myproject/Shout', 'in');
      await interrupt(byName, SHOUT_BY_NAME);

      // The same graph by file.
      const byFile = start(t, SHOUT_BY_FILE, env);
      await byFile.waitForStderr(/^shout-\S+ \(graphs\/Shout\.fbp\) is running on /m, 30_000);
      await sendHello(t, env, DUMP_SHOUT, '"HELLO"');
      await interrupt(byFile, SHOUT_BY_FILE);

      // Two roles, bound by setup.
      const system = start(t, SYSTEM, env);
      await system.waitForStderr(/^coordinating until SIGTERM$/m, 60_000);
      assert.match(system.stderr, /^PUBSUB:\tshout\.OUT -> exclaim\.IN$/m);
      assert.match(system.stderr, /^bound 1 binding for 2 roles$/m);
      await sendHello(t, env, DUMP_EXCLAIM, '"HELLO!"');
      await interrupt(system, SYSTEM);

      // Round robin: refused where the broker cannot share a queue, else each word done once.
      const shared = start(t, SHARED, env);
      await shared.waitForStderr(/^coordinating until SIGTERM$/m, 60_000);
      if (broker === 'amqp') {
        await roundRobin(t, env, url, shared);
      } else {
        assert.match(
          shared.stderr,
          /^noflo-runtime-msgflo: cannot bind ROUNDROBIN shouter\.OUT -> exclaimer\.IN \(edge shouter OUT -> IN share, share OUT -> IN exclaimer\): .*does not deliver to shared subscriptions/m,
        );
      }
      await interrupt(shared, SHARED);

      // A graph of the installed package, by its installed name.
      const supervisor = start(t, SUPERVISOR, env);
      await supervisor.waitForStderr(/^supervisor-\S+ \(runtime-msgflo\/Supervisor\) is running on /m, 30_000);
      assert.match(supervisor.stderr, /^ {2}out binding +supervisor\.BINDING$/m);
      await assertStatus(t, env, 'supervisor', 'runtime-msgflo/Supervisor', 'broker');
      await interrupt(supervisor, SUPERVISOR);
    });
  }

  test('every command of the walkthrough was run', () => {
    const left = walkthrough.commands.filter((command) => !ran.has(command) && DONE_OTHERWISE[command] === undefined);
    assert.deepEqual(left, [], 'commands of the README no test runs');
    const gone = Object.keys(DONE_OTHERWISE).filter((command) => !walkthrough.commands.includes(command));
    assert.deepEqual(gone, [], 'commands done otherwise that the README no longer has');
  });
});
