/**
 * The MQTT floor: a repeater written directly on mqtt.js, with the delivery
 * guarantees of a participant of ours: QoS 1 both ways, and an input's
 * PUBACK sent only once its output's PUBACK came back. mqtt.js reads a
 * connection's next message only after the previous one's PUBACK, so a
 * prefetch of N is N connections sharing one subscription, as ours does.
 *
 *   node repeater-mqtt.js URL ROLE PREFETCH
 */
import * as mqtt from 'mqtt';
import { noDelay, runRepeater } from './load';

runRepeater('repeater-mqtt', async ({ url, inqueue, outqueue, prefetch }) => {
  const publisher = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  noDelay(publisher);
  const consumers: mqtt.MqttClient[] = [];
  for (let i = 0; i < prefetch; i += 1) {
    const consumer = mqtt.connect(url, { clean: true, reconnectPeriod: 0 });
    noDelay(consumer);
    consumer.handleMessage = (packet, done) => {
      publisher.publish(outqueue, packet.payload as Buffer, { qos: 1 }, (err) => {
        if (!err) {
          done();
        }
      });
    };
    await new Promise<void>((resolve, reject) => {
      consumer.once('connect', () => resolve());
      consumer.once('error', reject);
    });
    await consumer.subscribeAsync(`$share/${inqueue}/${inqueue}`, { qos: 1 });
    consumers.push(consumer);
  }
  process.once('SIGTERM', () => {
    void Promise.all([publisher, ...consumers].map((c) => c.endAsync())).finally(() => process.exit(0));
  });
});
