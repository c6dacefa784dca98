/**
 * The embedded MQTT broker, started by the test on a port of its own: it has
 * no shared subscriptions, so it takes one consumer per queue, and a second
 * process of a role is refused instead of doing every job again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { freePort } from '../harness/brokers';
import { startCli } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/transport/embedded';

async function embeddedBroker(t: TestContext): Promise<EmbeddedBroker> {
  const broker = await startEmbeddedBroker('127.0.0.1', await freePort());
  assert.ok(broker, 'the embedded broker started');
  t.after(() => broker.close());
  return broker;
}

describe('embedded broker: one consumer per queue', () => {
  test('a second process of a role is refused with one line; a message is done once', async (t) => {
    const broker = await embeddedBroker(t);
    const role = uniqueRole('embedded');
    const args = ['--name', role, '--graph', 'core/Repeat', '--broker', broker.url];
    const first = startCli(t, [...args, '--client-id', `${role}-one`]);
    await first.waitForStderr(/is running on/);

    const second = await startCli(t, [...args, '--client-id', `${role}-two`]).exited;
    assert.equal(second.code, 1, second.stderr);
    const lines = second.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line: ${second.stderr}`);
    assert.match(
      lines[0] ?? '',
      new RegExp(`^noflo-runtime-msgflo: cannot consume "${role}\\.IN": another process consumes it already, .*use a real broker \\(Mosquitto 2, RabbitMQ\\)$`),
    );

    const peer = await connectClient('mqtt', broker.url);
    t.after(() => peer.close());
    const out = await peer.listen(`${role}.OUT`);
    await peer.send(`${role}.IN`, '"once"');
    assert.deepEqual(await out.waitFor(1), ['once']);
    assert.deepEqual(await out.settle(500), ['once'], 'done exactly once');

    // Gone, it leaves the queue to the next one.
    first.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 0);
    const third = startCli(t, [...args, '--client-id', `${role}-three`]);
    await third.waitForStderr(/is running on/);
    await peer.send(`${role}.IN`, '"next"');
    assert.deepEqual(await out.waitFor(2), ['once', 'next']);
    third.child.kill('SIGTERM');
    assert.equal((await third.exited).code, 0);
  });

  test('two participants of a role in one process: the second cannot start', async (t) => {
    const broker = await embeddedBroker(t);
    const role = uniqueRole('embedded');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msgflo-embedded-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'participants.json');
    await writeFile(file, JSON.stringify([{ name: role, graph: 'core/Repeat' }, { name: role, graph: 'core/Repeat' }]));
    const result = await startCli(t, ['--participants', file, '--broker', broker.url]).exited;
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`cannot consume "${role}\\.IN": another participant of this process consumes it already`));
  });
});
