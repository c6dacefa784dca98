/**
 * Smoke test of the harness: the brokers the runner started accept real
 * traffic. If this fails, every other broker test will too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import * as amqp from 'amqplib';
import * as mqtt from 'mqtt';
import { amqpUrl, mqttUrl } from './env';

const unique = (prefix: string): string => `${prefix}-${randomBytes(6).toString('hex')}`;

test('AMQP broker round-trips a message through a queue', { timeout: 15_000 }, async () => {
  const connection = await amqp.connect(amqpUrl());
  try {
    const channel = await connection.createChannel();
    const queue = unique('harness-smoke');
    await channel.assertQueue(queue, { durable: false, autoDelete: false });
    try {
      const body = unique('body');
      assert.ok(channel.sendToQueue(queue, Buffer.from(body)));
      // sendToQueue is fire-and-forget; poll briefly until the broker has routed it.
      let message: amqp.GetMessage | false = false;
      for (let attempt = 0; attempt < 50 && message === false; attempt += 1) {
        message = await channel.get(queue, { noAck: true });
        if (message === false) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(message, `no message arrived on queue ${queue}`);
      assert.equal(message.content.toString(), body);
    } finally {
      await channel.deleteQueue(queue);
    }
  } finally {
    await connection.close();
  }
});

test('MQTT broker delivers a QoS 1 message to a subscriber', { timeout: 15_000 }, async () => {
  const client = await mqtt.connectAsync(mqttUrl(), { reconnectPeriod: 0, clientId: unique('harness-smoke') }, false);
  try {
    const topic = unique('harness/smoke');
    const body = unique('body');
    const received = new Promise<{ topic: string; payload: string }>((resolve) => {
      client.on('message', (t, payload) => resolve({ topic: t, payload: payload.toString() }));
    });
    const [grant] = await client.subscribeAsync(topic, { qos: 1 });
    assert.equal(grant?.qos, 1, `subscription to ${topic} not granted at QoS 1`);
    await client.publishAsync(topic, body, { qos: 1 });
    assert.deepEqual(await received, { topic, payload: body });
  } finally {
    await client.endAsync();
  }
});
