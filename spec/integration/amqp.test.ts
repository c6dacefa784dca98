/**
 * What only AMQP has: message TTLs on discovery, unroutable counts, quorum
 * queues with a delivery limit.
 */
import * as amqp from 'amqplib';
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { amqpUrl } from '../harness/env';
import { connectClient, uniqueRole } from '../harness/client';
import { startParticipant } from '../harness/participants';
import { eventually } from '../harness/wait';

async function channel(t: TestContext): Promise<amqp.Channel> {
  const model = await amqp.connect(amqpUrl());
  t.after(() => model.close());
  return model.createChannel();
}

describe('participant on amqp, broker specifics', () => {
  test('discovery messages expire after one period, so fbp stays short without a coordinator', async (t) => {
    const ch = await channel(t);
    const role = uniqueRole();
    await ch.assertQueue('fbp');
    await startParticipant(t, amqpUrl(), { name: role, graph: 'core/Repeat', discoveryPeriod: 2 });
    let found: amqp.GetMessage | undefined;
    for (let i = 0; i < 50 && !found; i += 1) {
      const message = await ch.get('fbp', { noAck: true });
      if (message && (JSON.parse(message.content.toString()) as { payload: { role: string } }).payload.role === role) {
        found = message;
      } else if (!message) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    assert.ok(found, 'a discovery message in fbp');
    assert.equal(found.properties.expiration, '2000');
  });

  test('the fbp queue stays declarable by the msgflo coordinator (no queue arguments)', async (t) => {
    const ch = await channel(t);
    await startParticipant(t, amqpUrl(), { name: uniqueRole(), graph: 'core/Repeat' });
    // What msgflo-nodejs does; a queue argument of ours would make this fail with PRECONDITION_FAILED.
    await ch.assertQueue('fbp');
  });

  test('counts outputs that nothing is bound to receive, and still acks their jobs', async (t) => {
    const peer = await connectClient('amqp', amqpUrl());
    t.after(() => peer.close());
    const role = uniqueRole();
    const participant = await startParticipant(t, amqpUrl(), { name: role, graph: 'core/Repeat' });
    const outcomes: string[] = [];
    participant.on('job', (job) => outcomes.push(job.outcome));
    for (let i = 0; i < 3; i += 1) {
      await peer.send(`${role}.IN`, String(i));
    }
    await eventually(() => outcomes.length === 3, 'three jobs settled');
    assert.deepEqual(outcomes, ['ack', 'ack', 'ack']);
    assert.equal(participant.stats.unroutable, 3);
  });

  test('--queue-type quorum: a message redelivered past the delivery limit is dead-lettered by RabbitMQ', async (t) => {
    const ch = await channel(t);
    const role = uniqueRole();
    const participant = await startParticipant(t, amqpUrl(), { name: role, graph: 'core/Repeat', queueType: 'quorum', deliveryLimit: 2, deadletter: '*' });
    const out = await connectClient('amqp', amqpUrl());
    t.after(() => out.close());
    const repeated = await out.listen(`${role}.OUT`);
    await out.send(`${role}.IN`, '"through a quorum queue"');
    assert.deepEqual(await repeated.waitFor(1), ['through a quorum queue']);

    // A worker that keeps dying mid-job looks, to the queue, like requeues: make them by hand.
    await participant.stop(1000);
    await ch.sendToQueue(`${role}.IN`, Buffer.from('"poison"'));
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const message = await ch.get(`${role}.IN`);
      if (!message) {
        break;
      }
      ch.nack(message, false, true);
    }
    let dead: amqp.GetMessage | false = false;
    for (let i = 0; i < 50 && !dead; i += 1) {
      dead = await ch.get(`dead-${role}.IN`, { noAck: true });
      if (!dead) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    assert.ok(dead, 'the poison message reached the dead-letter queue');
    assert.equal(dead.content.toString(), '"poison"');
    const deaths = dead.properties.headers?.['x-death'] as Array<{ reason: string; queue: string }> | undefined;
    assert.equal(deaths?.[0]?.queue, `${role}.IN`);
    assert.equal(deaths?.[0]?.reason, 'delivery_limit');
  });
});
