/**
 * AMQP 0-9-1 transport (RabbitMQ) on amqplib, with the queue layout of WIRE:
 * an inqueue is a queue with dead-letter exchange `dead-Q` plus a fanout
 * exchange `Q` bound to it; an outqueue is a fanout exchange.
 *
 * Delivery guarantees: publishes are persistent and confirmed; a lost
 * connection is re-established by amqplib's recovery, after which the
 * declarations and consumers are made again and unconfirmed publishes are
 * repeated. Deliveries that came on a connection since lost are never
 * settled (the broker redelivers them), so no delivery tag is acked twice or
 * on the wrong channel.
 */
import * as amqp from 'amqplib';
import createDebug from 'debug';
import { EventEmitter } from 'node:events';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { decode, encode } from '../protocol/codec';
import { bindingKey, type Binding } from '../protocol/bindings';
import { DISCOVERY_QUEUE, deadLetterQueueName, type DiscoveryMessage } from '../protocol/definition';
import { backoffDelay, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_DELIVERY_LIMIT, type TransportOptions } from './options';
import type { Delivery, QueueKind, QueueOptions, SubscribeOptions, Subscription, Transport, TransportEvents, TransportStats } from './transport';
import { redactUrl } from './url';

const debug = createDebug('noflo-runtime-msgflo:amqp');

/** Headers a dead letter carries besides RabbitMQ's own. */
export const DEAD_LETTER_HEADERS = {
  /** Why the job failed. */
  reason: 'x-msgflo-error',
  /** The inqueue it failed on. */
  queue: 'x-msgflo-queue',
  /** When, as an ISO 8601 timestamp. */
  time: 'x-msgflo-failed-at',
} as const;

/** How outputs are published: kept by the broker, and returned when nothing is bound. */
const PERSISTENT: amqp.Options.Publish = Object.freeze({ persistent: true, mandatory: true });

/** A consumer, started again on every new connection. */
interface Consumer {
  readonly start: (model: amqp.ChannelModel) => Promise<amqp.Channel>;
  /** The connection it currently consumes on. */
  model: amqp.ChannelModel | undefined;
  channel: amqp.Channel | undefined;
  consumerTag: string | undefined;
  cancelled: boolean;
}

