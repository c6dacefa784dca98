/**
 * `send` and `dump` tell the truth: `send` fails, naming the queue likely
 * meant, when the broker takes its message nowhere; `dump` of an inqueue
 * shows what reaches it by `send` or through a binding, without taking it
 * from the participant, and refuses a name that is nothing.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import * as amqp from 'amqplib';
import type { Binding } from '../../src/protocol/bindings';
import { createTransport } from '../../src/transport';
import { runCli, runCliWithInput, startCli, type CommandResult, type RunningCommand } from '../harness/cli';
import { connectClient, uniqueRole, type TestClient } from '../harness/client';
import { amqpUrl, mqttUrl } from '../harness/env';
import { temporaryFile } from '../harness/files';
import { startParticipant } from '../harness/participants';
import { eventually } from '../harness/wait';

/** A broker URL as the commands print it: the password masked. */
const AMQP_SHOWN = String.raw`amqp://guest:\*\*\*@127\.0\.0\.1:\d+`;

function assertFailure(result: CommandResult, message: RegExp): void {
  assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  assert.match(lines[0] ?? '', message);
}

async function peerOn(t: TestContext, kind: 'amqp' | 'mqtt', url: string): Promise<TestClient> {
  const peer = await connectClient(kind, url);
  t.after(() => peer.close());
  return peer;
}

async function listening(dump: RunningCommand): Promise<void> {
  await eventually(() => dump.stderr.includes('listening') || dump.child.exitCode !== null, () => `dump listening; stderr: ${dump.stderr}`);
  assert.equal(dump.child.exitCode, null, `dump still running; stderr: ${dump.stderr}`);
}

/** Wait for a dump started with --amount to exit, killing it after `timeoutMs`. */
async function dumped(dump: RunningCommand, timeoutMs = 10_000): Promise<CommandResult> {
  const timer = setTimeout(() => dump.child.kill('SIGKILL'), timeoutMs);
  try {
    return await dump.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** stdout of a dump, one JSON value per line. */
function jsonLines(stdout: string): unknown[] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as unknown);
}

const byText = (a: unknown, b: unknown): number => JSON.stringify(a).localeCompare(JSON.stringify(b));

describe('send on amqp tells whether the broker took the message', () => {
  test('a name that is no inqueue: exit 1 naming it and the queue likely meant; the inqueue: exit 0, a summary on stderr', async (t) => {
    const url = amqpUrl();
    const role = uniqueRole('up');
    await startParticipant(t, url, { name: role, graph: 'core/Repeat' });
    const send = (queue: string): Promise<CommandResult> => runCli(t, ['send', '--queue', queue, '--json', '{"n": 1}', '--broker', url]);

    // Before anything listens to the outqueue: a listener's queue would take what is sent to it.
    const [lower, bare, outqueue, missing] = await Promise.all([`${role}.in`, role, `${role}.OUT`, `${role}x.IN`].map(send));
    assertFailure(lower as CommandResult, new RegExp(`^noflo-runtime-msgflo: send: no queue "${role}\\.in" on ${AMQP_SHOWN} \\(did you mean "${role}\\.IN"\\?\\); nothing was sent$`));
    assertFailure(bare as CommandResult, new RegExp(`^noflo-runtime-msgflo: send: no queue "${role}" on ${AMQP_SHOWN} \\(did you mean "${role}\\.IN"\\?\\); nothing was sent$`));
    assertFailure(
      outqueue as CommandResult,
      new RegExp(`^noflo-runtime-msgflo: send: "${role}\\.OUT" on ${AMQP_SHOWN} is an outqueue \\(an exchange\\); nothing is bound to it, so the message went nowhere; send to an inqueue \\(e\\.g\\. "${role}\\.IN"\\), or bind it with setup$`),
    );
    assertFailure(missing as CommandResult, new RegExp(`^noflo-runtime-msgflo: send: no queue "${role}x\\.IN" on ${AMQP_SHOWN}; nothing was sent$`));

    const peer = await peerOn(t, 'amqp', url);
    const out = await peer.listen(`${role}.OUT`);
    const sent = await send(`${role}.IN`);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout, '', 'stdout is for data only');
    assert.match(sent.stderr, new RegExp(`^sent 8 bytes to ${role}\\.IN on ${AMQP_SHOWN} \\(confirmed by the broker\\)\\n$`));
    assert.deepEqual(await out.waitFor(1), [{ n: 1 }]);
    assert.deepEqual(await out.settle(300), [{ n: 1 }], 'the participant got the one message that reached its inqueue');
  });

  test('--file with a body of 1 MB, and --file - from standard input, arrive intact', async (t) => {
    const url = amqpUrl();
    const role = uniqueRole('up');
    await startParticipant(t, url, { name: role, graph: 'core/Repeat' });
    const peer = await peerOn(t, 'amqp', url);
    const out = await peer.listen(`${role}.OUT`);
    const big = { blob: 'x'.repeat(1_000_000), list: [1, 2.5, 'three'], nested: { ok: true } };
    const text = JSON.stringify(big);
    const file = await temporaryFile(t, 'big.json', text);

    const fromFile = await runCli(t, ['send', '--queue', `${role}.IN`, '--file', file, '--broker', url]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stderr, new RegExp(`^sent ${Buffer.byteLength(text)} bytes to ${role}\\.IN on ${AMQP_SHOWN} \\(confirmed by the broker\\)\\n$`));
    assert.deepEqual(await out.waitFor(1, 20_000), [big]);

    const fromStdin = await runCliWithInput(t, ['send', '--queue', `${role}.IN`, '--file', '-', '--broker', url], '{"from": "stdin"}\n');
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.match(fromStdin.stderr, /^sent 18 bytes to /);
    assert.deepEqual(await out.waitFor(2), [big, { from: 'stdin' }]);
  });
});

