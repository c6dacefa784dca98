/**
 * Waiting for the broker is said, not suffered in silence: at start a
 * program that cannot reach its broker says so at once and every few
 * seconds until `--connect-timeout`; a vhost RabbitMQ refuses fails at once,
 * naming it; `dump` says when it loses the broker and when it is back, and
 * that what was sent in between was not seen (on brokers of this file's
 * own, since it restarts them).
 */
import * as amqp from 'amqplib';
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { freePort, startMosquitto, startRabbitMQ, type BrokerHandle } from '../harness/brokers';
import { runCli, startCli, type CommandResult } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { amqpUrl } from '../harness/env';
import { temporaryFile } from '../harness/files';
import { eventually } from '../harness/wait';

const PROGRAM = 'noflo-runtime-msgflo';
const WAITING = /^waiting for (amqp|mqtt):\/\/\S+ \(ECONNREFUSED\); trying for [\d.]+ s(, \d+ s so far)?$/;

/** stderr's lines, and when each was first seen, in ms after `started`. */
function timedLines(started: number, stderr: () => string): { lines: () => Array<{ at: number; text: string }>; stop: () => void } {
  const seen: Array<{ at: number; text: string }> = [];
  const timer = setInterval(() => {
    const lines = stderr().split('\n').slice(0, -1);
    for (const text of lines.slice(seen.length)) {
      seen.push({ at: Date.now() - started, text });
    }
  }, 20);
  return { lines: () => seen, stop: () => clearInterval(timer) };
}

/** A broker of the test's own, stopped after it. */
async function ownBroker(t: TestContext, kind: 'amqp' | 'mqtt'): Promise<BrokerHandle> {
  const broker = kind === 'amqp' ? await startRabbitMQ() : await startMosquitto();
  t.after(() => broker.stop());
  return broker;
}

/** Publish to what `dump` of `topic` reads: the exchange (AMQP) or the topic (MQTT). */
async function publisher(t: TestContext, kind: 'amqp' | 'mqtt', url: string, topic: string): Promise<(body: string) => Promise<void>> {
  if (kind === 'mqtt') {
    const peer = await connectClient('mqtt', url);
    t.after(() => peer.close());
    return (body) => peer.send(topic, body);
  }
  const model = await amqp.connect(url);
  // The broker may be stopped first (cleanups run in the order registered): its end is no failure here.
  model.on('error', () => undefined);
  t.after(() => model.close().catch(() => undefined));
  const channel = await model.createConfirmChannel();
  return (body) => new Promise<void>((resolve, reject) => channel.publish(topic, '', Buffer.from(body), {}, (err: unknown) => (err ? reject(err) : resolve())));
}

