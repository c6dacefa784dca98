/**
 * Ways consumption stops or outputs vanish on one RabbitMQ, each healed or
 * said: an inqueue deleted under a running participant, a job that blocks
 * the event loop past two heartbeats, the `fbp` queue unusable, outputs
 * routed to no queue, dead letters with no queue behind them. `/readyz`
 * must say each loss of consumption within 2 s, and ready again once healed.
 */
import assert from 'node:assert/strict';
import * as amqp from 'amqplib';
import { after, before, describe, test, type TestContext } from 'node:test';
import { METRIC_NAMES as M } from '../../src/ops/metrics';
import { startRabbitMQ, type BrokerHandle } from '../harness/brokers';
import { startCli, type RunningCommand } from '../harness/cli';
import { connectClient, uniqueRole, type Collector } from '../harness/client';
import { recordFigures } from '../harness/figures';
import { endpointFrom, get, pollUntil, sample } from '../harness/metrics';
import { FIXTURES } from '../harness/participants';
import { connectStream, sendRange, settledAll, type StreamPeer } from '../harness/stream';
import { eventually } from '../harness/wait';

const SETTLE_TIMEOUT_MS = 60_000;

describe('consumption healed and told on RabbitMQ', () => {
  let broker: BrokerHandle;
  let admin: amqp.ChannelModel;
  before(async () => {
    broker = await startRabbitMQ();
    admin = await amqp.connect(broker.url);
  });
  after(async () => {
    await admin.close().catch(() => undefined);
    await broker.stop();
  });

  /** Run a broker operation as an operator would, on a channel of its own. */
  const operate = async (work: (channel: amqp.Channel) => Promise<unknown>): Promise<void> => {
    const channel = await admin.createChannel();
    try {
      await work(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  };

  const participant = (t: TestContext, role: string, extra: string[] = [], url = broker.url): RunningCommand =>
    startCli(t, ['--name', role, '--graph', 'fixtures/Throw', '--basedir', FIXTURES, '--prefetch', '8', '--http-port', '0', ...extra], { MSGFLO_BROKER: url });

  const stream = async (t: TestContext, role: string): Promise<StreamPeer> => {
    const peer = await connectStream('amqp', broker.url, role);
    t.after(() => peer.close());
    return peer;
  };

  const settled = (peer: StreamPeer, count: number): Promise<void> => settledAll(peer.tally, count, SETTLE_TIMEOUT_MS);

  test('the inqueue is deleted under a running participant: 503 at once, consuming again within 10 s, nothing sent after lost', async (t) => {
    const role = uniqueRole('deleted');
    const peer = await stream(t, role);
    const worker = participant(t, role);
    await worker.waitForStderr(/is running/);
    const base = endpointFrom(worker.stderr);
    assert.equal((await get(`${base}/readyz`)).status, 200);
    await sendRange(peer, 1, 500);
    await settled(peer, 500);

    await operate((channel) => channel.deleteQueue(`${role}.IN`));
    const lostAt = Date.now();
    const notReady = await pollUntil(`${base}/readyz`, (r) => r.status === 503, 2000);
    assert.match(notReady.body, new RegExp(`${role}\\.in: .*cancelled the consumer of "${role}\\.IN"`));
    const ready = await pollUntil(`${base}/readyz`, (r) => r.status === 200, 10_000);
    const healedMs = Date.now() - lostAt;
    assert.equal(ready.body.trim(), 'ready');
    await sendRange(peer, 501, 2500);
    await settled(peer, 2500);

    const figures = peer.tally.figures('inqueue deleted', 'amqp', 2500);
    recordFigures(figures);
    assert.equal(figures.lost, 0);
    assert.equal(figures.answered, 2500);
    const metrics = (await get(`${base}/metrics`)).body;
    assert.equal(sample(metrics, M.consumersActive, { role, port: 'in' }), 1);
    assert.ok(sample(metrics, M.consumerRestarts) >= 1, 'the restart is counted');
    assert.match(worker.stderr, /inport in: the broker cancelled the consumer .*; consuming again/);
    t.diagnostic(`consuming again ${healedMs} ms after the deletion`);
    assert.equal(worker.child.exitCode, null, 'the participant stayed up');
  });

  test('a job blocks the event loop past two heartbeats: connected and consuming again afterwards', async (t) => {
    const role = uniqueRole('blocked');
    const peer = await stream(t, role);
    const worker = participant(t, role, [], `${broker.url}?heartbeat=2`);
    await worker.waitForStderr(/is running/);
    const base = endpointFrom(worker.stderr);
    await sendRange(peer, 1, 20);
    await settled(peer, 20);
    // 7 s without a heartbeat either way: both ends give the connection up.
    await peer.send(JSON.stringify({ seq: 21, block: 7000 }));
    await worker.waitForStderr(/reconnected to/, 30_000);
    await sendRange(peer, 22, 300);
    await settled(peer, 300);
    const figures = peer.tally.figures('job blocks past heartbeats', 'amqp', 300);
    recordFigures(figures);
    assert.equal(figures.lost, 0);
    assert.equal(figures.answered, 300);
    assert.match(worker.stderr, /lost the broker connection/);
    const ready = await pollUntil(`${base}/readyz`, (r) => r.status === 200, 5000);
    assert.equal(ready.body.trim(), 'ready');
    const metrics = (await get(`${base}/metrics`)).body;
    assert.ok(sample(metrics, M.reconnects) >= 1, 'the reconnection is counted');
  });

  test('the fbp queue cannot be declared: the participant starts, says so, and works', async (t) => {
    // Declared with an argument the msgflo coordinator's plain declaration does not have: ours fails too.
    await operate((channel) => channel.deleteQueue('fbp'));
    await operate((channel) => channel.assertQueue('fbp', { arguments: { 'x-max-length': 5 } }));
    t.after(() => operate((channel) => channel.deleteQueue('fbp')));
    const role = uniqueRole('nofbp');
    const peer = await stream(t, role);
    const worker = participant(t, role);
    await worker.waitForStderr(/is running/);
    await sendRange(peer, 1, 200);
    await settled(peer, 200);
    assert.equal(peer.tally.figures('', 'amqp', 200).answered, 200);
    assert.match(worker.stderr, /discovery message not sent .*fbp/);
    const ready = await get(`${endpointFrom(worker.stderr)}/readyz`);
    assert.equal(ready.status, 200, ready.body);
  });

  test('unroutable outputs: counted and acked by default; with onUnroutable=fail the job is dead-lettered with the reason', async (t) => {
    const client = await connectClient('amqp', broker.url);
    t.after(() => client.close());
    const plain = uniqueRole('unroutable');
    const failing = uniqueRole('unroutablefail');
    const perPort = uniqueRole('unroutableport');
    const workers = [
      participant(t, plain, ['--deadletter', '*']),
      participant(t, failing, ['--deadletter', '*', '--attr', 'onUnroutable=fail']),
      participant(t, perPort, ['--deadletter', '*', '--attr', 'outports.out.unroutable=fail']),
    ];
    await Promise.all(workers.map((w) => w.waitForStderr(/is running/)));
    const dead = new Map<string, Collector>();
    for (const role of [plain, failing, perPort]) {
      dead.set(role, await client.drain(`dead-${role}.IN`));
      for (let i = 0; i < 10; i += 1) {
        await client.send(`${role}.IN`, JSON.stringify({ i }));
      }
    }
    const [plainWorker] = workers as [RunningCommand, RunningCommand, RunningCommand];
    const plainBase = endpointFrom(plainWorker.stderr);
    await pollUntil(`${plainBase}/metrics`, (r) => sample(r.body, M.acked, { role: plain, port: 'in' }) === 10);
    const plainMetrics = (await get(`${plainBase}/metrics`)).body;
    assert.equal(sample(plainMetrics, M.unroutable), 10);
    assert.equal(sample(plainMetrics, M.nacked, { role: plain, port: 'in' }), 0);
    for (const role of [failing, perPort]) {
      const collector = dead.get(role);
      assert.ok(collector);
      await eventually(() => collector.messages.length === 10, () => `10 dead letters of ${role}, got ${collector.messages.length}`);
      for (const headers of collector.headers) {
        assert.match(String(headers?.['x-msgflo-error']), new RegExp(`output not published: output to exchange "${role}\\.OUT" was routed to no queue`));
      }
    }
  });

  test('a failed job with no dead-letter queue: said once, counted as dropped', async (t) => {
    const role = uniqueRole('nodead');
    const client = await connectClient('amqp', broker.url);
    t.after(() => client.close());
    const worker = participant(t, role);
    await worker.waitForStderr(/is running/);
    const base = endpointFrom(worker.stderr);
    for (let i = 0; i < 3; i += 1) {
      await client.send(`${role}.IN`, JSON.stringify({ fail: `broken ${i}` }));
    }
    await pollUntil(`${base}/metrics`, (r) => sample(r.body, M.deadLettersDropped) === 3);
    await eventually(() => /was not kept: no queue is bound to exchange "dead-/.test(worker.stderr), () => `a warning in ${worker.stderr}`);
    assert.equal(worker.stderr.match(/was not kept/g)?.length, 1, 'said once a minute, not per message');
  });
});
