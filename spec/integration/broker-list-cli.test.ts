/**
 * Broker URL lists on the command line: a repeated `--broker`, lists in the
 * environment and in participants files, bad lists refused with one line and
 * no password, and `--queue-type` as a default for a whole process.
 */
import * as amqp from 'amqplib';
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { runCli, startCli, withoutWaiting, type CommandResult } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { amqpUrl, brokerUrls } from '../harness/env';
import { temporaryFile } from '../harness/files';
import { FIXTURES, startParticipant } from '../harness/participants';

/** Nothing listens there: connecting is refused at once. */
const DEAD_AMQP = 'amqp://127.0.0.1:1';
const DEAD_MQTT = 'mqtt://127.0.0.1:1';
const SECRET = 's3cret';

/** Exit code 1 and exactly one line on stderr, matching `message`, with the password nowhere. */
function assertOneLineFailure(result: CommandResult, message: RegExp): void {
  assert.equal(result.code, 1, `exit code; stdout: ${result.stdout}; stderr: ${result.stderr}`);
  // An unreachable broker is waited for, and that is said, before the failure.
  const lines = withoutWaiting(result.stderr);
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  assert.match(lines[0] ?? '', message);
  assert.ok(!(result.stdout + result.stderr).includes(SECRET), `no password printed; stdout: ${result.stdout}; stderr: ${result.stderr}`);
}

