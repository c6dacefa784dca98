/**
 * Waits until every role of a set answers one message on the broker: its
 * inqueue has a consumer, and a message sent there comes back on its outqueue.
 */
import * as amqp from 'amqplib';

/** Resolve when every role answered; reject with the roles still silent after `timeoutMs`. */
export async function waitForAnswers(url: string, roles: readonly string[], timeoutMs: number): Promise<void> {
  const model = await amqp.connect(url);
  try {
    const pending = new Set(roles);
    const deadline = Date.now() + timeoutMs;
    const listener = await model.createChannel();
    const { queue } = await listener.assertQueue('', { exclusive: true });
    await listener.consume(queue, (message) => {
      if (message) {
        pending.delete(message.content.toString().replace(/^"|"$/g, ''));
      }
    }, { noAck: true });
    const probed = new Set<string>();
    while (pending.size > 0) {
      if (Date.now() > deadline) {
        throw new Error(`${pending.size} of ${roles.length} participants did not answer within ${timeoutMs} ms (e.g. ${[...pending].slice(0, 3).join(', ')})`);
      }
      for (const role of roles) {
        if (probed.has(role) || !(await consuming(model, `${role}.IN`))) {
          continue;
        }
        probed.add(role);
        await listener.bindQueue(queue, `${role}.OUT`, '');
        listener.sendToQueue(`${role}.IN`, Buffer.from(JSON.stringify(role)));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await model.close();
  }
}

/** Whether a queue exists and has a consumer; a missing queue closes the channel it was asked on. */
async function consuming(model: amqp.ChannelModel, queue: string): Promise<boolean> {
  const channel = await model.createChannel();
  channel.on('error', () => undefined);
  try {
    const { consumerCount } = await channel.checkQueue(queue);
    await channel.close();
    return consumerCount > 0;
  } catch {
    return false;
  }
}