/** Transport over one recovering AMQP connection. */
export class AmqpTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly protocol = 'amqp' as const;
  readonly displayUrl: string;
  readonly stats: TransportStats = { unroutable: 0, reconnects: 0, consumerRestarts: 0, deadLettersDropped: 0 };
  private readonly url: string;
  private readonly options: TransportOptions;
  private connection: amqp.RecoveringChannelModel | undefined;
  /** The connection of the moment; undefined while disconnected. */
  private model: amqp.ChannelModel | undefined;
  private publisher: amqp.ConfirmChannel | undefined;
  private publisherWaiters: Array<{ resolve: (channel: amqp.ConfirmChannel) => void; reject: (err: Error) => void }> = [];
  private readonly declarations = new Map<string, (channel: amqp.Channel) => Promise<unknown>>();
  private readonly consumers = new Set<Consumer>();
  private readonly closedChannels = new WeakSet<amqp.Channel>();
  private connectedOnce = false;
  private closing = false;

  constructor(urls: readonly string[], options: TransportOptions = {}) {
    super();
    this.url = urls[0] as string;
    this.options = options;
    this.displayUrl = redactUrl(this.url);
  }

  async connect(): Promise<void> {
    const started = Date.now();
    const timeout = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let lastError: Error | undefined;
    const connection = await amqp.connect(this.url, {
      // Nagle's algorithm delays small frames by tens of milliseconds; jobs are small.
      noDelay: true,
      ...this.options.tls,
      recovery: {
        waitForConnect: false,
        maxRetries: Infinity,
        calculateDelay: (attempt: number) => {
          if (!this.connectedOnce) {
            if (lastError && isAccessRefused(lastError)) {
              throw lastError; // Retrying will not make wrong credentials right.
            }
            if (Date.now() - started >= timeout) {
              throw lastError ?? new Error(`no connection within ${timeout} ms`);
            }
          }
          return backoffDelay(attempt);
        },
        setup: (model: amqp.ChannelModel) => this.setup(model),
      },
    });
    this.connection = connection;
    connection.on('connect-failed', (err: Error) => {
      lastError = err;
      debug('connecting to %s failed: %s', this.displayUrl, err.message);
    });
    connection.on('disconnect', (err: Error) => this.lost(err));
    connection.on('connect', () => {
      if (this.connectedOnce) {
        this.stats.reconnects += 1;
        debug('reconnected to %s', this.displayUrl);
        this.emit('reconnected');
      }
      this.connectedOnce = true;
    });
    connection.on('error', (err: Error) => debug('connection error: %s', err.message));
    try {
      await connection.waitForConnect();
    } catch (cause) {
      throw new BrokerError(ErrorCode.BrokerConnection, `cannot connect to AMQP broker ${this.displayUrl}: ${describeConnectError(cause)}`, { cause });
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const waiter of this.publisherWaiters.splice(0)) {
      waiter.reject(new BrokerError(ErrorCode.BrokerOperation, `connection to ${this.displayUrl} closed`));
    }
    // Channels first: amqplib interleaves the frames of different channels,
    // so a connection close can overtake an ack still queued on a consumer
    // channel, and the broker would deliver that message again. A channel's
    // close is ordered after its own acks.
    const channels = [...[...this.consumers].map((c) => c.channel), this.publisher];
    this.consumers.clear();
    await Promise.all(channels.map((channel) => this.closeChannel(channel)));
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close().catch((err: unknown) => debug('close: %s', errorMessage(err)));
  }

  async createQueue(kind: QueueKind, queue: string, options: QueueOptions = {}): Promise<void> {
    const persistent = options.persistent ?? true;
    // Arguments must equal those of msgflo-nodejs, or RabbitMQ refuses the redeclaration.
    const durability = persistent ? {} : { durable: false, autoDelete: true };
    const declare = async (channel: amqp.Channel): Promise<void> => {
      // Declared again on every reconnection, with the options of the first declaration.
      await channel.assertExchange(queue, 'fanout', durability);
      if (kind === 'inqueue') {
        const deadLetters = deadLetterQueueName(queue);
        if (persistent) {
          // Failed messages are published to it by us, so it must exist even
          // with no queue behind it. (Short-lived queues, such as those of the
          // FBP protocol, are never failed, and leave no exchange behind.)
          await channel.assertExchange(deadLetters, 'fanout', {});
        }
        await channel.assertQueue(queue, { ...durability, deadLetterExchange: deadLetters, ...queueArguments(options) });
        await channel.bindQueue(queue, queue, '');
      }
    };
    await this.declare(`${kind} "${queue}"`, declare);
  }

  send(kind: QueueKind, queue: string, data: unknown): Promise<void> {
    return kind === 'inqueue' ? this.publish('', queue, encode(data), PERSISTENT) : this.publish(queue, '', encode(data), PERSISTENT);
  }

  async announce(message: DiscoveryMessage, ttlMs: number): Promise<void> {
    // Declared plain, as the msgflo coordinator does: queue arguments such as a
    // TTL would make its declaration fail. A per-message TTL keeps the queue
    // short when no coordinator reads it.
    await this.declare(`queue "${DISCOVERY_QUEUE}"`, (channel) => channel.assertQueue(DISCOVERY_QUEUE));
    await this.publish('', DISCOVERY_QUEUE, encode(message), { expiration: String(Math.round(ttlMs)) });
  }

  async subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription> {
    return this.consume(async (model) => {
      const channel = await this.openChannel(model);
      await channel.prefetch(options.prefetch);
      const { consumerTag } = await channel.consume(queue, (message) => {
        if (message === null) {
          debug('consumer of "%s" cancelled by the broker', queue);
          return;
        }
        handler(new AmqpDelivery(this, channel, queue, message));
      });
      debug('consuming "%s" with prefetch %d', queue, options.prefetch);
      return Object.assign(channel, { consumerTag });
    });
  }

  async tap(queue: string, handler: (data: unknown) => void): Promise<Subscription> {
    return this.consume(async (model) => {
      const channel = await this.openChannel(model);
      await channel.assertExchange(queue, 'fanout', {});
      const { queue: own } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
      await channel.bindQueue(own, queue, '');
      const { consumerTag } = await channel.consume(own, (message) => {
        if (message) {
          handler(decode(message.content));
        }
      }, { noAck: true });
      return Object.assign(channel, { consumerTag });
    });
  }

  async consumeDiscovery(handler: (message: unknown) => void, options: { hold?: boolean } = {}): Promise<Subscription> {
    await this.declare(`queue "${DISCOVERY_QUEUE}"`, (channel) => channel.assertQueue(DISCOVERY_QUEUE));
    return this.consume(async (model) => {
      const channel = await this.openChannel(model);
      // Held messages are never acknowledged: the broker requeues them when the channel closes.
      const { consumerTag } = await channel.consume(DISCOVERY_QUEUE, (message) => {
        if (message) {
          handler(decode(message.content));
        }
      }, { noAck: options.hold !== true });
      return Object.assign(channel, { consumerTag });
    });
  }

  async addBinding(binding: Binding): Promise<void> {
    await this.declare(`binding ${bindingKey(binding)}`, async (channel) => {
      if (binding.type === 'pubsub') {
        await channel.bindQueue(binding.tgt, binding.src, '');
        return;
      }
      // Round robin as msgflo makes it: a direct exchange between source and target.
      const direct = `out-${binding.src}`;
      await channel.assertExchange(direct, 'direct', {});
      await channel.bindExchange(direct, binding.src, '');
      await channel.bindQueue(binding.tgt, direct, '');
      if (binding.deadletter) {
        const deadLetters = deadLetterQueueName(binding.tgt);
        await channel.assertExchange(deadLetters, 'fanout', {});
        await channel.bindQueue(binding.deadletter, deadLetters, '');
      }
    });
  }

  async removeBinding(binding: Binding): Promise<void> {
    const key = `binding ${bindingKey(binding)}`;
    this.declarations.delete(key);
    const model = this.model;
    if (!model) {
      return; // Not bound again on reconnection, since forgotten above.
    }
    await this.onChannel(model, `removal of ${key}`, async (channel) => {
      if (binding.type === 'pubsub') {
        await channel.unbindQueue(binding.tgt, binding.src, '');
      } else {
        await channel.unbindQueue(binding.tgt, `out-${binding.src}`, '');
        if (binding.deadletter) {
          await channel.unbindQueue(binding.deadletter, deadLetterQueueName(binding.tgt), '');
        }
      }
    });
  }

  /** Called by amqplib on every (re)connection, before it counts as connected. */
  private async setup(model: amqp.ChannelModel): Promise<void> {
    batchWrites(model);
    for (const [what, declare] of this.declarations) {
      await this.onChannel(model, what, declare);
    }
    for (const consumer of this.consumers) {
      await this.startConsumer(consumer, model);
    }
    const publisher = await model.createConfirmChannel();
    publisher.on('error', (err: Error) => debug('publish channel error: %s', err.message));
    publisher.on('return', () => {
      this.stats.unroutable += 1;
    });
    publisher.on('close', () => {
      this.closedChannels.add(publisher);
      if (this.publisher === publisher) {
        this.publisher = undefined;
      }
    });
    this.publisher = publisher;
    this.model = model;
    for (const waiter of this.publisherWaiters.splice(0)) {
      waiter.resolve(publisher);
    }
  }

  private lost(err: Error): void {
    debug('connection to %s lost: %s', this.displayUrl, err.message);
    this.model = undefined;
    this.publisher = undefined;
    for (const consumer of this.consumers) {
      consumer.model = undefined;
    }
    if (!this.closing) {
      this.emit('disconnected', err);
    }
  }

  private async consume(start: Consumer['start']): Promise<Subscription> {
    const consumer: Consumer = { start, model: undefined, channel: undefined, consumerTag: undefined, cancelled: false };
    this.consumers.add(consumer);
    if (this.model) {
      await this.startConsumer(consumer, this.model);
    }
    return {
      state: () => ({ active: true }),
      cancel: async () => {
        consumer.cancelled = true;
        const { channel, consumerTag } = consumer;
        if (channel && consumerTag && !this.closedChannels.has(channel)) {
          await channel.cancel(consumerTag).catch((err: unknown) => debug('cancel: %s', errorMessage(err)));
        }
      },
      close: async () => {
        consumer.cancelled = true;
        this.consumers.delete(consumer);
        await this.closeChannel(consumer.channel);
      },
    };
  }

  /** Close a channel unless it is closed already: after its own acks, which it orders before. */
  private async closeChannel(channel: amqp.Channel | undefined): Promise<void> {
    if (channel && !this.closedChannels.has(channel)) {
      await channel.close().catch((err: unknown) => debug('closing a channel: %s', errorMessage(err)));
    }
  }

  private async startConsumer(consumer: Consumer, model: amqp.ChannelModel): Promise<void> {
    if (consumer.model === model || consumer.cancelled) {
      return; // Already consuming on this connection.
    }
    consumer.model = model;
    const channel = (await consumer.start(model)) as amqp.Channel & { consumerTag: string };
    consumer.channel = channel;
    consumer.consumerTag = channel.consumerTag;
  }

  private async openChannel(model: amqp.ChannelModel): Promise<amqp.Channel> {
    const channel = await model.createChannel();
    channel.on('error', (err: Error) => debug('channel error: %s', err.message));
    channel.on('close', () => this.closedChannels.add(channel));
    return channel;
  }

  /** Run a declaration now and remember it for reconnections. */
  private async declare(what: string, declare: (channel: amqp.Channel) => Promise<unknown>): Promise<void> {
    if (this.declarations.has(what)) {
      return;
    }
    const model = this.model;
    if (!model) {
      throw new BrokerError(ErrorCode.BrokerOperation, `cannot declare ${what}: not connected to ${this.displayUrl}`);
    }
    await this.onChannel(model, what, declare);
    this.declarations.set(what, declare);
  }

  /**
   * Run declarations on a short-lived channel: a refused declaration closes
   * the channel it was made on, and must not take the publisher with it.
   */
  private async onChannel(model: amqp.ChannelModel, what: string, work: (channel: amqp.Channel) => Promise<unknown>): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', () => {
      // Reported by the failing operation below.
    });
    try {
      await work(channel);
    } catch (cause) {
      throw new BrokerError(ErrorCode.BrokerOperation, `cannot declare ${what} on ${this.displayUrl}: ${errorMessage(cause)}`, { cause });
    }
    await channel.close();
  }

  /**
   * Publish and wait for the broker's confirm; publish again after a
   * reconnect if the connection went first. Routed by `exchange` and
   * `routingKey` as amqplib does; an empty exchange is the default one.
   */
  publish(exchange: string, routingKey: string, body: Buffer, options: amqp.Options.Publish): Promise<void> {
    // Not an async function with a loop: one promise less for every output.
    const channel = this.publisher;
    if (!channel) {
      return this.nextPublisher().then(() => this.publish(exchange, routingKey, body, options));
    }
    return confirmed(channel, exchange, routingKey, body, options).catch((cause: unknown) => {
      // Checked once the channel's close is through: amqplib fails the
      // unconfirmed publishes before it reports the close.
      const what = exchange ? `exchange "${exchange}"` : `queue "${routingKey}"`;
      if (this.closing || !this.closedChannels.has(channel)) {
        throw new BrokerError(ErrorCode.BrokerOperation, `publish to ${what} was not confirmed: ${errorMessage(cause)}`, { cause });
      }
      debug('publish to %s lost with its channel; publishing again', what);
      return this.publish(exchange, routingKey, body, options);
    });
  }

  /** Whether a channel is closed (its deliveries can no longer be settled). */
  isClosed(channel: amqp.Channel): boolean {
    return this.closedChannels.has(channel);
  }

  private nextPublisher(): Promise<amqp.ConfirmChannel> {
    if (this.closing) {
      return Promise.reject(new BrokerError(ErrorCode.BrokerOperation, `connection to ${this.displayUrl} closed`));
    }
    return new Promise((resolve, reject) => this.publisherWaiters.push({ resolve, reject }));
  }

  /** Publish a failed message to `dead-<queue>` with why it failed; RabbitMQ's own headers stay. */
  async deadLetter(queue: string, message: amqp.ConsumeMessage, reason: string): Promise<void> {
    const { properties } = message;
    const headers = {
      ...properties.headers,
      [DEAD_LETTER_HEADERS.reason]: reason,
      [DEAD_LETTER_HEADERS.queue]: queue,
      [DEAD_LETTER_HEADERS.time]: new Date().toISOString(),
    };
    const options: amqp.Options.Publish = { persistent: true, headers };
    for (const key of ['contentType', 'contentEncoding', 'correlationId', 'replyTo', 'messageId', 'timestamp', 'type', 'appId'] as const) {
      if (properties[key] !== undefined) {
        (options as Record<string, unknown>)[key] = properties[key];
      }
    }
    await this.publish(deadLetterQueueName(queue), '', message.content, options);
  }
}