describe('command line: a bad broker list stops the start with one line and no password', () => {
  const badList = `amqp://guest:${SECRET}@127.0.0.1:1,amqp//guest:${SECRET}@127.0.0.1:2,amqp://127.0.0.1:3`;
  const position = /^noflo-runtime-msgflo: --broker: broker URL 2 of 3: invalid broker URL "amqp\/\/guest:\*\*\*@127\.0\.0\.1:2": not a URL/;
  const commands: Array<[string, string[]]> = [
    ['a participant', ['--name', 'r', '--graph', 'core/Repeat']],
    ['--participants', ['--participants', 'no-such-file.json']],
    ['--system', ['--system', 'systems/Chain.fbp', '--basedir', FIXTURES]],
    ['setup', ['setup', 'systems/Chain.fbp', '--basedir', FIXTURES]],
    ['setup --participants', ['setup', 'systems/Chain.fbp', '--basedir', FIXTURES, '--participants']],
    ['coordinator', ['coordinator', '--port', '0']],
    ['status', ['status', '--wait', '1']],
    ['send', ['send', '--queue', 'q', '--json', '1']],
    ['dump', ['dump', '--queue', 'q']],
  ];
  for (const [what, args] of commands) {
    test(`${what}: a malformed URL is named by its position`, async (t) => {
      assertOneLineFailure(await runCli(t, [...args, '--broker', badList]), position);
    });
  }

  test('the same list given as repeated --broker flags', async (t) => {
    const flags = badList.split(',').flatMap((url) => ['--broker', url]);
    assertOneLineFailure(await runCli(t, ['--name', 'r', '--graph', 'core/Repeat', ...flags]), position);
  });

  for (const [empty, shown] of [['', ''], [',', ','], [' , ', ',']]) {
    test(`--broker ${JSON.stringify(empty)} is refused, not taken for no broker`, async (t) => {
      const result = await runCli(t, ['--name', 'r', '--graph', 'core/Repeat', '--broker', empty as string], { MSGFLO_BROKER: DEAD_MQTT });
      assertOneLineFailure(result, new RegExp(`^noflo-runtime-msgflo: --broker: invalid broker URL list "${shown}": no URL in it$`));
      assert.doesNotMatch(result.stderr, /embedded/, 'no embedded broker started');
    });
  }

  test('send --broker , is refused too', async (t) => {
    assertOneLineFailure(await runCli(t, ['send', '--queue', 'q', '--json', '1', '--broker', ',']), /^noflo-runtime-msgflo: --broker: invalid broker URL list ",": no URL in it$/);
  });

  test('a bad list in MSGFLO_BROKER names the variable', async (t) => {
    const result = await runCli(t, ['--name', 'r', '--graph', 'core/Repeat'], { MSGFLO_BROKER: `mqtt://u:${SECRET}@127.0.0.1:1,ftp://u:${SECRET}@127.0.0.1:2` });
    assertOneLineFailure(result, /^noflo-runtime-msgflo: MSGFLO_BROKER: broker URL 2 of 2: unsupported broker URL scheme "ftp:" in "ftp:\/\/u:\*\*\*@127\.0\.0\.1:2"/);
  });

  test('a bad list in CLOUDAMQP_URL names the variable', async (t) => {
    const result = await runCli(t, ['status'], { CLOUDAMQP_URL: `amqp://u:${SECRET}@127.0.0.1:1,mqtt://127.0.0.1:2` });
    assertOneLineFailure(result, /^noflo-runtime-msgflo: CLOUDAMQP_URL: broker URL 2 of 2 "mqtt:\/\/127\.0\.0\.1:2" is mqtt, the first is amqp/);
  });

  test('an unreachable list names every node, passwords masked', async (t) => {
    const result = await runCli(t, ['--name', 'r', '--graph', 'core/Repeat', '--connect-timeout', '1', '--broker', `amqp://guest:${SECRET}@127.0.0.1:1`, '--broker', 'amqp://127.0.0.1:2']);
    assertOneLineFailure(result, /^noflo-runtime-msgflo: cannot connect to AMQP broker .*amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1/);
  });

  const badFileBrokers: Array<[string, unknown, string]> = [
    ['a number', 5672, 'a number'],
    ['an empty array', [], 'an empty array'],
    ['an array holding a number', [`amqp://u:${SECRET}@127.0.0.1:1`, 5672], 'an array whose item 2 is a number'],
  ];
  for (const [what, broker, type] of badFileBrokers) {
    test(`a participants file with ${what} as broker is refused, naming the file, the participant and the type`, async (t) => {
      const file = await temporaryFile(t, 'participants.json', JSON.stringify([{ name: 'ok', graph: 'core/Repeat' }, { name: 'upper', graph: 'core/Repeat', broker }]));
      const result = await runCli(t, ['--participants', file, '--broker', DEAD_MQTT]);
      assertOneLineFailure(
        result,
        new RegExp(`^noflo-runtime-msgflo: participants file ".*participants\\.json", entry 2 \\("upper"\\): "broker" must be a URL, a comma-separated list of URLs or an array of URLs, got ${type}$`),
      );
    });
  }

  test('a participants file with a malformed URL in its broker array names its position', async (t) => {
    const file = await temporaryFile(t, 'participants.json', JSON.stringify([{ name: 'upper', graph: 'core/Repeat', broker: [DEAD_AMQP, `amqp//u:${SECRET}@x`] }]));
    assertOneLineFailure(await runCli(t, ['--participants', file]), /entry 1 \("upper"\): "broker": broker URL 2 of 2: invalid broker URL "amqp\/\/u:\*\*\*@x"/);
  });

  test('setup --queue-type without --participants is refused', async (t) => {
    const result = await runCli(t, ['setup', 'systems/Chain.fbp', '--basedir', FIXTURES, '--queue-type', 'quorum', '--broker', DEAD_MQTT]);
    assertOneLineFailure(result, /--queue-type sets the inqueues of the participants hosted here: give --participants/);
  });

  test('--help says --broker is repeatable and takes a list', async (t) => {
    for (const command of [[], ['setup'], ['coordinator'], ['status'], ['send'], ['dump']]) {
      const result = await runCli(t, [...command, '--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout.replace(/\s+/g, ' '), /--broker <url> .*repeatable, or a comma-separated list/, `help of ${command.join(' ') || 'the participant'}`);
    }
    const setup = await runCli(t, ['setup', '--help']);
    assert.match(setup.stdout.replace(/\s+/g, ' '), /--queue-type <type> with --participants: AMQP inqueue type/);
    const coordinator = await runCli(t, ['coordinator', '--help']);
    assert.match(coordinator.stdout.replace(/\s+/g, ' '), /--queue-type <type> AMQP inqueue type of the participants the coordinator starts/);
  });
});

for (const broker of brokerUrls()) {
  const dead = broker.kind === 'amqp' ? DEAD_AMQP : DEAD_MQTT;

  describe(`command line with a broker list on ${broker.kind}`, () => {
    test('a repeated --broker is a list: a dead node first, the live one next; the participant answers', async (t) => {
      const role = uniqueRole('list');
      const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--broker', dead, '--broker', broker.url]);
      await runtime.waitForStderr(/is running on/);
      assert.ok(!(runtime.stdout + runtime.stderr).includes('guest:guest@'), `no password printed: ${runtime.stderr}`);
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const out = await peer.listen(`${role}.OUT`);
      await peer.send(`${role}.IN`, '"through a list"');
      assert.deepEqual(await out.waitFor(1), ['through a list']);
      runtime.child.kill('SIGTERM');
      assert.equal((await runtime.exited).code, 0);
    });

    test('MSGFLO_BROKER may hold a list', async (t) => {
      const role = uniqueRole('envlist');
      const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat'], { MSGFLO_BROKER: `${dead},${broker.url}` });
      await runtime.waitForStderr(/is running on/);
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const out = await peer.listen(`${role}.OUT`);
      await peer.send(`${role}.IN`, '"from the environment"');
      assert.deepEqual(await out.waitFor(1), ['from the environment']);
      runtime.child.kill('SIGTERM');
      assert.equal((await runtime.exited).code, 0);
    });

    test('a participants file whose broker is an array starts and answers', async (t) => {
      const role = uniqueRole('filelist');
      const file = await temporaryFile(t, 'participants.json', JSON.stringify([{ name: role, graph: 'core/Repeat', broker: [dead, broker.url] }]));
      const runtime = startCli(t, ['--participants', file]);
      await runtime.waitForStderr(/^hosting 1 participant$/m);
      assert.doesNotMatch(runtime.stderr, /embedded/, 'the file names the broker: no embedded one');
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const out = await peer.listen(`${role}.OUT`);
      await peer.send(`${role}.IN`, '"array broker"');
      assert.deepEqual(await out.waitFor(1), ['array broker']);
      runtime.child.kill('SIGTERM');
      assert.equal((await runtime.exited).code, 0);
    });
  });
}

/** Whether RabbitMQ holds `queue` as a quorum queue: redeclaring it as one succeeds, and a classic one refuses (406). */
async function isQuorum(url: string, queue: string): Promise<boolean> {
  const model = await amqp.connect(url);
  try {
    const channel = await model.createChannel();
    channel.on('error', () => undefined); // A 406 closes the channel: the answer, not a failure.
    try {
      await channel.assertQueue(queue, { deadLetterExchange: `dead-${queue}`, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } });
      return true;
    } catch (err) {
      if (/PRECONDITION_FAILED|406/.test(String(err))) {
        return false;
      }
      throw err;
    }
  } finally {
    await model.close();
  }
}

/** Delete the queues (and their exchanges) of `roles` after the test. */
function removeQueuesAfter(t: TestContext, url: string, roles: readonly string[]): void {
  t.after(async () => {
    const model = await amqp.connect(url);
    const channel = await model.createChannel();
    for (const role of roles) {
      for (const name of [`${role}.IN`, `dead-${role}.IN`]) {
        await channel.deleteQueue(name);
      }
      for (const name of [`${role}.IN`, `${role}.OUT`, `dead-${role}.IN`]) {
        await channel.deleteExchange(name);
      }
    }
    await model.close();
  });
}

describe('--queue-type for a whole process (AMQP)', () => {
  const url = amqpUrl();

  test('--participants --queue-type quorum: the default of every participant; a file\'s own queueType wins', async (t) => {
    const [quorum, classic] = [uniqueRole('quorum'), uniqueRole('classic')];
    removeQueuesAfter(t, url, [quorum, classic]);
    const file = await temporaryFile(t, 'participants.json', JSON.stringify([
      { name: quorum, graph: 'core/Repeat' },
      { name: classic, graph: 'core/Repeat', queueType: 'classic' },
    ]));
    const runtime = startCli(t, ['--participants', file, '--queue-type', 'quorum', '--broker', DEAD_AMQP, '--broker', url]);
    await runtime.waitForStderr(/hosting 2 participants/);
    assert.equal(await isQuorum(url, `${quorum}.IN`), true, 'the default applies');
    assert.equal(await isQuorum(url, `${classic}.IN`), false, 'the file\'s own queueType wins');
    const peer = await connectClient('amqp', url);
    t.after(() => peer.close());
    const out = await peer.listen(`${quorum}.OUT`);
    await peer.send(`${quorum}.IN`, '"quorum"');
    assert.deepEqual(await out.waitFor(1), ['quorum']);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('--system --queue-type quorum and setup --participants --queue-type quorum', async (t) => {
    const [a, b] = [uniqueRole('sysa'), uniqueRole('sysb')];
    const [c, d] = [uniqueRole('setc'), uniqueRole('setd')];
    removeQueuesAfter(t, url, [a, b, c, d]);
    const system = await temporaryFile(t, 'System.fbp', `${a}(core/Repeat) OUT -> IN ${b}(core/Repeat)\n`);
    const runtime = startCli(t, ['--system', system, '--basedir', FIXTURES, '--queue-type', 'quorum', '--broker', url]);
    await runtime.waitForStderr(/hosting 2 participants/);
    assert.equal(await isQuorum(url, `${a}.IN`), true);
    assert.equal(await isQuorum(url, `${b}.IN`), true);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);

    const setupGraph = await temporaryFile(t, 'Setup.fbp', `${c}(core/Repeat) OUT -> IN ${d}(core/Repeat)\n`);
    const setup = await runCli(t, ['setup', setupGraph, '--basedir', FIXTURES, '--participants', '--queue-type', 'quorum', '--broker', url, '--timeout', '20'], {}, 40_000);
    assert.equal(setup.code, 0, setup.stderr);
    assert.match(setup.stderr, /bound 1 binding for 2 roles/);
    assert.equal(await isQuorum(url, `${c}.IN`), true);
    assert.equal(await isQuorum(url, `${d}.IN`), true);
  });
});

describe('status with a broker list (AMQP)', () => {
  test('reads queue depths through the first node that answers', async (t) => {
    const url = amqpUrl();
    const role = uniqueRole('depths');
    await startParticipant(t, url, { name: role, graph: 'core/Repeat', discoveryPeriod: 2 });
    const result = await runCli(t, ['status', '--broker', DEAD_AMQP, '--broker', url, '--wait', '2.5'], {}, 30_000);
    assert.equal(result.code, 0, result.stderr);
    const row = result.stdout.split('\n').find((line) => line.startsWith(`${role} `))?.split(/\s{2,}/);
    assert.deepEqual(row?.slice(3), ['in in', `${role}.IN`, '0', '1', '-'], 'depths read: 0 waiting, 1 consumer, no dead-letter queue');
    assert.doesNotMatch(result.stdout + result.stderr, /guest:guest@/);
  });
});
