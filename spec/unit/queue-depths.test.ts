/**
 * Broker queries through the transport seam, with no broker: `memory://`
 * answers from its own queues and exchanges, a pooled lease as its shared
 * transport does, and MQTT says they are not available; the ops helpers
 * and `QueueInspector` on top of them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { BrokerError } from '../../src/errors';
import { TransportPool } from '../../src/host/pool';
import { lookUpName, nearestName, QueueInspector, queueDepths } from '../../src/ops/queue-depths';
import { createTransport, isUnavailable, type Delivery, type Transport } from '../../src/transport';

/** A `memory://` transport of a broker of its own, with inqueue `r.IN` (2 messages waiting) and outqueue `r.OUT`. */
async function memoryWithQueues(): Promise<Transport> {
  const transport = createTransport(`memory://depths-${randomBytes(4).toString('hex')}`);
  await transport.connect();
  await transport.createQueue('inqueue', 'r.IN');
  await transport.createQueue('outqueue', 'r.OUT');
  await transport.send('inqueue', 'r.IN', 'one');
  await transport.send('inqueue', 'r.IN', 'two');
  return transport;
}

describe('queue depth and exchanges on memory://', () => {
  test('counts the messages waiting and the consumers of a queue; undefined for no queue', async () => {
    const transport = await memoryWithQueues();
    assert.deepEqual(await transport.queueDepth('r.IN'), { messages: 2, consumers: 0 });
    const held: Delivery[] = [];
    const subscription = await transport.subscribe('r.IN', (delivery) => held.push(delivery), { prefetch: 1 });
    assert.deepEqual(await transport.queueDepth('r.IN'), { messages: 1, consumers: 1 }, 'a delivered, unsettled message is not waiting');
    await held[0]?.ack();
    await subscription.close();
    assert.deepEqual(await transport.queueDepth('r.IN'), { messages: 1, consumers: 0 });
    assert.equal(await transport.queueDepth('r.OUT'), undefined, 'an outqueue is an exchange, no queue');
    assert.equal(await transport.queueDepth('nothing'), undefined);
  });

  test('knows its exchanges: an inqueue has its own, an outqueue is one', async () => {
    const transport = await memoryWithQueues();
    assert.equal(await transport.hasExchange('r.IN'), true);
    assert.equal(await transport.hasExchange('r.OUT'), true);
    assert.equal(await transport.hasExchange('nothing'), false);
  });

  test('a pooled lease answers as the transport it shares', async () => {
    const host = `depths-pool-${randomBytes(4).toString('hex')}`;
    const pool = new TransportPool();
    const lease = pool.lease(`memory://${host}`, {});
    await lease.connect();
    await lease.createQueue('inqueue', 'p.IN');
    await lease.send('inqueue', 'p.IN', 'waiting');
    assert.deepEqual(await lease.queueDepth('p.IN'), { messages: 1, consumers: 0 });
    assert.equal(await lease.queueDepth('p.OUT'), undefined);
    assert.equal(await lease.hasExchange('p.IN'), true);
    assert.equal(await lease.hasExchange('p.OUT'), false);
    await lease.close();
  });
});