describe('send: the message must be given once, as JSON', () => {
  test('a file that is not JSON, no message, or two of them: exit 1 saying which', async (t) => {
    const file = await temporaryFile(t, 'notes.txt', 'not json\nat all\n');
    const dead = ['--broker', 'amqp://127.0.0.1:1'];
    const [notJson, fromStdin, missingFile, none, both] = await Promise.all([
      runCli(t, ['send', '--queue', 'q.IN', '--file', file, ...dead]),
      runCliWithInput(t, ['send', '--queue', 'q.IN', '--file', '-', ...dead], '{"unfinished": '),
      runCli(t, ['send', '--queue', 'q.IN', '--file', `${file}.missing`, ...dead]),
      runCli(t, ['send', '--queue', 'q.IN', ...dead]),
      runCli(t, ['send', '--queue', 'q.IN', '--json', '1', '--file', file, ...dead]),
    ]);
    assertFailure(notJson, /^noflo-runtime-msgflo: invalid --file ".*notes\.txt": not JSON \(.+\); MsgFlo messages are JSON$/);
    assertFailure(fromStdin, /^noflo-runtime-msgflo: invalid --file - \(standard input\): not JSON \(.+\); MsgFlo messages are JSON$/);
    assertFailure(missingFile, /^noflo-runtime-msgflo: invalid --file ".*notes\.txt\.missing": ENOENT/);
    assertFailure(none, /^noflo-runtime-msgflo: give the message with exactly one of --json and --file$/);
    assertFailure(both, /^noflo-runtime-msgflo: give the message with exactly one of --json and --file$/);
  });
});