/**
 * Write each batch of frames amqplib gathers to the socket in one go.
 * amqplib queues the frames of every channel and, once per turn of the event
 * loop, writes them to the socket one by one: with Nagle's algorithm off, each
 * is a system call and a TCP segment of its own (a publish, an ack, another
 * publish...). Corked while the batch is written, they leave together. Left
 * alone when amqplib's insides are not what this expects.
 */
function batchWrites(model: amqp.ChannelModel): void {
  const connection = (model as unknown as { connection?: { stream?: unknown; muxer?: unknown } }).connection;
  const stream = connection?.stream as { cork?: unknown; uncork?: unknown } | undefined;
  const muxer = connection?.muxer as { _readIncoming?: unknown } | undefined;
  if (!stream || !muxer || typeof stream.cork !== 'function' || typeof stream.uncork !== 'function' || typeof muxer._readIncoming !== 'function') {
    debug('amqplib writes frames one by one here');
    return;
  }
  const cork = stream.cork.bind(stream) as () => void;
  const uncork = stream.uncork.bind(stream) as () => void;
  const readIncoming = muxer._readIncoming as (this: unknown) => void;
  muxer._readIncoming = function batched(this: unknown): void {
    cork();
    try {
      readIncoming.call(this);
    } finally {
      uncork();
    }
  };
}

