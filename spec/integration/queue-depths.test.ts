/**
 * Broker queries through the transport seam on the real brokers: RabbitMQ
 * answers passively (nothing declared), a missing queue or exchange taking
 * down only the channel that asked; Mosquitto's transport says they are not
 * available.
 */
import * as amqp from 'amqplib';
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { BrokerError } from '../../src/errors';
import { QueueInspector } from '../../src/ops/queue-depths';
import { createTransport, isUnavailable, type Transport } from '../../src/transport';
import { uniqueRole } from '../harness/client';
import { amqpUrl, mqttUrl } from '../harness/env';

async function connected(t: TestContext, url: string): Promise<Transport> {
  const transport = createTransport(url, { connectTimeoutMs: 10_000 });
  await transport.connect();
  t.after(() => transport.close());
  return transport;
}

/** Delete what an inqueue `queue` leaves on RabbitMQ, after the test. */
function removeAfter(t: TestContext, queue: string): void {
  t.after(async () => {
    const model = await amqp.connect(amqpUrl());
    try {
      const channel = await model.createChannel();
      await channel.deleteQueue(queue);
      await channel.deleteExchange(queue);
      await channel.deleteExchange(`dead-${queue}`);
    } finally {
      await model.close();
    }
  });
}

/** The depth of `queue` once it is `expected` (RabbitMQ counts deliveries a moment after they go), or the last one read after 10 s. */
async function depthBecomes(transport: Transport, queue: string, expected: unknown): Promise<unknown> {
  let depth: unknown;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
    depth = await transport.queueDepth(queue);
    if (JSON.stringify(depth) === JSON.stringify(expected)) {
      break;
    }
  }
  return depth;
}

/** Whether RabbitMQ has queue `name`, asked on a connection of the test's own. */
async function queueExists(name: string): Promise<boolean> {
  const model = await amqp.connect(amqpUrl());
  try {
    const channel = await model.createChannel();
    channel.on('error', () => undefined); // A missing queue closes the channel: the answer.
    return await channel.checkQueue(name).then(
      () => true,
      () => false,
    );
  } finally {
    await model.close().catch(() => undefined);
  }
}

describe('queue depth and exchanges on AMQP', () => {
  test('counts the messages waiting and the consumers of a queue; undefined for no queue, which it does not declare', async (t) => {
    const transport = await connected(t, amqpUrl());
    const queue = `${uniqueRole('depth')}.IN`;
    removeAfter(t, queue);
    await transport.createQueue('inqueue', queue);
    await transport.send('inqueue', queue, 'one');
    await transport.send('inqueue', queue, 'two');
    assert.deepEqual(await depthBecomes(transport, queue, { messages: 2, consumers: 0 }), { messages: 2, consumers: 0 });
    const subscription = await transport.subscribe(queue, () => undefined, { prefetch: 1 });
    assert.deepEqual(await depthBecomes(transport, queue, { messages: 1, consumers: 1 }), { messages: 1, consumers: 1 }, 'one delivered and unsettled, one waiting, one consumer');
    await subscription.cancel();
    await subscription.close();

    const missing = `${uniqueRole('missing')}.IN`;
    assert.equal(await transport.queueDepth(missing), undefined);
    assert.equal(await queueExists(missing), false, 'asking declared nothing');
  });

  test('tells whether an exchange exists, declaring none', async (t) => {
    const transport = await connected(t, amqpUrl());
    const queue = `${uniqueRole('exchange')}.IN`;
    removeAfter(t, queue);
    await transport.createQueue('inqueue', queue);
    assert.equal(await transport.hasExchange(queue), true, "an inqueue's own fanout exchange");
    assert.equal(await transport.hasExchange(`dead-${queue}`), true, 'its dead-letter exchange');
    assert.equal(await transport.hasExchange(`${queue}-nothing`), false);
    assert.equal(await transport.hasExchange(`${queue}-nothing`), false, 'asked twice: not declared by the first');
  });

  test('a missing queue or exchange closes only the channel that asked: the next question, and the transport, go on', async (t) => {
    const transport = await connected(t, amqpUrl());
    const queue = `${uniqueRole('after404')}.IN`;
    const other = `${uniqueRole('nothing')}.IN`;
    removeAfter(t, queue);
    await transport.createQueue('inqueue', queue);
    // Asked together: each answered on its own, though a 404 closes the channel under any question queued behind it.
    const answers = await Promise.all([
      transport.queueDepth(other),
      transport.queueDepth(queue),
      transport.hasExchange(other),
      transport.hasExchange(queue),
      transport.queueDepth(other),
      transport.queueDepth(queue),
    ]);
    assert.deepEqual(answers, [undefined, { messages: 0, consumers: 0 }, false, true, undefined, { messages: 0, consumers: 0 }]);
    await transport.send('inqueue', queue, 'after the 404s', { unroutable: 'fail' });
    assert.deepEqual(await depthBecomes(transport, queue, { messages: 1, consumers: 0 }), { messages: 1, consumers: 0 }, 'the send went through');
    assert.equal(transport.stats.reconnects, 0, 'the connection stayed');
  });

  test('rejects with a BrokerError while not connected', async () => {
    const transport = createTransport(amqpUrl());
    await assert.rejects(transport.queueDepth('any.IN'), (err: unknown) => err instanceof BrokerError && err.code === 'EBROKEROP' && /^cannot ask about queue "any\.IN": not connected to amqp:\/\//.test(err.message));
    await transport.connect();
    await transport.close();
    await assert.rejects(transport.hasExchange('any.IN'), /^BrokerError: cannot ask about exchange "any\.IN": not connected to /);
  });

  test('QueueInspector.connect asks on a connection of its own', async (t) => {
    const transport = await connected(t, amqpUrl());
    const queue = `${uniqueRole('inspector')}.IN`;
    removeAfter(t, queue);
    await transport.createQueue('inqueue', queue);
    const inspector = await QueueInspector.connect(amqpUrl());
    t.after(() => inspector.close());
    assert.notEqual(inspector.transport, transport);
    assert.deepEqual(await inspector.lookUp(queue), { queue: { messages: 0, consumers: 0 }, exchange: true });
    assert.equal(await inspector.nearest(queue.toLowerCase()), queue);
    assert.deepEqual([...(await inspector.depths([queue, `dead-${queue}`]))], [[queue, { messages: 0, consumers: 0 }], [`dead-${queue}`, undefined]]);
  });
});

describe('queue depth and exchanges on MQTT', () => {
  test('are not available on a connected transport either', async (t) => {
    const transport = await connected(t, mqttUrl());
    const depth = await transport.queueDepth('any.IN');
    assert.ok(isUnavailable(depth));
    assert.equal(depth.reason, 'topics keep no queues to count');
    assert.ok(isUnavailable(await transport.hasExchange('any.IN')));
  });
});
