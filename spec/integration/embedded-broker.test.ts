/**
 * The embedded MQTT broker, started by the test on a port of its own: it has
 * no shared subscriptions, so it takes one consumer per queue, and a second
 * process of a role is refused instead of doing every job again. And its
 * life: started by the first process with no broker configured (on the port
 * of MSGFLO_EMBEDDED_PORT, never 1883 here), gone when that one stops, which
 * it and the other processes say.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { freePort } from '../harness/brokers';
import { startCli } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { EMBEDDED_PORT_VAR, startEmbeddedBroker, type EmbeddedBroker } from '../../src/transport/embedded';

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

describe('embedded broker: its owner stops', () => {
  test('the owner says how many client connections of other processes lose their broker; they say it is gone, and reconnect to the next one', async (t) => {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const env = { [EMBEDDED_PORT_VAR]: String(port) };
    const [first, second] = [uniqueRole('owner'), uniqueRole('client')];
    const owner = startCli(t, ['--name', first, '--graph', 'core/Repeat'], env);
    await owner.waitForStderr(/is running on/);
    assert.equal(owner.stderr.split('\n')[0], `no broker configured: started the embedded MQTT broker on ${url}`);

    const client = startCli(t, ['--name', second, '--graph', 'core/Repeat'], env);
    await client.waitForStderr(/is running on/);
    const using = `no broker configured: using the MQTT broker on ${url}, the embedded broker of process ${owner.child.pid}`;
    assert.equal(client.stderr.split('\n')[0], using);
    const dump = startCli(t, ['dump', '--queue', `${second}.OUT`], env);
    await dump.waitForStderr(/^listening on /m);
    assert.equal(dump.stderr.split('\n')[0], using);

    owner.child.kill('SIGTERM');
    const stopped = await owner.exited;
    assert.equal(stopped.code, 0, stopped.stderr);
    // The client participant has 3 connections (publishing, consuming its inport, its FBP inbox); dump has 1.
    const said = stopped.stderr.split('\n').filter((line) => line.includes('stopping the embedded broker'));
    assert.deepEqual(said, [`noflo-runtime-msgflo: stopping the embedded broker on ${url}; 4 client connections of other processes lose their broker`]);

    const gone = `noflo-runtime-msgflo: the embedded broker on ${url} is gone (its process ${owner.child.pid} stopped); waiting for it to come back (a participant started with no broker configured starts it again): `;
    await client.waitForStderr(/is gone/);
    await dump.waitForStderr(/is gone/);
    assert.deepEqual(client.stderr.split('\n').filter((line) => line.includes('is gone') || line.includes('lost the broker')), [`${gone}outputs wait`]);
    assert.deepEqual(dump.stderr.split('\n').filter((line) => line.includes('is gone') || line.includes('lost the broker')), [`${gone}messages sent until it is back are not seen`]);
    assert.equal(dump.stdout, '');

    // The next process with no broker configured starts it again, and the others are back on it.
    const next = startCli(t, ['--name', uniqueRole('next'), '--graph', 'core/Repeat'], env);
    await next.waitForStderr(/is running on/);
    assert.equal(next.stderr.split('\n')[0], `no broker configured: started the embedded MQTT broker on ${url}`);
    await client.waitForStderr(/^reconnected to /m, 15_000);
    await dump.waitForStderr(/^reconnected to /m, 15_000);
    const peer = await connectClient('mqtt', url);
    t.after(() => peer.close());
    await peer.send(`${second}.IN`, '"again"');
    await dump.waitForStdout(/"again"/);
    assert.equal(dump.stdout, '"again"\n');

    for (const running of [dump, client]) {
      running.child.kill('SIGTERM');
      assert.equal((await running.exited).code, 0, running.stderr);
    }
    // Stopped with one client of another process left on its broker: the test's.
    next.child.kill('SIGTERM');
    const last = await next.exited;
    assert.equal(last.code, 0, last.stderr);
    assert.deepEqual(
      last.stderr.split('\n').filter((line) => line.includes('stopping the embedded broker')),
      [`noflo-runtime-msgflo: stopping the embedded broker on ${url}; 1 client connection of another process loses its broker`],
    );
  });

  test('a bad MSGFLO_EMBEDDED_PORT is refused with one line, naming it', async (t) => {
    const result = await startCli(t, ['--name', uniqueRole('bad'), '--graph', 'core/Repeat'], { [EMBEDDED_PORT_VAR]: '70000' }).exited;
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, `noflo-runtime-msgflo: invalid ${EMBEDDED_PORT_VAR} "70000": expected a TCP port from 1 to 65535\n`);
  });
});