describe('dump of an inqueue on amqp', () => {
  test('shows what send and a binding deliver, while the participant still gets both', async (t) => {
    const url = amqpUrl();
    const [a, up] = [uniqueRole('a'), uniqueRole('up')];
    await startParticipant(t, url, { name: a, graph: 'core/Repeat' });
    await startParticipant(t, url, { name: up, graph: 'core/Repeat' });
    const graph = await temporaryFile(t, 'System.fbp', `${a}(core/Repeat) OUT -> IN ${up}(core/Repeat)\n`);
    const setup = await runCli(t, ['setup', graph, '--broker', url, '--timeout', '20'], {}, 40_000);
    assert.equal(setup.code, 0, setup.stderr);
    const peer = await peerOn(t, 'amqp', url);
    const out = await peer.listen(`${up}.OUT`);

    const dump = startCli(t, ['dump', '--queue', `${up}.IN`, '--amount', '2', '--broker', url]);
    await listening(dump);
    assert.match(dump.stderr, new RegExp(`^listening on ${up}\\.IN on ${AMQP_SHOWN} through its exchange: .*not messages other programs publish straight to the queue`));
    const sent = await runCli(t, ['send', '--queue', `${up}.IN`, '--json', '{"via": "send"}', '--broker', url]);
    assert.equal(sent.code, 0, sent.stderr);
    // Straight to a's queue: a's output reaches up.IN through the binding setup made.
    await peer.send(`${a}.IN`, '{"via": "binding"}');

    const result = await dumped(dump);
    assert.equal(result.code, 0, result.stderr);
    const expected = [{ via: 'binding' }, { via: 'send' }];
    assert.deepEqual(jsonLines(result.stdout).sort(byText), expected);
    assert.deepEqual((await out.waitFor(2)).sort(byText), expected, 'the participant consumed both');
  });

  test('of a name that is no queue or exchange: exit 1 with the reason and the name likely meant', async (t) => {
    const url = amqpUrl();
    const role = uniqueRole('up');
    await startParticipant(t, url, { name: role, graph: 'core/Repeat' });
    const dump = (queue: string): Promise<CommandResult> => runCli(t, ['dump', '--queue', queue, '--broker', url], {}, 10_000);
    const [missing, lower] = await Promise.all([dump(`${role}x`), dump(`${role}.in`)]);
    assertFailure(missing, new RegExp(`^noflo-runtime-msgflo: dump: no queue or exchange "${role}x" on ${AMQP_SHOWN}$`));
    assertFailure(lower, new RegExp(`^noflo-runtime-msgflo: dump: no queue or exchange "${role}\\.in" on ${AMQP_SHOWN} \\(did you mean "${role}\\.IN"\\?\\)$`));
  });

  for (const type of ['pubsub', 'roundrobin'] as const) {
    test(`a ${type} binding reaches a tap of the inqueue; one made the msgflo way is replaced, and removing the binding undoes both`, async (t) => {
      const url = amqpUrl();
      const [a, up] = [uniqueRole('a'), uniqueRole('up')];
      await startParticipant(t, url, { name: a, graph: 'core/Repeat' });
      await startParticipant(t, url, { name: up, graph: 'core/Repeat' });
      const binding: Binding = { type, src: `${a}.OUT`, tgt: `${up}.IN` };
      // As msgflo binds: the target queue itself to the source exchange (or its out- exchange).
      const raw = await amqp.connect(url);
      t.after(() => raw.close());
      const channel = await raw.createChannel();
      const source = type === 'pubsub' ? binding.src : `out-${binding.src}`;
      if (type === 'roundrobin') {
        await channel.assertExchange(source, 'direct', {});
        await channel.bindExchange(source, binding.src, '');
      }
      await channel.bindQueue(binding.tgt, source, '');

      const transport = createTransport(url);
      t.after(() => transport.close());
      await transport.connect();
      await transport.addBinding(binding);
      const tapped: unknown[] = [];
      await transport.tap(binding.tgt, (data) => tapped.push(data));
      const peer = await peerOn(t, 'amqp', url);
      const fromA = await peer.listen(binding.src);
      const out = await peer.listen(`${up}.OUT`);

      await peer.send(`${a}.IN`, '"bound"');
      assert.deepEqual(await out.waitFor(1), ['bound']);
      await eventually(() => tapped.length === 1, () => `the tap saw it: ${JSON.stringify(tapped)}`);
      assert.deepEqual(await out.settle(300), ['bound'], 'delivered once');

      await transport.removeBinding(binding);
      await peer.send(`${a}.IN`, '"unbound"');
      assert.deepEqual(await fromA.waitFor(2), ['bound', 'unbound']);
      assert.deepEqual(await out.settle(500), ['bound'], 'nothing reaches the target once unbound');
      assert.deepEqual(tapped, ['bound']);
    });
  }
});

describe('send and dump on mqtt', () => {
  test('dump of an inqueue shows what send publishes; send says MQTT cannot tell who listens', async (t) => {
    const url = mqttUrl();
    const role = uniqueRole('up');
    await startParticipant(t, url, { name: role, graph: 'core/Repeat' });
    const peer = await peerOn(t, 'mqtt', url);
    const out = await peer.listen(`${role}.OUT`);
    const dump = startCli(t, ['dump', '--queue', `${role}.IN`, '--amount', '1', '--broker', url]);
    await listening(dump);

    const sent = await runCli(t, ['send', '--queue', `${role}.IN`, '--json', '{"n": 1}', '--broker', url]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout, '');
    assert.match(sent.stderr, /^published 8 bytes to \S+\.IN on mqtt:\/\/127\.0\.0\.1:\d+ \(MQTT cannot tell whether anyone subscribes\)\n$/);
    const result = await dumped(dump);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(jsonLines(result.stdout), [{ n: 1 }]);
    assert.deepEqual(await out.waitFor(1), [{ n: 1 }]);

    const nowhere = await runCli(t, ['send', '--queue', `${role}x.IN`, '--json', '2', '--broker', url]);
    assert.equal(nowhere.code, 0, nowhere.stderr);
    assert.match(nowhere.stderr, /^published 1 byte to .*\(MQTT cannot tell whether anyone subscribes\)\n$/);
  });
});