describe('at start, waiting for the broker is said', () => {
  test('a participant on a closed port says it waits at once and again, then exits 1 after --connect-timeout with the reason', async (t) => {
    const port = await freePort();
    const started = Date.now();
    const running = startCli(t, ['--name', 'r', '--graph', 'core/Repeat', '--connect-timeout', '12', '--broker', `amqp://guest:s3cret@localhost:${port}`]);
    const timing = timedLines(started, () => running.stderr);
    t.after(timing.stop);
    const result = await running.exited;
    timing.stop();
    const elapsed = Date.now() - started;
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
    assert.match(lines.at(-1) ?? '', new RegExp(`^${PROGRAM}: cannot connect to AMQP broker amqp://guest:\\*\\*\\*@localhost:${port}: .*ECONNREFUSED`));
    const waiting = lines.slice(0, -1);
    assert.ok(waiting.length >= 2, `said at least twice in 12 s; stderr: ${result.stderr}`);
    for (const line of waiting) {
      assert.match(line, WAITING);
      assert.ok(line.includes(`amqp://guest:***@localhost:${port}`), `the URL, password masked: ${line}`);
    }
    assert.match(waiting[0] ?? '', /trying for 12 s$/);
    assert.doesNotMatch(result.stderr, /s3cret/);
    // Said at once: long before the time is up (the program itself takes a second or two to start).
    const first = timing.lines().find((line) => WAITING.test(line.text));
    assert.ok(first && first.at < 8000, `first said after ${first?.at} ms`);
    assert.ok(elapsed >= 12_000 && elapsed < 40_000, `gave up after ${elapsed} ms`);
  });

  test('--participants on a closed port says it waits once for the connection they share, then exits 1', async (t) => {
    const port = await freePort();
    const file = await temporaryFile(t, 'participants.json', JSON.stringify([{ name: uniqueRole('a'), graph: 'core/Repeat' }, { name: uniqueRole('b'), graph: 'core/Repeat' }]));
    const result = await runCli(t, ['--participants', file, '--connect-timeout', '3', '--broker', `amqp://127.0.0.1:${port}`]);
    assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
    const waiting = result.stderr.split('\n').filter((line) => line.startsWith('waiting for'));
    assert.ok(waiting.length >= 1, `said while waiting; stderr: ${result.stderr}`);
    for (const line of waiting) {
      assert.match(line, new RegExp(`^waiting for amqp://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); trying for 3 s`));
    }
    assert.match(result.stderr, /cannot connect to AMQP broker .*ECONNREFUSED/);
  });

  test('send to a closed MQTT port says it waits, then fails with the reason', async (t) => {
    const port = await freePort();
    const result = await runCli(t, ['send', '--queue', 'q', '--json', '1', '--broker', `mqtt://127.0.0.1:${port}`]);
    assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
    const lines = result.stderr.trimEnd().split('\n');
    assert.ok(lines.length >= 2, `a waiting line, then the failure; stderr: ${result.stderr}`);
    assert.match(lines[0] ?? '', new RegExp(`^waiting for mqtt://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); trying for 5 s$`));
    assert.match(lines.at(-1) ?? '', new RegExp(`^${PROGRAM}: cannot connect to MQTT broker mqtt://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });
});

describe('a vhost RabbitMQ refuses fails at once, naming it', () => {
  const withVhost = (vhost: string): string => {
    const url = new URL(amqpUrl());
    url.pathname = `/${encodeURIComponent(vhost)}`;
    return url.toString();
  };
  const cases: Array<[string, string[]]> = [
    ['a participant', ['--name', 'r', '--graph', 'core/Repeat']],
    ['send', ['send', '--queue', 'q', '--json', '1']],
    ['dump', ['dump', '--queue', 'q']],
    ['status', ['status', '--wait', '1']],
  ];
  for (const [what, args] of cases) {
    test(`${what}: exit 1 with one line naming the vhost and the broker, no retrying`, async (t) => {
      const vhost = uniqueRole('no-such-vhost-');
      const started = Date.now();
      const result: CommandResult = await runCli(t, [...args, '--broker', withVhost(vhost)]);
      const elapsed = Date.now() - started;
      assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
      assert.match(
        lines[0] ?? '',
        new RegExp(`^${PROGRAM}: cannot connect to AMQP broker amqp://guest:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/${vhost}: the broker refused vhost "${vhost}": it does not exist or the user may not use it$`),
      );
      // At once, give or take a slow start on a busy machine: well within the
      // participant's connect timeout (30 s). (The tools try for 5 s: the line
      // above, not the time, tells that they did not retry.)
      assert.ok(elapsed < 15_000, `failed after ${elapsed} ms`);
    });
  }
});

describe('dump says when it loses the broker and when it is back', () => {
  for (const kind of ['mqtt', 'amqp'] as const) {
    test(`${kind}: one line when lost, one when back, and it listens again`, async (t) => {
      const broker = await ownBroker(t, kind);
      const topic = uniqueRole('dumped');
      if (kind === 'amqp') {
        // dump reads an outqueue through its exchange; durable, so it outlives the restart.
        const admin = await amqp.connect(broker.url);
        await (await admin.createChannel()).assertExchange(topic, 'fanout', { durable: true });
        // Closed before the restart, which would end it with an error.
        await admin.close();
      }
      const dump = startCli(t, ['dump', '--queue', topic, '--broker', broker.url]);
      await dump.waitForStderr(/listening on/);
      await broker.restart();
      await dump.waitForStderr(/reconnected to/, 60_000);
      const lines = dump.stderr.trimEnd().split('\n').filter((line) => !/^listening on/.test(line));
      assert.equal(lines.length, 2, `two lines after listening; stderr: ${dump.stderr}`);
      assert.match(lines[0] ?? '', new RegExp(`^${PROGRAM}: lost the broker connection \\(.*\\); reconnecting: messages sent until it is back are not seen$`));
      assert.match(lines[1] ?? '', new RegExp(`^reconnected to ${kind}://\\S+, listening again on ${topic}: messages sent while the connection was down were not seen$`));
      assert.doesNotMatch(dump.stderr, /guest:guest@/);
      const publish = await publisher(t, kind, broker.url, topic);
      // The tap is made again along with the connection: what comes now is seen.
      const sending = setInterval(() => void publish('"again"').catch(() => undefined), 250);
      t.after(() => clearInterval(sending));
      await eventually(() => dump.stdout.includes('"again"'), () => `dump prints what comes after; stdout: ${dump.stdout}; stderr: ${dump.stderr}`, 20_000);
      clearInterval(sending);
      dump.child.kill('SIGTERM');
      assert.equal((await dump.exited).code, 0);
    });
  }
});
