/**
 * The MQTT transport heals and tells the truth, on Mosquittos of this file's
 * own: consumers subscribe again when the broker forgot their session (the
 * field case: a resumed session, then a restart without persistence), a URL
 * list fails over to the next node, a long job outlives the keepalive, and
 * Subscription.state() says whether the broker delivers right now.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { freePort, startMosquitto, type BrokerHandle, type BrokerOptions } from '../harness/brokers';
import { Collector, connectClient, uniqueRole, type TestClient } from '../harness/client';
import { recordFigures } from '../harness/figures';
import { FIXTURES } from '../harness/participants';
import { eventually } from '../harness/wait';
import { transportOptions } from '../../src/participant/connection';
import { normalizeOptions, type ParticipantInput } from '../../src/participant/options';
import { Participant } from '../../src/participant/participant';
import { BrokerUrlError } from '../../src/errors';
import { createTransport, type ConsumerState, type Subscription, type Transport } from '../../src/transport';

/** Cleanups of a test, run last registered first, once it is over. */
function cleanups(t: TestContext): (cleanup: () => Promise<unknown>) => void {
  const list: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const cleanup of list.reverse()) {
      await cleanup().catch((err: unknown) => t.diagnostic(`cleanup failed: ${String(err)}`));
    }
  });
  return (cleanup) => list.push(cleanup);
}

async function mosquitto(defer: ReturnType<typeof cleanups>, options: BrokerOptions = {}): Promise<BrokerHandle> {
  const broker = await startMosquitto(options);
  defer(() => broker.stop());
  return broker;
}

async function peerOn(defer: ReturnType<typeof cleanups>, url: string): Promise<TestClient> {
  const peer = await connectClient('mqtt', url);
  defer(() => peer.close());
  return peer;
}

/** A participant on `broker` (one URL or a list), with the subscriptions its transport made, by queue. */
interface Running {
  readonly participant: Participant;
  readonly transport: Transport;
  /** The consumer of `queue` the participant subscribed. */
  consumer(queue: string): Subscription;
}

async function participantOn(defer: ReturnType<typeof cleanups>, broker: string, input: Omit<ParticipantInput, 'broker'>): Promise<Running> {
  const options = normalizeOptions({ basedir: FIXTURES, ...input, broker }, {});
  const transport = createTransport(broker, transportOptions(options));
  const consumers = new Map<string, Subscription>();
  const subscribe = transport.subscribe.bind(transport);
  transport.subscribe = async (queue, handler, subscribeOptions) => {
    const subscription = await subscribe(queue, handler, subscribeOptions);
    consumers.set(queue, subscription);
    return subscription;
  };
  const participant = new Participant(options, transport);
  defer(() => participant.stop(2000));
  await participant.start();
  return {
    participant,
    transport,
    consumer: (queue) => {
      const subscription = consumers.get(queue);
      assert.ok(subscription, `the participant consumes ${queue}`);
      return subscription;
    },
  };
}

/** Every change of `active` of a subscription's state, sampled every 5 ms, with when it happened. */
function watch(subscription: Subscription): { readonly changes: Array<ConsumerState & { at: number }>; stop(): void } {
  const changes: Array<ConsumerState & { at: number }> = [{ ...subscription.state(), at: Date.now() }];
  const sample = (): void => {
    const state = subscription.state();
    if (state.active !== changes[changes.length - 1]?.active) {
      changes.push({ ...state, at: Date.now() });
    }
  };
  const timer = setInterval(sample, 5);
  return {
    changes,
    stop: () => {
      clearInterval(timer);
      sample();
    },
  };
}