describe('queue depth and exchanges on MQTT', () => {
  // Answered without a broker: no connection is made for them.
  const transport = createTransport('mqtt://127.0.0.1:1');

  test('are not available, saying why', async () => {
    const depth = await transport.queueDepth('r.IN');
    assert.ok(isUnavailable(depth));
    assert.equal(depth.reason, 'topics keep no queues to count');
    const exchange = await transport.hasExchange('r.IN');
    assert.ok(isUnavailable(exchange));
    assert.equal(exchange.reason, 'topics are not routed through exchanges');
  });

  test('through a pooled lease too', async () => {
    const lease = new TransportPool(() => transport).lease('mqtt://127.0.0.1:1', {});
    assert.ok(isUnavailable(await lease.queueDepth('r.IN')));
    assert.ok(isUnavailable(await lease.hasExchange('r.IN')));
  });

  test('the ops helpers pass it on, and guess no name', async () => {
    const depths = await queueDepths(transport, ['a.IN', 'dead-a.IN']);
    assert.ok(isUnavailable(depths));
    assert.equal(depths.reason, 'topics keep no queues to count');
    assert.ok(isUnavailable(await lookUpName(transport, 'a.IN')));
    assert.equal(await nearestName(transport, 'a.in', { exchanges: true }), undefined);
  });

  test('QueueInspector rejects each question with a BrokerError saying why', async () => {
    const inspector = new QueueInspector(transport);
    await assert.rejects(inspector.depth('a.IN'), (err: unknown) => err instanceof BrokerError && err.code === 'EBROKEROP' && err.message === 'not available: topics keep no queues to count');
    await assert.rejects(inspector.depths(['a.IN']), /not available: topics keep no queues to count/);
    await assert.rejects(inspector.hasExchange('a.IN'), /not available: topics are not routed through exchanges/);
    await assert.rejects(inspector.lookUp('a.IN'), /not available: topics keep no queues to count/);
    assert.equal(await inspector.nearest('a.in'), undefined);
  });
});

describe('ops helpers and QueueInspector over memory://', () => {
  test('depths of many queues, missing ones undefined', async () => {
    const transport = await memoryWithQueues();
    const depths = await queueDepths(transport, ['r.IN', 'dead-r.IN']);
    assert.ok(!isUnavailable(depths));
    assert.deepEqual([...depths], [['r.IN', { messages: 2, consumers: 0 }], ['dead-r.IN', undefined]]);
  });

  test('look names up: a queue with its exchange, an exchange alone, nothing', async () => {
    const transport = await memoryWithQueues();
    assert.deepEqual(await lookUpName(transport, 'r.IN'), { queue: { messages: 2, consumers: 0 }, exchange: true });
    assert.deepEqual(await lookUpName(transport, 'r.OUT'), { queue: undefined, exchange: true });
    assert.deepEqual(await lookUpName(transport, 'r.in'), { queue: undefined, exchange: false });
  });

  test('the name likely meant: a queue, or with exchanges an exchange too', async () => {
    const transport = await memoryWithQueues();
    assert.equal(await nearestName(transport, 'r.in'), 'r.IN');
    assert.equal(await nearestName(transport, 'r'), 'r.IN');
    assert.equal(await nearestName(transport, 'R.OUT'), 'r.IN', 'the role\'s IN port, as no queue r.OUT exists');
    assert.equal(await nearestName(transport, 'r.out'), 'r.IN');
    assert.equal(await nearestName(transport, 'x.in'), undefined);
  });

  test('QueueInspector asks the transport it is given, and leaves it open', async () => {
    const transport = await memoryWithQueues();
    const inspector = new QueueInspector(transport);
    assert.equal(inspector.transport, transport);
    assert.deepEqual(await inspector.depth('r.IN'), { messages: 2, consumers: 0 });
    assert.deepEqual([...(await inspector.depths(['r.IN', 'x']))], [['r.IN', { messages: 2, consumers: 0 }], ['x', undefined]]);
    assert.equal(await inspector.hasExchange('r.OUT'), true);
    assert.deepEqual(await inspector.lookUp('r.OUT'), { queue: undefined, exchange: true });
    assert.equal(await inspector.nearest('r.in'), 'r.IN');
    let closed = false;
    transport.close = async () => {
      closed = true;
    };
    await inspector.close();
    assert.equal(closed, false);
  });

  test('QueueInspector.connect opens a transport of its own, which close() closes', async () => {
    const inspector = await QueueInspector.connect(`memory://depths-own-${randomBytes(4).toString('hex')}`);
    assert.equal(inspector.transport.protocol, 'memory');
    assert.equal(await inspector.depth('r.IN'), undefined);
    let closed = false;
    inspector.transport.close = async () => {
      closed = true;
    };
    await inspector.close();
    assert.equal(closed, true);
  });
});
