/**
 * A RabbitMQ cluster of three nodes losing one: participants given every
 * node's URL fail over, quorum queues keep every message, discovery on a
 * dead node does not hold anything back, an output whose queue is on a dead
 * node fails its job rather than vanish, and a frozen node is noticed.
 * Figures go into the table printed at the end of `npm test`.
 *
 * The cluster is shared with other test files: every test leaves it whole.
 */
import assert from 'node:assert/strict';
import * as amqp from 'amqplib';
import { after, afterEach, describe, test, type TestContext } from 'node:test';
import { METRIC_NAMES as M } from '../../src/ops/metrics';
import { startCli, type RunningCommand } from '../harness/cli';
import { uniqueRole } from '../harness/client';
import { attachCluster } from '../harness/cluster';
import { recordFigures } from '../harness/figures';
import { endpointFrom, get, pollUntil, sample } from '../harness/metrics';
import { FIXTURES } from '../harness/participants';
import { connectStream, sendRange, settledAll, Tally, type StreamPeer } from '../harness/stream';
import { eventually } from '../harness/wait';

const SETTLE_TIMEOUT_MS = 120_000;
/** How soon work must go on after a node is lost, in ms. */
const RESUME_WITHIN_MS = 10_000;

describe('a RabbitMQ cluster loses a node', () => {
  const cluster = attachCluster();
  const urls = cluster.urls;
  const all = urls.join(',');
  after(() => cluster.restore());
  afterEach(() => cluster.restore());

  /** A participant process of the cluster setup the README documents: quorum queues, unroutable outputs fail their job, dead letters kept. */
  const participant = (t: TestContext, role: string, broker = all, extra: string[] = []): RunningCommand =>
    startCli(
      t,
      [
        '--name', role, '--graph', 'fixtures/Throw', '--basedir', FIXTURES, '--prefetch', '8', '--http-port', '0',
        '--queue-type', 'quorum', '--deadletter', '*', '--attr', 'onUnroutable=fail', ...extra,
      ],
      { MSGFLO_BROKER: broker },
    );

  const stream = async (t: TestContext, role: string, node: number): Promise<StreamPeer> => {
    const peer = await connectStream('amqp', urls[node] as string, role, { quorum: true });
    t.after(() => peer.close());
    return peer;
  };

  const settled = (tally: Tally, count: number): Promise<void> => settledAll(tally, count, SETTLE_TIMEOUT_MS);

  /** The node (index) a participant process said it is connected to last. */
  const connectedNode = (worker: RunningCommand): number => {
    const said = [...worker.stderr.matchAll(/(?:connected to|reconnected to) amqp:\/\/[^\s)]*?:(\d+)[/?\s)]/g)];
    const port = said.at(-1)?.[1];
    const node = urls.findIndex((url) => new URL(url).port === port);
    if (node < 0) {
      throw new Error(`no node named in the participant's output: ${worker.stderr}`);
    }
    return node;
  };

  /** Resolves once the participant served on `base` has received more than `count` messages of `role`; fails after {@link RESUME_WITHIN_MS}. */
  const receivedMoreThan = (base: string, role: string, count: number): Promise<unknown> =>
    pollUntil(`${base}/metrics`, (r) => sample(r.body, M.received, { role, port: 'in' }) > count, RESUME_WITHIN_MS);

  /** How many messages `participant` has received so far. */
  const received = async (base: string, role: string): Promise<number> => sample((await get(`${base}/metrics`)).body, M.received, { role, port: 'in' });

  test('kill -9 of the node the participant is connected to: work goes on within 10 s on another, 0 lost', async (t) => {
    const role = uniqueRole('failover');
    const worker = participant(t, role);
    await worker.waitForStderr(/is running/);
    const base = endpointFrom(worker.stderr);
    const victim = connectedNode(worker);
    const peerNode = (victim + 1) % urls.length;
    const peer = await stream(t, role, peerNode);
    const total = 3000;
    const sending = sendRange(peer, 1, total);
    await settled(peer.tally, 750);
    await cluster.kill(victim);
    const killed = Date.now();
    const before = await received(base, role);
    await receivedMoreThan(base, role, before + 50);
    const resumedMs = Date.now() - killed;
    await sending;
    await settled(peer.tally, total);
    const figures = peer.tally.figures('cluster: kill -9 the node connected to', 'amqp', total);
    recordFigures(figures);
    assert.equal(figures.lost, 0);
    assert.equal(figures.answered + figures.deadLettered, total);
    t.diagnostic(`working again ${resumedMs} ms after the kill`);
    await worker.waitForStderr(/reconnected to/);
    assert.notEqual(connectedNode(worker), victim);
    const ready = await pollUntil(`${base}/readyz`, (r) => r.status === 200, 5000);
    assert.equal(ready.body.trim(), 'ready');
    assert.equal(worker.child.exitCode, null, 'the participant stayed up');
  });

  test('two participants on different nodes, one node killed: both working again within 10 s, 0 lost', async (t) => {
    const role = uniqueRole('pair');
    const first = participant(t, role);
    await first.waitForStderr(/is running/);
    const firstNode = connectedNode(first);
    // The second is given the other nodes only, so the two are apart.
    const others = urls.filter((_url, index) => index !== firstNode);
    const second = participant(t, role, others.join(','));
    await second.waitForStderr(/is running/);
    const peerNode = urls.findIndex((_url, index) => index !== firstNode);
    const peer = await stream(t, role, peerNode);
    const bases = [endpointFrom(first.stderr), endpointFrom(second.stderr)];
    const total = 3000;
    const sending = sendRange(peer, 1, total);
    await settled(peer.tally, 750);
    await cluster.kill(firstNode);
    const killed = Date.now();
    const before = await Promise.all(bases.map((base) => received(base, role)));
    await Promise.all(bases.map((base, i) => receivedMoreThan(base, role, (before[i] ?? 0) + 20)));
    const resumedMs = Date.now() - killed;
    await sending;
    await settled(peer.tally, total);
    const figures = peer.tally.figures('cluster: two participants, one node killed', 'amqp', total);
    recordFigures(figures);
    assert.equal(figures.lost, 0);
    assert.equal(figures.answered + figures.deadLettered, total);
    t.diagnostic(`both working again ${resumedMs} ms after the kill`);
  });

  test('the fbp queue on a dead node, at start and during a reconnection: participants start and work', async (t) => {
    const fbpNode = 0;
    const admin = await amqp.connect(urls[fbpNode] as string);
    const channel = await admin.createChannel();
    await channel.deleteQueue('fbp');
    await channel.assertQueue('fbp'); // Classic, as the msgflo coordinator declares it: it lives on node 0.
    await admin.close();
    t.after(async () => {
      await cluster.restore();
      const cleanup = await amqp.connect(urls[1] as string);
      await (await cleanup.createChannel()).deleteQueue('fbp').catch(() => undefined);
      await cleanup.close().catch(() => undefined);
    });
    await cluster.kill(fbpNode);
    const role = uniqueRole('nofbp');
    const worker = participant(t, role);
    await worker.waitForStderr(/is running/, 40_000);
    assert.match(worker.stderr, /discovery message not sent/);
    const peer = await stream(t, role, 1);
    await sendRange(peer, 1, 300);
    await settled(peer.tally, 300);

    // A reconnection while fbp's node is still down: every connection of the participant's node closed.
    const node = connectedNode(worker);
    await cluster.ctl(node, 'close_all_connections', 'test: reconnect');
    await worker.waitForStderr(/reconnected to/, 20_000);
    await sendRange(peer, 301, 600);
    await settled(peer.tally, 600);
    const figures = peer.tally.figures('cluster: fbp queue on a dead node', 'amqp', 600);
    recordFigures(figures);
    assert.equal(figures.lost, 0);
    assert.equal(figures.answered, 600);
    const ready = await pollUntil(`${endpointFrom(worker.stderr)}/readyz`, (r) => r.status === 200, 5000);
    assert.equal(ready.body.trim(), 'ready');
  });

  test('outputs to a classic queue on a node that dies: jobs fail into the dead-letter queue, 0 lost', async (t) => {
    const role = uniqueRole('deadtarget');
    const targetNode = 0;
    // The consumer of the outputs keeps them in a classic queue, which lives on node 0 only.
    const target = await amqp.connect(urls[targetNode] as string);
    t.after(() => target.close().catch(() => undefined));
    const collector = `collect-${role}.OUT`;
    const tally = new Tally();
    const targetChannel = await target.createChannel();
    target.on('error', () => undefined);
    targetChannel.on('error', () => undefined);
    await targetChannel.assertExchange(`${role}.OUT`, 'fanout', {});
    await targetChannel.assertQueue(collector, { durable: true });
    await targetChannel.bindQueue(collector, `${role}.OUT`, '');
    await targetChannel.consume(collector, (message) => {
      if (message) {
        tally.add('answer', message.content);
        targetChannel.ack(message);
      }
    });
    const worker = participant(t, role, urls.filter((_url, index) => index !== targetNode).join(','));
    await worker.waitForStderr(/is running/);
    const sender = await amqp.connect(urls[1] as string);
    t.after(() => sender.close().catch(() => undefined));
    const publisher = await sender.createConfirmChannel();
    const total = 2000;
    let sent = 0;
    const sending = (async () => {
      for (let seq = 1; seq <= total; seq += 1) {
        publisher.sendToQueue(`${role}.IN`, Buffer.from(JSON.stringify({ seq, delay: 1 })), { persistent: true });
        await publisher.waitForConfirms();
        sent = seq;
      }
    })();
    await eventually(() => tally.settled >= 400, () => `400 answers, got ${tally.settled}`, 30_000);
    await cluster.kill(targetNode);
    await sending;
    assert.equal(sent, total);
    await pollUntil(`${endpointFrom(worker.stderr)}/metrics`, (r) => sample(r.body, M.acked, { role, port: 'in' }) + sample(r.body, M.nacked, { role, port: 'in' }) >= total, SETTLE_TIMEOUT_MS);
    // The dead letters are kept in the participant's quorum queue dead-<role>.IN.
    const deadLetters = await sender.createChannel();
    for (;;) {
      const message = await deadLetters.get(`dead-${role}.IN`, { noAck: true });
      if (!message) {
        break;
      }
      tally.add('dead', message.content, message.properties.headers?.['x-msgflo-error']);
    }
    // The classic queue comes back with its node, holding what it confirmed.
    await cluster.start(targetNode);
    const again = await amqp.connect(urls[targetNode] as string);
    t.after(() => again.close().catch(() => undefined));
    const rest = await again.createChannel();
    for (;;) {
      const message = await rest.get(collector, { noAck: true });
      if (!message) {
        break;
      }
      tally.add('answer', message.content);
    }
    await rest.deleteQueue(collector);
    const figures = tally.figures('cluster: outputs to a queue on a dead node', 'amqp', total);
    recordFigures(figures);
    assert.equal(figures.lost, 0, `lost: sent ${total}, answered ${figures.answered}, dead-lettered ${figures.deadLettered}`);
    assert.ok(figures.deadLettered > 0, 'some outputs were refused while the node was down');
    for (const reason of tally.reasons.values()) {
      assert.match(reason, /routed to no queue|not published/);
    }
  });

  test('a frozen node (SIGSTOP): noticed within two heartbeats, /readyz says so, work goes on on the others while it stays frozen', async (t) => {
    const role = uniqueRole('frozen');
    const heartbeat = urls.map((url) => `${url}?heartbeat=2`).join(',');
    const worker = participant(t, role, heartbeat);
    await worker.waitForStderr(/is running/);
    const base = endpointFrom(worker.stderr);
    const frozen = connectedNode(worker);
    const peerNode = (frozen + 1) % urls.length;
    const peer = await stream(t, role, peerNode);
    await sendRange(peer, 1, 200);
    await settled(peer.tally, 200);
    await cluster.pause(frozen);
    const paused = Date.now();
    const notReady = await pollUntil(`${base}/readyz`, (r) => r.status === 503, 8000);
    const noticedMs = Date.now() - paused;
    assert.match(notReady.body, /not connected to .*Heartbeat timeout/);
    await worker.waitForStderr(/reconnected to/, 30_000);
    assert.notEqual(connectedNode(worker), frozen);
    // RabbitMQ itself serves the frozen node's quorum queues again only once
    // Erlang distribution gives the node up (net_ticktime: 60 s by default,
    // NET_TICKTIME_S in the test cluster).
    await sendRange(peer, 201, 700);
    await settled(peer.tally, 700);
    const resumedMs = Date.now() - paused;
    await pollUntil(`${base}/readyz`, (r) => r.status === 200, 30_000);
    // Frozen longer than net_ticktime, it is partitioned from the others: a crash and a restart end that at once.
    await cluster.kill(frozen);
    const figures = peer.tally.figures('cluster: a node frozen (SIGSTOP)', 'amqp', 700);
    recordFigures(figures);
    assert.equal(figures.lost, 0);
    assert.equal(figures.answered, 700);
    t.diagnostic(`frozen node noticed after ${noticedMs} ms; all answered ${resumedMs} ms after the freeze, the node still frozen`);
  });
});