/** Send `count` messages `{seq}` to `queue` and wait until every seq came back on `out`; the figures. */
async function roundTrip(peer: TestClient, queue: string, out: Collector, count: number, timeoutMs = 30_000): Promise<{ answered: number; lost: number; duplicated: number }> {
  const before = out.bodies.length;
  const tag = uniqueRole('m');
  for (let seq = 1; seq <= count; seq += 1) {
    await peer.send(queue, JSON.stringify({ tag, seq }));
  }
  const seen = (): number[] =>
    (out.messages.slice(before) as Array<{ tag?: string; seq?: number }>).filter((m) => m.tag === tag).map((m) => m.seq ?? 0);
  await eventually(() => new Set(seen()).size >= count, () => `${count} answers, got ${new Set(seen()).size}`, timeoutMs).catch(() => undefined);
  await out.settle(300); // Room for a late duplicate to show.
  const answered = new Set(seen()).size;
  return { answered, lost: count - answered, duplicated: seen().length - answered };
}

describe('MQTT transport healing', () => {
  test('the field case: a resumed session, then Mosquitto restarted without persistence: subscribed again, 200 of 200 answered', async (t) => {
    const defer = cleanups(t);
    const broker = await mosquitto(defer, { persistence: false });
    const role = uniqueRole('resumed');
    const input = { name: role, graph: 'core/Repeat', clientId: `${role}-id`, prefetch: 2 };

    // A first run leaves its sessions on the broker; what is sent while it is
    // away waits there, and the second run getting it shows it resumed them.
    const first = await participantOn(defer, broker.url, input);
    await first.participant.stop(2000);
    const peer = await peerOn(defer, broker.url);
    const waiting = await peer.listen(`${role}.OUT`);
    for (let seq = 1; seq <= 5; seq += 1) {
      await peer.send(`${role}.IN`, JSON.stringify({ away: seq }));
    }
    assert.deepEqual(await waiting.settle(300), [], 'nobody consumes while the participant is away');
    const second = await participantOn(defer, broker.url, input);
    await waiting.waitFor(5, 10_000);
    const consumer = second.consumer(`${role}.IN`);
    assert.deepEqual(consumer.state(), { active: true });

    // Outputs seen on the publishing connection's own subscription too.
    const tapped = new Collector();
    const tap = await second.transport.tap(`${role}.OUT`, (data) => tapped.push(JSON.stringify(data)));
    defer(() => tap.cancel());
    const events: string[] = [];
    second.transport.on('consumerLost', (queue) => events.push(`lost ${queue}`));
    second.transport.on('consumerRestored', (queue) => events.push(`restored ${queue}`));
    const consumerStates = watch(consumer);
    const tapStates = watch(tap);
    defer(async () => {
      consumerStates.stop();
      tapStates.stop();
    });

    await broker.restart(); // SIGTERM; no persistence: every session and subscription is gone
    await eventually(() => consumer.state().active && tap.state().active, () => `consumer and tap active again: ${JSON.stringify([consumer.state(), tap.state()])}`, 20_000);
    consumerStates.stop();
    tapStates.stop();
    t.diagnostic(`consumer states: ${JSON.stringify(consumerStates.changes.map(({ active, reason }) => reason ?? active))}`);
    assert.deepEqual(consumerStates.changes.map((s) => s.active), [true, false, true], 'inactive while the broker was away, active once subscribed again');
    assert.ok(
      consumerStates.changes.some((s) => /^not connected to mqtt:\/\/127\.0\.0\.1:\d+$/.test(s.reason ?? '') || /^not subscribed to .*\(broker session lost; subscribing again\)$/.test(s.reason ?? '')),
      'a reason is given',
    );
    assert.deepEqual(tapStates.changes.map((s) => s.active), [true, false, true]);
    assert.ok(second.transport.stats.consumerRestarts >= 1, `consumerRestarts ${second.transport.stats.consumerRestarts}`);
    // One lost/restored pair, or one per connection when the two connections
    // of the prefetch came back far enough apart.
    const own = events.filter((e) => e.endsWith(` ${role}.IN`));
    t.diagnostic(`events: ${own.join(', ')}; consumerRestarts ${second.transport.stats.consumerRestarts}`);
    assert.ok(own.length === 2 || own.length === 4, own.join(', '));
    assert.deepEqual(own, own.map((_e, i) => `${i % 2 === 0 ? 'lost' : 'restored'} ${role}.IN`));

    const after = await peerOn(defer, broker.url);
    const out = await after.listen(`${role}.OUT`);
    const tappedBefore = tapped.bodies.length;
    const figures = await roundTrip(after, `${role}.IN`, out, 200);
    recordFigures({ scenario: 'resumed MQTT session, broker restarted without persistence', broker: 'mqtt', sent: 200, deadLettered: 0, ...figures });
    assert.equal(figures.lost, 0, `lost ${figures.lost} of 200`);
    assert.equal(figures.answered, 200);
    assert.equal(figures.duplicated, 0);
    await tapped.waitFor(tappedBefore + 200, 10_000);
  });

  test('a URL list whose first node is a closed port: every connection lands on the working one', async (t) => {
    const defer = cleanups(t);
    const broker = await mosquitto(defer);
    const closed = `mqtt://127.0.0.1:${await freePort()}`;
    const list = `${closed},${broker.url}`;
    // Several transports: each connection starts from a random node, so most try the closed one first.
    for (let i = 0; i < 6; i += 1) {
      const transport = createTransport(list, { connectTimeoutMs: 10_000 });
      await transport.connect();
      assert.equal(transport.connectedTo, broker.url);
      assert.equal(transport.displayUrl, list);
      assert.equal(transport.nodeCount, 2);
      await transport.close();
    }
    const role = uniqueRole('list');
    const running = await participantOn(defer, list, { name: role, graph: 'core/Repeat', prefetch: 2 });
    assert.equal(running.transport.connectedTo, broker.url);
    const peer = await peerOn(defer, broker.url);
    const out = await peer.listen(`${role}.OUT`);
    const figures = await roundTrip(peer, `${role}.IN`, out, 20);
    assert.deepEqual(figures, { answered: 20, lost: 0, duplicated: 0 });
  });

  test('the node in use goes down: the connections move to the next of the list and messages flow within 10 s', async (t) => {
    const defer = cleanups(t);
    const [a, b] = await Promise.all([mosquitto(defer), mosquitto(defer)]);
    await b.kill(); // Everything starts on a, whichever node each connection tries first.
    const role = uniqueRole('failover');
    const running = await participantOn(defer, `${a.url},${b.url}`, { name: role, graph: 'core/Repeat', clientId: `${role}-id`, prefetch: 2 });
    const consumer = running.consumer(`${role}.IN`);
    assert.equal(running.transport.connectedTo, a.url);
    const onA = await peerOn(defer, a.url);
    const outA = await onA.listen(`${role}.OUT`);
    assert.deepEqual(await roundTrip(onA, `${role}.IN`, outA, 10), { answered: 10, lost: 0, duplicated: 0 });

    await b.start();
    const killed = Date.now();
    await a.kill();
    await eventually(() => consumer.state().active && running.transport.connectedTo === b.url, () => `consuming on ${b.url}: ${JSON.stringify(consumer.state())}, connected to ${running.transport.connectedTo}`, 10_000);
    const switched = Date.now() - killed;
    t.diagnostic(`consuming on the second node ${switched} ms after the first was killed`);
    assert.ok(switched < 10_000);
    assert.ok(running.transport.stats.reconnects >= 1);
    assert.ok(running.transport.stats.consumerRestarts >= 1, 'the other node had no session: subscribed again');

    const onB = await peerOn(defer, b.url);
    const outB = await onB.listen(`${role}.OUT`);
    const figures = await roundTrip(onB, `${role}.IN`, outB, 100);
    recordFigures({ scenario: 'MQTT failover to the next node of the list', broker: 'mqtt', sent: 100, deadLettered: 0, ...figures });
    assert.deepEqual(figures, { answered: 100, lost: 0, duplicated: 0 });
  });

  test('state() is inactive within 2 s of the broker being killed, and active again once it is back', async (t) => {
    const defer = cleanups(t);
    const broker = await mosquitto(defer);
    const role = uniqueRole('state');
    const running = await participantOn(defer, broker.url, { name: role, graph: 'core/Repeat', clientId: `${role}-id` });
    const consumer = running.consumer(`${role}.IN`);
    const tap = await running.transport.tap(`${role}.OUT`, () => undefined);
    defer(() => tap.cancel());
    const discovery = await running.transport.consumeDiscovery(() => undefined);
    defer(() => discovery.cancel());
    const all = [consumer, tap, discovery];
    assert.ok(all.every((s) => s.state().active));

    const killed = Date.now();
    await broker.kill();
    await eventually(() => all.every((s) => !s.state().active), () => `all inactive: ${JSON.stringify(all.map((s) => s.state()))}`, 2000);
    t.diagnostic(`inactive ${Date.now() - killed} ms after the kill: ${consumer.state().reason}`);
    assert.match(consumer.state().reason ?? '', new RegExp(`^not connected to ${broker.url.replace(/[.]/g, '\\.')}$`));
    assert.equal(running.transport.connectedTo, undefined);

    await broker.start();
    await eventually(() => all.every((s) => s.state().active), () => `all active: ${JSON.stringify(all.map((s) => s.state()))}`, 15_000);
    assert.equal(running.transport.connectedTo, broker.url);
    const peer = await peerOn(defer, broker.url);
    const out = await peer.listen(`${role}.OUT`);
    assert.deepEqual(await roundTrip(peer, `${role}.IN`, out, 10), { answered: 10, lost: 0, duplicated: 0 });
  });

  test('a job longer than the keepalive (?keepalive=1 on the URL) keeps its connection and is answered once', async (t) => {
    const defer = cleanups(t);
    const log: string[] = [];
    const broker = await mosquitto(defer, { log: (line) => log.push(line) });
    const role = uniqueRole('long');
    const running = await participantOn(defer, `${broker.url}?keepalive=1`, { name: role, graph: 'fixtures/Throw', clientId: `${role}-id` });
    assert.ok(
      log.some((line) => line.includes(`as ${role}-id-${role}.IN-0 (`) && line.includes(', k1)')),
      `the consumer connected with keepalive 1: ${log.filter((line) => line.includes(role)).join(' | ')}`,
    );
    const peer = await peerOn(defer, broker.url);
    const out = await peer.listen(`${role}.OUT`);
    await peer.send(`${role}.IN`, JSON.stringify({ seq: 1, delay: 4000 }));
    await out.waitFor(1, 10_000);
    assert.deepEqual(await out.settle(5000), [{ seq: 1, delay: 4000 }], 'answered once, not delivered again');
    assert.equal(running.transport.stats.reconnects, 0);
    assert.deepEqual(running.consumer(`${role}.IN`).state(), { active: true });
  });

  test('a URL list: passwords masked, settings from the first URL, a differing or invalid one refused', () => {
    const list = 'mqtt://user:s3cret@127.0.0.1:1,mqtt://127.0.0.1:2?keepalive=30';
    assert.throws(() => createTransport(list), (err: Error) => err instanceof BrokerUrlError && /URL 2 of 2 .*keepalive differs/.test(err.message) && !err.message.includes('s3cret'));
    const transport = createTransport('mqtt://user:s3cret@127.0.0.1:1?keepalive=30,mqtts://127.0.0.1:2');
    assert.equal(transport.displayUrl, 'mqtt://user:***@127.0.0.1:1?keepalive=30,mqtts://127.0.0.1:2');
    assert.equal(transport.nodeCount, 2);
    assert.equal(transport.connectedTo, undefined);
    assert.throws(() => createTransport('mqtt://a:one@127.0.0.1:1,mqtt://a:two@127.0.0.1:2'), (err: Error) => err instanceof BrokerUrlError && /user name or password differs/.test(err.message) && !/:one@|:two@/.test(err.message));
    for (const keepalive of ['x', '-1', '1.5', '65536', '']) {
      assert.throws(() => createTransport(`mqtt://127.0.0.1:1?keepalive=${keepalive}`), BrokerUrlError, `keepalive=${keepalive}`);
    }
  });
});
