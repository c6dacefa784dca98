import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import * as mqtt from 'mqtt';
import { startCli } from '../harness/cli';
import { uniqueRole } from '../harness/client';
import { mqttUrl } from '../harness/env';
import { startParticipant } from '../harness/participants';

/** A bare client that reads `topic` at QoS 1: what it gets says the QoS the publisher used (the lower of the two). */
async function listen(t: TestContext, topic: string): Promise<{ client: mqtt.MqttClient; next: () => Promise<mqtt.IPublishPacket> }> {
  const client = await mqtt.connectAsync(mqttUrl(), { clean: true, reconnectPeriod: 0 });
  t.after(() => client.endAsync());
  const packets: mqtt.IPublishPacket[] = [];
  const waiters: Array<(packet: mqtt.IPublishPacket) => void> = [];
  client.on('message', (_topic, _payload, packet) => {
    const waiter = waiters.shift();
    if (waiter) waiter(packet);
    else packets.push(packet);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  const next = (): Promise<mqtt.IPublishPacket> =>
    new Promise((resolve, reject) => {
      const packet = packets.shift();
      if (packet) return resolve(packet);
      const timer = setTimeout(() => reject(new Error(`nothing on ${topic} within 10 s`)), 10_000);
      waiters.push((p) => {
        clearTimeout(timer);
        resolve(p);
      });
    });
  return { client, next };
}

for (const qos of [1, 0] as const) {
  test(`mqttQos ${qos}: outputs are published at QoS ${qos}, and the job is answered`, async (t) => {
    const role = uniqueRole('qos');
    await startParticipant(t, mqttUrl(), { name: role, graph: 'core/Repeat', ...(qos === 0 ? { mqttQos: 0 } : {}) });
    const { client, next } = await listen(t, `${role}.OUT`);
    await client.publishAsync(`${role}.IN`, JSON.stringify({ n: 1 }), { qos: 1 });
    const packet = await next();
    assert.deepEqual(JSON.parse(packet.payload.toString()), { n: 1 });
    assert.equal(packet.qos, qos);
  });
}

test('--mqtt-qos 0 on the command line reaches the transport', async (t) => {
  const role = uniqueRole('qos-cli');
  const { client, next } = await listen(t, `${role}.OUT`);
  const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--broker', mqttUrl(), '--mqtt-qos', '0']);
  await runtime.waitForStderr(/is running/);
  await client.publishAsync(`${role}.IN`, '"hello"', { qos: 1 });
  const packet = await next();
  assert.equal(packet.payload.toString(), '"hello"');
  assert.equal(packet.qos, 0);
});

test('--mqtt-qos 2 is refused in one line naming the value', async (t) => {
  const runtime = startCli(t, ['--name', uniqueRole('qos-bad'), '--graph', 'core/Repeat', '--broker', mqttUrl(), '--mqtt-qos', '2']);
  const result = await runtime.exited;
  assert.equal(result.code, 1);
  assert.match(result.stderr.trim().split('\n')[0] ?? '', /^noflo-runtime-msgflo: .*'--mqtt-qos <qos>'.*'2'.*0, 1/);
});