/**
 * A message delivered to a consumer. A class, not closures: one is made per
 * message. A second settlement of one delivery tag, or one on a channel
 * since closed, is a channel error that loses every other in-flight job, so
 * it settles once, and only on a channel still open.
 */
class AmqpDelivery implements Delivery {
  private settled = false;

  constructor(
    private readonly transport: AmqpTransport,
    private readonly channel: amqp.Channel,
    private readonly queue: string,
    private readonly message: amqp.ConsumeMessage,
  ) {}

  get body(): Buffer {
    return this.message.content;
  }

  get redelivered(): boolean {
    return this.message.fields.redelivered;
  }

  async ack(): Promise<void> {
    if (this.settleable()) {
      this.channel.ack(this.message);
    }
  }

  async nack(reason: string): Promise<void> {
    if (!this.settleable()) {
      return;
    }
    try {
      await this.transport.deadLetter(this.queue, this.message, reason);
    } catch (err) {
      debug('dead-lettering with a reason failed (%s); leaving it to the broker', errorMessage(err));
      if (!this.transport.isClosed(this.channel)) {
        this.channel.nack(this.message, false, false);
      }
      return;
    }
    if (!this.transport.isClosed(this.channel)) {
      this.channel.ack(this.message);
    }
  }

  private settleable(): boolean {
    if (this.settled) {
      return false;
    }
    this.settled = true;
    if (this.transport.isClosed(this.channel)) {
      debug('not settling a delivery of "%s": its channel is gone, the broker delivers it again', this.queue);
      return false;
    }
    return true;
  }
}

/** Publish on a confirm channel; resolves on the broker's ack, rejects on its nack or the channel's end. */
function confirmed(channel: amqp.ConfirmChannel, exchange: string, routingKey: string, body: Buffer, options: amqp.Options.Publish): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    channel.publish(exchange, routingKey, body, options, (err: unknown) => (err ? reject(err) : resolve()));
  });
}

function queueArguments(options: QueueOptions): Record<string, unknown> {
  if (options.queueType !== 'quorum') {
    return {};
  }
  return { arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': options.deliveryLimit ?? DEFAULT_DELIVERY_LIMIT } };
}

function isAccessRefused(err: Error): boolean {
  return /ACCESS_REFUSED|403/.test(err.message);
}

function describeConnectError(err: unknown): string {
  const message = errorMessage(err);
  if (err instanceof Error && isAccessRefused(err)) {
    return 'access refused: check the user name and password';
  }
  return message;
}
