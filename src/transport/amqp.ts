/**
 * AMQP 0-9-1 transport (RabbitMQ) on amqplib, with the queue layout of WIRE:
 * an inqueue is a queue with dead-letter exchange `dead-Q` plus a fanout
 * exchange `Q` bound to it; an outqueue is a fanout exchange.
 */
import * as amqp from 'amqplib';
import createDebug from 'debug';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { decode, encode } from '../protocol/codec';
import { DISCOVERY_QUEUE, deadLetterQueueName, type DiscoveryMessage } from '../protocol/definition';
import type { Delivery, QueueKind, QueueOptions, SubscribeOptions, Subscription, Transport } from './transport';
import { redactUrl } from './url';

const debug = createDebug('noflo-runtime-msgflo:amqp');

/** Transport over one AMQP connection with one confirm channel for publishing. */
export class AmqpTransport implements Transport {
  readonly protocol = 'amqp' as const;
  readonly displayUrl: string;
  private readonly url: string;
  private model: amqp.ChannelModel | null = null;
  private discoveryDeclared = false;
  private publisher: amqp.ConfirmChannel | null = null;

  constructor(url: string) {
    this.url = url;
    this.displayUrl = redactUrl(url);
  }

  async connect(): Promise<void> {
    try {
      // Nagle's algorithm delays small frames by tens of milliseconds; jobs are small.
      this.model = await amqp.connect(this.url, { noDelay: true });
    } catch (cause) {
      throw new BrokerError(ErrorCode.BrokerConnection, `cannot connect to AMQP broker ${this.displayUrl}: ${errorMessage(cause)}`, { cause });
    }
    this.model.on('error', (err: Error) => debug('connection error %s', err.message));
    this.publisher = await this.model.createConfirmChannel();
    this.publisher.on('error', (err: Error) => debug('publish channel error %s', err.message));
  }

  async close(): Promise<void> {
    const model = this.model;
    this.model = null;
    this.publisher = null;
    if (model) {
      await model.close();
    }
  }

  async createQueue(kind: QueueKind, queue: string, options: QueueOptions = {}): Promise<void> {
    const persistent = options.persistent ?? true;
    // Arguments must equal those of msgflo-nodejs, or RabbitMQ refuses the redeclaration.
    const durability = persistent ? {} : { durable: false, autoDelete: true };
    await this.withChannel(`declare ${kind} "${queue}"`, async (channel) => {
      await channel.assertExchange(queue, 'fanout', durability);
      if (kind === 'inqueue') {
        await channel.assertQueue(queue, { ...durability, deadLetterExchange: deadLetterQueueName(queue) });
        await channel.bindQueue(queue, queue, '');
      }
    });
  }

  async send(kind: QueueKind, queue: string, data: unknown): Promise<void> {
    const channel = this.requirePublisher();
    const [exchange, routingKey] = kind === 'inqueue' ? ['', queue] : [queue, ''];
    await new Promise<void>((resolve, reject) => {
      channel.publish(exchange, routingKey, encode(data), { persistent: true }, (err: unknown) => {
        if (err) {
          reject(new BrokerError(ErrorCode.BrokerOperation, `publish to ${kind} "${queue}" was not confirmed: ${errorMessage(err)}`, { cause: err }));
          return;
        }
        resolve();
      });
    });
  }

  async announce(message: DiscoveryMessage): Promise<void> {
    if (!this.discoveryDeclared) {
      await this.withChannel(`declare queue "${DISCOVERY_QUEUE}"`, async (channel) => {
        await channel.assertQueue(DISCOVERY_QUEUE);
      });
      this.discoveryDeclared = true;
    }
    await this.send('inqueue', DISCOVERY_QUEUE, message);
  }

  async subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription> {
    const channel = await this.openChannel();
    await channel.prefetch(options.prefetch);
    const { consumerTag } = await channel.consume(queue, (message) => {
      if (message === null) {
        debug('consumer of "%s" cancelled by the broker', queue);
        return;
      }
      handler(toDelivery(channel, message));
    });
    debug('consuming "%s" with prefetch %d', queue, options.prefetch);
    return {
      cancel: async () => {
        await channel.cancel(consumerTag);
      },
    };
  }

  async tap(queue: string, handler: (data: unknown) => void): Promise<Subscription> {
    const channel = await this.openChannel();
    await channel.assertExchange(queue, 'fanout', {});
    const { queue: own } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await channel.bindQueue(own, queue, '');
    const { consumerTag } = await channel.consume(own, (message) => {
      if (message) {
        handler(decode(message.content));
      }
    }, { noAck: true });
    return {
      cancel: async () => {
        await channel.cancel(consumerTag);
        await channel.close();
      },
    };
  }

  private requirePublisher(): amqp.ConfirmChannel {
    if (!this.publisher) {
      throw new BrokerError(ErrorCode.BrokerOperation, `not connected to AMQP broker ${this.displayUrl}`);
    }
    return this.publisher;
  }

  private async openChannel(): Promise<amqp.Channel> {
    if (!this.model) {
      throw new BrokerError(ErrorCode.BrokerOperation, `not connected to AMQP broker ${this.displayUrl}`);
    }
    const channel = await this.model.createChannel();
    channel.on('error', (err: Error) => debug('channel error %s', err.message));
    return channel;
  }

  /**
   * Run declarations on a short-lived channel: a refused declaration closes
   * the channel it was made on, and must not take the publisher with it.
   */
  private async withChannel(what: string, work: (channel: amqp.Channel) => Promise<void>): Promise<void> {
    const channel = await this.openChannel();
    try {
      await work(channel);
    } catch (cause) {
      throw new BrokerError(ErrorCode.BrokerOperation, `cannot ${what} on ${this.displayUrl}: ${errorMessage(cause)}`, { cause });
    }
    await channel.close();
  }
}

function toDelivery(channel: amqp.Channel, message: amqp.ConsumeMessage): Delivery {
  let settled = false;
  const settle = (how: 'ack' | 'nack'): void => {
    // A second settlement of one delivery tag closes the channel with
    // PRECONDITION_FAILED and loses every other in-flight job: never send it.
    if (settled) {
      return;
    }
    settled = true;
    if (how === 'ack') {
      channel.ack(message);
    } else {
      channel.nack(message, false, false);
    }
  };
  return {
    data: decode(message.content),
    size: message.content.length,
    ack: () => settle('ack'),
    nack: () => settle('nack'),
  };
}
