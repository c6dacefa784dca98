/**
 * The AMQP floor: a repeater written directly on amqplib, with the delivery
 * guarantees of a participant of ours: the same queue layout, a prefetch,
 * persistent publishes on a confirm channel, and the input acknowledged only
 * once its output is confirmed. Run as a child process:
 *
 *   node repeater-amqp.js URL ROLE PREFETCH
 */
import * as amqp from 'amqplib';
import { runRepeater } from './load';

runRepeater('repeater-amqp', async ({ url, inqueue, outqueue, prefetch }) => {
  const deadLetters = `dead-${inqueue}`;
  const model = await amqp.connect(url, { noDelay: true });
  const setup = await model.createChannel();
  await setup.assertExchange(outqueue, 'fanout', {});
  await setup.assertExchange(inqueue, 'fanout', {});
  await setup.assertExchange(deadLetters, 'fanout', {});
  await setup.assertQueue(inqueue, { deadLetterExchange: deadLetters });
  await setup.bindQueue(inqueue, inqueue, '');
  await setup.close();
  const publisher = await model.createConfirmChannel();
  const consumer = await model.createChannel();
  await consumer.prefetch(prefetch);
  await consumer.consume(inqueue, (message) => {
    if (!message) {
      return;
    }
    publisher.publish(outqueue, '', message.content, { persistent: true, mandatory: true }, (err: unknown) => {
      if (err) {
        consumer.nack(message, false, false);
      } else {
        consumer.ack(message);
      }
    });
  });
  process.once('SIGTERM', () => {
    void model.close().finally(() => process.exit(0));
  });
});
