/**
 * AMQP 0-9-1 transport (RabbitMQ) on amqplib, with the queue layout of WIRE:
 * an inqueue is a queue with dead-letter exchange `dead-Q` plus a fanout
 * exchange `Q` bound to it; an outqueue is a fanout exchange.
 *
 * Connections: one at a time, to one of the broker URLs given (the nodes of
 * a cluster), tried in turn from a random one at start and from the next one
 * after every loss, forever once connected (backoff with jitter after each
 * pass over the list). A connection counts once its setup (publisher,
 * declarations, consumers) is through; a setup that fails or stalls (30 s)
 * closes it and the loop goes on, so a reconnection half done is never
 * waited on. Heartbeats every {@link DEFAULT_HEARTBEAT_S} s unless the URL
 * says `?heartbeat=N`, so a frozen node is noticed within two of them.
 *
 * Consumers heal: one the broker cancels (its queue deleted, the node
 * holding a classic queue gone) or whose channel closes under a live
 * connection is started again, its queue declared again first with the
 * same arguments, with backoff. A declaration that fails during a
 * reconnection (the `fbp` queue's node down) is a warning, retried in the
 * background: it never holds back the rest.
 *
 * Delivery guarantees: publishes are persistent and confirmed. A publish
 * lost with its channel or connection is made again; one the broker refuses
 * (`basic.nack`) is made again with backoff, on a fresh channel after three
 * refusals, for up to {@link PUBLISH_RETRY_LIMIT_MS}. Deliveries that came on a
 * channel since closed are never settled (the broker redelivers them), so no
 * delivery tag is acked twice or on the wrong channel.
 */
import * as amqp from 'amqplib';
import createDebug from 'debug';
import { EventEmitter } from 'node:events';
import { BrokerError, ErrorCode, errorMessage, UnroutableError } from '../errors';
import { decode, encode } from '../protocol/codec';
import { bindingKey, type Binding } from '../protocol/bindings';
import { DISCOVERY_QUEUE, deadLetterQueueName, type ParticipantAnnouncement } from '../protocol/definition';
import { backoffDelay, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_DELIVERY_LIMIT, type TransportOptions } from './options';
import type { ConsumerState, Delivery, QueueDepth, QueueKind, QueueOptions, SendOptions, SubscribeOptions, Subscription, Transport, TransportEvents, TransportStats } from './transport';
import { AmqpInspection, isNotFound, type InspectedConnection } from './amqp-inspection';
import { inboxAddress } from './inbox';
import { redactUrl } from './url';
import { shortReason, WaitingNotices } from './waiting';

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

/**
 * Header carried by publishes whose return (`basic.return`) must be told
 * apart: dead letters, and outputs sent with `unroutable: 'fail'`. Its value
 * is a number unique within the connection.
 */
export const PUBLISH_ID_HEADER = 'x-msgflo-publish-id';

/** Heartbeat asked of the broker, in s, when the URL gives none (RabbitMQ's own default is 60 s). */
export const DEFAULT_HEARTBEAT_S = 10;
/** How long a TCP connect plus the AMQP handshake may take, in ms, before the next node is tried. */
export const HANDSHAKE_TIMEOUT_MS = 5000;
/** How long a connection's setup (publisher, consumers) may take, in ms, before it is given up and retried. */
export const SETUP_TIMEOUT_MS = 30_000;
/** How long the setup of a connection waits for its declarations, in ms, before starting the consumers anyway (the declarations go on). */
const DECLARATIONS_WAIT_MS = 3000;
/** How long the setup of a connection waits for one consumer to start, in ms, before going on without it (it keeps trying). */
export const CONSUMER_START_TIMEOUT_MS = 5000;
/** How long a publish the broker keeps refusing is retried, in ms, before it fails. */
export const PUBLISH_RETRY_LIMIT_MS = 60_000;
/** Refusals on one channel after which publishing moves to a fresh channel. */
const REFUSALS_PER_CHANNEL = 3;
/** How long a consumer's channel is kept after the broker cancelled it, in ms, for its deliveries still in flight to be settled. */
const RETIRED_CHANNEL_MS = 60_000;
/** How often a dropped dead letter of one queue is said again, in ms. */
const DROPPED_WARNING_INTERVAL_MS = 60_000;

/** How outputs are published: kept by the broker, and returned when nothing is bound. */
const PERSISTENT: amqp.Options.Publish = Object.freeze({ persistent: true, mandatory: true });

/** A consumer, started again on every new connection and whenever the broker drops it. */
interface Consumer {
  /** The queue consumed, for logs and readiness. */
  readonly queue: string;
  /** The declaration (key of `declarations`) made again before consuming again. */
  readonly declaration: string | undefined;
  readonly start: (model: amqp.ChannelModel, consumer: Consumer) => Promise<{ channel: amqp.Channel; consumerTag: string }>;
  /** The connection it currently consumes on. */
  model: amqp.ChannelModel | undefined;
  channel: amqp.Channel | undefined;
  consumerTag: string | undefined;
  /** Cancelled by us: never started again. */
  cancelled: boolean;
  /** Consuming on {@link Consumer.model}. */
  active: boolean;
  /** Why not, when not. */
  reason: string | undefined;
  /** A restart loop is running. */
  healing: boolean;
  /** A start under way. */
  pending: Promise<void> | undefined;
}

/** A publish waiting for its confirm whose return must be told apart. */
interface Watched {
  returned: boolean;
  /** Whether its return counts in `stats.unroutable` (not when it is published again another way). */
  readonly counted: boolean;
}

/** Transport over one AMQP connection at a time, to one of the broker's nodes. */
export class AmqpTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly protocol = 'amqp' as const;
  readonly displayUrl: string;
  readonly stats: TransportStats = { unroutable: 0, reconnects: 0, consumerRestarts: 0, deadLettersDropped: 0, sessionTakeovers: 0 };
  private readonly urls: readonly string[];
  private readonly options: TransportOptions;
  /** Index of the URL to try first next time. */
  private cursor: number;
  /** The connection of the moment; undefined while disconnected. */
  private model: amqp.ChannelModel | undefined;
  private modelUrl: string | undefined;
  /** The connection once its setup is through: its loss starts a reconnection. */
  private live: amqp.ChannelModel | undefined;
  private readonly closedModels = new WeakSet<amqp.ChannelModel>();
  private publisher: amqp.ConfirmChannel | undefined;
  /**
   * Exchanges seen to exist on a connection: a send to an inqueue asks once
   * per connection, not once per message. (One deleted meanwhile fails the
   * publish with 404, and the send goes straight to the queue.)
   */
  private knownExchanges: { model: amqp.ChannelModel | undefined; names: Set<string> } = { model: undefined, names: new Set() };
  private publisherWaiters: Array<{ resolve: (channel: amqp.ConfirmChannel) => void; reject: (err: Error) => void }> = [];
  private readonly declarations = new Map<string, (channel: amqp.Channel) => Promise<unknown>>();
  private readonly redeclaring = new Set<string>();
  private readonly consumers = new Set<Consumer>();
  private readonly closedChannels = new WeakSet<amqp.Channel>();
  private readonly closeErrors = new WeakMap<amqp.Channel, Error>();
  private readonly retired = new Set<amqp.Channel>();
  private readonly watched = new Map<number, Watched>();
  private nextPublishId = 1;
  private readonly droppedWarned = new Map<string, { at: number; count: number }>();
  private discoveryDeclaredOn: amqp.ChannelModel | undefined;
  private reconnecting = false;
  private connected = false;
  private closing = false;
  private retry: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private readonly inspected: InspectedConnection = { model: () => this.model, where: () => this.connectedTo ?? this.displayUrl };
  /** The passive questions of {@link queueDepth} and {@link hasExchange}, on a channel of their own. */
  private readonly inspection = new AmqpInspection(this.inspected);
  /**
   * The exchange checks of sends and bindings, on another: a depth asked of a
   * queue on a frozen cluster node waits for that node, and outputs must not
   * wait behind it.
   */
  private readonly routing = new AmqpInspection(this.inspected);

  /** @param urls - one or more `amqp(s)://` URLs of one broker's nodes (already checked by `parseBrokerList`) */
  constructor(urls: readonly string[], options: TransportOptions = {}) {
    super();
    this.urls = urls;
    this.options = options;
    this.displayUrl = redactUrl(urls.join(','));
    // A random first node, so the participants of a role spread over the cluster.
    this.cursor = Math.floor(Math.random() * urls.length);
  }

  get connectedTo(): string | undefined {
    return this.model && this.modelUrl ? redactUrl(this.modelUrl) : undefined;
  }

  get nodeCount(): number {
    return this.urls.length;
  }

  /**
   * Connect to the first node that answers, trying the URLs in turn for up
   * to the connect timeout (default 30 s). Throws {@link BrokerError}
   * (`EBROKERCONNECT`) at once when the broker refuses the credentials or
   * the vhost, else once the time is up, with the last reason.
   */
  async connect(): Promise<void> {
    if (this.connected) {
      return;
    }
    await this.establish(true);
    this.connected = true;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.retry) {
      clearTimeout(this.retry.timer);
      this.retry.resolve();
    }
    for (const waiter of this.publisherWaiters.splice(0)) {
      waiter.reject(new BrokerError(ErrorCode.BrokerOperation, `connection to ${this.displayUrl} closed`));
    }
    // Channels first: amqplib interleaves the frames of different channels,
    // so a connection close can overtake an ack still queued on a consumer
    // channel, and the broker would deliver that message again. A channel's
    // close is ordered after its own acks.
    const channels = [...[...this.consumers].map((c) => c.channel), ...this.retired, this.publisher];
    this.consumers.clear();
    this.retired.clear();
    await Promise.all([...channels.map((channel) => this.closeChannel(channel)), this.inspection.close(), this.routing.close()]);
    const model = this.model;
    this.model = undefined;
    if (model) {
      await model.close().catch((err: unknown) => debug('close: %s', errorMessage(err)));
    }
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

  /**
   * To an outqueue: to its exchange. To an inqueue: through the inqueue's own
   * fanout exchange when there is one (asked passively first, on a channel
   * of its own: publishing to a missing exchange would close the shared
   * publishing channel), so that a tap of the inqueue (`dump`) sees it; else,
   * or when that exchange routes it nowhere, straight to the queue through
   * the default exchange.
   */
  send(kind: QueueKind, queue: string, data: unknown, options?: SendOptions): Promise<void> {
    let body: Buffer;
    try {
      body = encode(data);
    } catch (err) {
      return Promise.reject(err);
    }
    if (kind === 'inqueue') {
      return this.sendToInqueue(queue, body, options);
    }
    if (options?.unroutable !== 'fail') {
      return this.publish(queue, '', body, PERSISTENT);
    }
    return this.publishWatched(queue, '', body, { ...PERSISTENT, headers: {} }).then((returned) => {
      if (returned) {
        throw new UnroutableError(queue, `output to exchange "${queue}" was routed to no queue (nothing bound, or the queues bound are unavailable)`);
      }
    });
  }

  private async sendToInqueue(queue: string, body: Buffer, options?: SendOptions): Promise<void> {
    if (await this.exchangeExists(queue)) {
      try {
        // Not counted as unroutable when returned: it goes on to the queue itself.
        if (!(await this.publishWatched(queue, '', body, { ...PERSISTENT, headers: {} }, false))) {
          return;
        }
        debug('exchange "%s" routes to no queue; sending straight to queue "%s"', queue, queue);
      } catch (err) {
        if (!isNotFound(err)) {
          throw err;
        }
        debug('exchange "%s" went since it was checked; sending straight to queue "%s"', queue, queue);
      }
    }
    if (options?.unroutable !== 'fail') {
      await this.publish('', queue, body, PERSISTENT);
      return;
    }
    if (await this.publishWatched('', queue, body, { ...PERSISTENT, headers: {} })) {
      throw new UnroutableError(queue, `message to queue "${queue}" was routed to no queue (no such queue, or it is unavailable)`);
    }
  }

  /**
   * Whether exchange `name` exists, asked as {@link hasExchange} asks (on a
   * channel of its own), once per connection for an exchange that does;
   * false too when it cannot be told (the connection went meanwhile). Waits
   * for a connection.
   */
  private async exchangeExists(name: string): Promise<boolean> {
    if (!this.publisher) {
      await this.nextPublisher();
    }
    const model = this.model;
    if (!model) {
      return false;
    }
    if (this.knownExchanges.model === model && this.knownExchanges.names.has(name)) {
      return true;
    }
    try {
      if (!(await this.routing.hasExchange(name))) {
        return false;
      }
    } catch (err) {
      debug('cannot ask whether exchange "%s" exists: %s', name, errorMessage(err));
      return false;
    }
    if (this.knownExchanges.model !== model) {
      this.knownExchanges = { model, names: new Set() };
    }
    this.knownExchanges.names.add(name);
    return true;
  }

  /**
   * Declare `fbp` (as the msgflo coordinator does) and publish a discovery
   * message to it. Throws {@link BrokerError} when either fails (the queue's
   * node down): the caller tries again with the next message.
   */
  async announce(message: ParticipantAnnouncement, ttlMs: number): Promise<void> {
    // Declared plain, as the msgflo coordinator does: queue arguments such as a
    // TTL would make its declaration fail. A per-message TTL keeps the queue
    // short when no coordinator reads it.
    // Once per connection, and not redone by a reconnection's setup: a
    // failure (the queue's node down) fails this message only, and the next
    // one tries again. Discovery never holds back work.
    const model = this.model;
    if (model && this.discoveryDeclaredOn !== model) {
      await this.onChannel(model, DISCOVERY_DECLARATION, declareDiscovery);
      this.discoveryDeclaredOn = model;
    }
    await this.publish('', DISCOVERY_QUEUE, encode(message), { expiration: String(Math.round(ttlMs)) });
  }

  async subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription> {
    return this.consume(queue, `inqueue "${queue}"`, async (model, consumer) => {
      const channel = await this.openChannel(model, consumer);
      await channel.prefetch(options.prefetch);
      const { consumerTag } = await channel.consume(queue, (message) => {
        if (message === null) {
          this.consumerLost(consumer, channel, `the broker cancelled the consumer of "${queue}" (queue deleted, or the node holding it down)`);
          return;
        }
        handler(new AmqpDelivery(this, channel, queue, message));
      });
      debug('consuming "%s" with prefetch %d', queue, options.prefetch);
      return { channel, consumerTag };
    });
  }

  async tap(queue: string, handler: (data: unknown) => void): Promise<Subscription> {
    return this.consume(`tap of ${queue}`, undefined, async (model, consumer) => {
      const channel = await this.openChannel(model, consumer);
      await channel.assertExchange(queue, 'fanout', {});
      const { queue: own } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
      await channel.bindQueue(own, queue, '');
      const { consumerTag } = await channel.consume(own, (message) => {
        if (message) {
          handler(decode(message.content));
        } else {
          this.consumerLost(consumer, channel, `the broker cancelled the tap of "${queue}"`);
        }
      }, { noAck: true });
      return { channel, consumerTag };
    });
  }

  async consumeDiscovery(handler: (message: unknown) => void, options: { hold?: boolean } = {}): Promise<Subscription> {
    await this.declare(DISCOVERY_DECLARATION, declareDiscovery);
    return this.consume(DISCOVERY_QUEUE, DISCOVERY_DECLARATION, async (model, consumer) => {
      const channel = await this.openChannel(model, consumer);
      // Held messages are never acknowledged: the broker requeues them when the channel closes.
      const { consumerTag } = await channel.consume(DISCOVERY_QUEUE, (message) => {
        if (message) {
          handler(decode(message.content));
        } else {
          this.consumerLost(consumer, channel, `the broker cancelled the consumer of "${DISCOVERY_QUEUE}"`);
        }
      }, { noAck: options.hold !== true });
      return { channel, consumerTag };
    });
  }

  async broadcast(topic: string, message: unknown): Promise<void> {
    await this.createQueue('outqueue', topic);
    // Not mandatory: a notice nobody listens to is no loss, and no output.
    await this.publish(topic, '', encode(message), {});
  }

  async inbox(handler: (message: unknown) => void): Promise<{ address: string; subscription: Subscription }> {
    // Named by us, so that the same queue is declared again after a reconnection.
    const address = inboxAddress();
    const subscription = await this.consume(`inbox ${address}`, undefined, async (model, consumer) => {
      const channel = await this.openChannel(model, consumer);
      await channel.assertQueue(address, { exclusive: true, autoDelete: true, durable: false });
      const { consumerTag } = await channel.consume(address, (message) => {
        if (message) {
          handler(decode(message.content));
        } else {
          this.consumerLost(consumer, channel, `the broker cancelled the consumer of "${address}"`);
        }
      }, { noAck: true });
      return { channel, consumerTag };
    });
    return { address, subscription };
  }

  async reply(address: string, message: unknown): Promise<void> {
    // Not mandatory: an inbox whose owner is gone is no one's loss.
    await this.publish('', address, encode(message), {});
  }

  /**
   * Bind as msgflo does (WIRE: "Connections between roles"), with one
   * difference: when the target inqueue has its own fanout exchange (ours and
   * msgflo-nodejs' have), the source is bound to that exchange rather than to
   * the queue. The queue gets the same messages (the exchange is bound to
   * it, made sure of here), and a tap of the inqueue sees them too. A
   * queue-level binding of the same pair (made by msgflo-setup or an older
   * version) is removed then, so that removeBinding() undoes it all.
   * RabbitMQ routes a message to a queue once however many ways lead there,
   * so nothing is delivered twice meanwhile.
   */
  async addBinding(binding: Binding): Promise<void> {
    const key = `binding ${bindingKey(binding)}`;
    if (this.declarations.has(key)) {
      return;
    }
    if (!this.model) {
      throw new BrokerError(ErrorCode.BrokerOperation, `cannot declare ${key}: not connected to ${this.displayUrl}`);
    }
    // Decided once: the same form is made again after a reconnection.
    const throughExchange = await this.exchangeExists(binding.tgt);
    await this.declare(key, async (channel) => {
      const source = bindingSource(binding);
      if (binding.type === 'roundrobin') {
        // Round robin as msgflo makes it: a direct exchange between source and target.
        await channel.assertExchange(source, 'direct', {});
        await channel.bindExchange(source, binding.src, '');
      }
      if (throughExchange) {
        await channel.bindQueue(binding.tgt, binding.tgt, '');
        await channel.bindExchange(binding.tgt, source, '');
        // Unbinding what is not bound is no error (RabbitMQ 3.2 and later).
        await channel.unbindQueue(binding.tgt, source, '');
      } else {
        await channel.bindQueue(binding.tgt, source, '');
      }
      if (binding.deadletter) {
        const deadLetters = deadLetterQueueName(binding.tgt);
        await channel.assertExchange(deadLetters, 'fanout', {});
        await channel.bindQueue(binding.deadletter, deadLetters, '');
      }
    });
  }

  /** Undo {@link addBinding}, whichever form it took (or a queue-level binding made by msgflo). */
  async removeBinding(binding: Binding): Promise<void> {
    const key = `binding ${bindingKey(binding)}`;
    this.declarations.delete(key);
    const model = this.model;
    if (!model) {
      return; // Not bound again on reconnection, since forgotten above.
    }
    const source = bindingSource(binding);
    const unbind: Array<[string, (channel: amqp.Channel) => Promise<unknown>]> = [
      [`binding of exchange "${binding.tgt}" to "${source}"`, (channel) => channel.unbindExchange(binding.tgt, source, '')],
      [`binding of queue "${binding.tgt}" to "${source}"`, (channel) => channel.unbindQueue(binding.tgt, source, '')],
    ];
    if (binding.deadletter) {
      const deadLetters = deadLetterQueueName(binding.tgt);
      unbind.push([`binding of queue "${binding.deadletter}" to "${deadLetters}"`, (channel) => channel.unbindQueue(binding.deadletter as string, deadLetters, '')]);
    }
    // Each on a channel of its own: an exchange or queue already gone fails its
    // own unbinding only (RabbitMQ before 3.2 says so with a 404), not the others.
    for (const [what, work] of unbind) {
      await this.onChannel(model, `removal of ${what}`, work).catch((err: unknown) => {
        if (!isNotFound(err)) {
          throw err;
        }
        debug('%s: already gone', what);
      });
    }
  }

  /**
   * Passive `queue.declare` (amqplib `checkQueue`) on a channel kept for such
   * questions, which RabbitMQ closes when the queue is missing (the next
   * question opens another); `undefined` then. Throws {@link BrokerError}
   * (`EBROKEROP`) while disconnected, or when RabbitMQ fails to answer.
   */
  queueDepth(queue: string): Promise<QueueDepth | undefined> {
    return this.inspection.queueDepth(queue);
  }

  /** Passive `exchange.declare` (amqplib `checkExchange`), asked as {@link queueDepth} asks. */
  hasExchange(name: string): Promise<boolean> {
    return this.inspection.hasExchange(name);
  }

  /**
   * Try the URLs in turn until one connects and its setup is through. At
   * start (`initial`) within the connect timeout, failing at once on refused
   * credentials; afterwards until it works or the transport is closed.
   */
  private async establish(initial: boolean): Promise<void> {
    const started = Date.now();
    const timeout = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const count = this.urls.length;
    const notices = initial ? new WaitingNotices(timeout, (notice) => this.emit('waiting', notice)) : undefined;
    let lastError: unknown;
    for (let attempt = 0; ; attempt += 1) {
      if (attempt > 0 && attempt % count === 0) {
        // A whole pass failed: wait before the next one (at start, not past the connect timeout).
        const delay = backoffDelay(attempt / count);
        await this.pause(initial ? Math.min(delay, Math.max(0, started + timeout - Date.now())) : delay);
      }
      if (this.closing) {
        throw new BrokerError(ErrorCode.BrokerConnection, `connection to ${this.displayUrl} closed`, { cause: lastError });
      }
      const index = (this.cursor + attempt) % count;
      const url = this.urls[index] as string;
      try {
        await this.open(url);
        // Next time (after a loss of this node) start with the next one.
        this.cursor = (index + 1) % count;
        return;
      } catch (err) {
        lastError = err;
        debug('connecting to %s failed: %s', redactUrl(url), errorMessage(err));
        if (initial && (isAccessRefused(err) || Date.now() - started >= timeout)) {
          throw new BrokerError(ErrorCode.BrokerConnection, `cannot connect to AMQP broker ${this.displayUrl}: ${describeConnectError(err, url)}`, { cause: err });
        }
        if (attempt % count === count - 1) {
          notices?.failed(redactUrl(url), err);
        }
      }
    }
  }

  /** Wait `ms`, or less if the transport is closed meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.retry = undefined;
        resolve();
      }, ms);
      this.retry = { timer, resolve };
    });
  }

  /** Connect to one node and set the connection up; throws (with the connection closed) when either fails. */
  private async open(url: string): Promise<void> {
    const model = await amqp.connect(withDefaultHeartbeat(url), {
      // Nagle's algorithm delays small frames by tens of milliseconds; jobs are small.
      noDelay: true,
      // Covers the TCP connect and the handshake: a frozen node accepts the socket and says nothing.
      timeout: HANDSHAKE_TIMEOUT_MS,
      ...this.options.tls,
    });
    let closedWith: (err: Error) => void = () => undefined;
    const closed = new Promise<never>((_resolve, reject) => {
      closedWith = reject;
    });
    closed.catch(() => undefined);
    model.on('error', (err: Error) => debug('connection error on %s: %s', redactUrl(url), err.message));
    model.once('close', (err?: Error) => {
      this.closedModels.add(model);
      const reason = err ?? new Error('connection closed');
      closedWith(reason);
      if (this.live === model) {
        this.lost(reason);
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`setup did not finish within ${SETUP_TIMEOUT_MS} ms`)), SETUP_TIMEOUT_MS);
    });
    this.modelUrl = url;
    try {
      await Promise.race([this.setup(model), closed, stalled]);
      if (this.closing || this.closedModels.has(model)) {
        throw new Error('closed during setup');
      }
      this.live = model;
    } catch (err) {
      if (this.model === model) {
        this.model = undefined;
        this.publisher = undefined;
      }
      await Promise.race([model.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    debug('connected to %s', redactUrl(url));
  }

  /**
   * Called on every (re)connection, before it counts as connected: the
   * publisher first (outputs of redelivered jobs can go at once), then the
   * consumers (each given {@link CONSUMER_START_TIMEOUT_MS}; one that fails
   * or takes longer goes on in the background, and its inport says so),
   * then the declarations, made again in the background: on a cluster with
   * a frozen node, RabbitMQ holds every declaration (and every consumer of a
   * quorum queue led by that node) until Erlang distribution gives the node
   * up (`net_ticktime`, 60 s by default), and that must not hold the rest.
   * Only the connection's own end fails the setup.
   */
  private async setup(model: amqp.ChannelModel): Promise<void> {
    batchWrites(model);
    this.model = model;
    await this.openPublisher(model);
    // The usual case takes milliseconds; a frozen node's cluster holds them, and they go on meanwhile.
    const declared = [...this.declarations.keys()].map((what) => this.redeclareLater(what, model, 0));
    await Promise.race([Promise.all(declared), new Promise((resolve) => setTimeout(resolve, DECLARATIONS_WAIT_MS).unref())]);
    this.requireOpen(model);
    const started = [...this.consumers].map(async (consumer) => {
      try {
        await withTimeout(this.startConsumer(consumer, model), CONSUMER_START_TIMEOUT_MS, `did not start within ${CONSUMER_START_TIMEOUT_MS} ms (a cluster node holding it may be frozen)`);
      } catch (err) {
        if (this.closedModels.has(model) || this.model !== model) {
          return;
        }
        consumer.reason = `cannot consume "${consumer.queue}": ${errorMessage(err)}`;
        this.warn(new BrokerError(ErrorCode.BrokerOperation, `${consumer.reason}; still trying`, { cause: err }), consumer.queue);
        this.heal(consumer);
      }
    });
    await Promise.all(started);
    this.requireOpen(model);
  }

  private requireOpen(model: amqp.ChannelModel): void {
    if (this.closedModels.has(model) || this.model !== model) {
      throw new Error('connection closed during setup');
    }
  }

  private lost(err: Error): void {
    this.live = undefined;
    debug('connection to %s lost: %s', this.connectedTo ?? this.displayUrl, err.message);
    this.model = undefined;
    this.publisher = undefined;
    for (const consumer of this.consumers) {
      consumer.model = undefined;
      consumer.active = false;
      consumer.reason = undefined;
    }
    for (const channel of this.retired) {
      this.closedChannels.add(channel);
    }
    this.retired.clear();
    if (this.closing) {
      return;
    }
    this.emit('disconnected', err);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) {
      return;
    }
    this.reconnecting = true;
    try {
      await this.establish(false);
      this.stats.reconnects += 1;
      debug('reconnected to %s', this.connectedTo);
      this.emit('reconnected');
    } catch (err) {
      debug('reconnecting ended: %s', errorMessage(err));
    } finally {
      this.reconnecting = false;
    }
  }

  private async consume(queue: string, declaration: string | undefined, start: Consumer['start']): Promise<Subscription> {
    const consumer: Consumer = { queue, declaration, start, model: undefined, channel: undefined, consumerTag: undefined, cancelled: false, active: false, reason: undefined, healing: false, pending: undefined };
    this.consumers.add(consumer);
    const model = this.model;
    if (model) {
      try {
        await this.startConsumer(consumer, model);
      } catch (err) {
        this.consumers.delete(consumer);
        throw new BrokerError(ErrorCode.BrokerOperation, `cannot consume "${queue}" on ${this.connectedTo ?? this.displayUrl}: ${errorMessage(err)}`, { cause: err });
      }
    }
    return {
      state: () => this.consumerState(consumer),
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

  private consumerState(consumer: Consumer): ConsumerState {
    if (consumer.cancelled) {
      return { active: false, reason: `not consuming "${consumer.queue}": cancelled` };
    }
    if (!this.model) {
      return { active: false, reason: `not connected to ${this.displayUrl}` };
    }
    if (consumer.model !== this.model || !consumer.active) {
      return { active: false, reason: consumer.reason ?? `not consuming "${consumer.queue}" yet` };
    }
    return ACTIVE;
  }

  /** The broker stopped delivering to `consumer` on `channel` while the connection lives: start it again. */
  private consumerLost(consumer: Consumer, channel: amqp.Channel, reason: string): void {
    if (consumer.channel !== channel || consumer.cancelled || this.closing) {
      return;
    }
    const model = consumer.model;
    consumer.active = false;
    consumer.model = undefined;
    consumer.reason = `${reason}; consuming again`;
    if (!this.closedChannels.has(channel)) {
      // Its deliveries still in flight can be settled on it for a while.
      this.retired.add(channel);
      setTimeout(() => {
        if (this.retired.delete(channel)) {
          void this.closeChannel(channel);
        }
      }, RETIRED_CHANNEL_MS).unref();
    }
    if (!model || model !== this.model) {
      return; // The connection went: the reconnection starts it again.
    }
    debug('%s', reason);
    this.emit('consumerLost', consumer.queue, reason);
    this.heal(consumer);
  }

  /** Start a lost consumer again with backoff (its queue declared again first) for as long as the connection lives. */
  private heal(consumer: Consumer): void {
    if (consumer.healing) {
      return;
    }
    consumer.healing = true;
    void (async () => {
      try {
        for (let attempt = 1; ; attempt += 1) {
          await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt)).unref());
          const model = this.model;
          if (consumer.cancelled || this.closing || !model) {
            return; // Gone; a reconnection starts it again.
          }
          if (consumer.model === model && consumer.pending) {
            await consumer.pending.catch(() => undefined); // A start under way: its outcome decides.
            continue;
          }
          if (consumer.model === model && consumer.active) {
            this.restored(consumer); // Its start under way went through.
            return;
          }
          try {
            const what = consumer.declaration;
            const declare = what === undefined ? undefined : this.declarations.get(what);
            if (what !== undefined && declare) {
              await this.onChannel(model, what, declare);
            }
            await this.startConsumer(consumer, model);
            if (consumer.active) {
              this.restored(consumer);
              return;
            }
          } catch (err) {
            consumer.model = undefined;
            consumer.reason = `cannot consume "${consumer.queue}" again: ${errorMessage(err)}; retrying`;
            debug('%s', consumer.reason);
          }
        }
      } finally {
        consumer.healing = false;
      }
    })();
  }

  private restored(consumer: Consumer): void {
    this.stats.consumerRestarts += 1;
    debug('consuming "%s" again', consumer.queue);
    this.emit('consumerRestored', consumer.queue);
  }

  /** Close a channel unless it is closed already: after its own acks, which it orders before. */
  private async closeChannel(channel: amqp.Channel | undefined): Promise<void> {
    if (channel && !this.closedChannels.has(channel)) {
      await channel.close().catch((err: unknown) => debug('closing a channel: %s', errorMessage(err)));
    }
  }

  /**
   * Start `consumer` on `model`, once: a start still pending (a broker that
   * holds `basic.consume`) is awaited again rather than doubled, and one
   * that succeeds after the consumer moved on closes its channel.
   */
  private startConsumer(consumer: Consumer, model: amqp.ChannelModel): Promise<void> {
    if (consumer.cancelled) {
      return Promise.resolve();
    }
    if (consumer.model === model) {
      return consumer.pending ?? Promise.resolve(); // Consuming, or starting, on this connection.
    }
    consumer.model = model;
    consumer.active = false;
    const pending = consumer.start(model, consumer).then(
      ({ channel, consumerTag }) => {
        if (consumer.model !== model || consumer.cancelled) {
          void this.closeChannel(channel);
          return;
        }
        consumer.channel = channel;
        consumer.consumerTag = consumerTag;
        consumer.active = true;
        consumer.reason = undefined;
      },
      (err: unknown) => {
        if (consumer.model === model) {
          consumer.model = undefined;
        }
        throw err;
      },
    );
    consumer.pending = pending;
    void pending.then(
      () => consumer.pending === pending && (consumer.pending = undefined),
      () => consumer.pending === pending && (consumer.pending = undefined),
    );
    return pending;
  }

  /** A channel for a consumer: its unexpected close (under a live connection) starts the consumer again. */
  private async openChannel(model: amqp.ChannelModel, consumer: Consumer): Promise<amqp.Channel> {
    const channel = await model.createChannel();
    channel.on('error', (err: Error) => {
      this.closeErrors.set(channel, err);
      debug('channel error: %s', err.message);
    });
    channel.on('close', () => {
      this.closedChannels.add(channel);
      this.retired.delete(channel);
      // Decided a turn later: amqplib closes the channels before it reports the connection's own close.
      setImmediate(() => {
        if (consumer.channel === channel && consumer.active && this.model === model && !this.closedModels.has(model)) {
          const cause = this.closeErrors.get(channel);
          this.consumerLost(consumer, channel, `the channel consuming "${consumer.queue}" closed${cause ? `: ${cause.message}` : ''}`);
        }
      });
    });
    // Set here so a cancel that comes before start() returns is not missed.
    consumer.channel = channel;
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

  /** Make a declaration that failed during a reconnection again, with backoff, while that connection lives. */
  private redeclareLater(what: string, model: amqp.ChannelModel, firstDelayMs?: number): Promise<void> {
    if (this.redeclaring.has(what)) {
      return Promise.resolve();
    }
    this.redeclaring.add(what);
    let tried: () => void = () => undefined;
    const firstTry = new Promise<void>((resolve) => {
      tried = resolve;
    });
    void (async () => {
      try {
        for (let attempt = 1; ; attempt += 1) {
          const delay = attempt === 1 && firstDelayMs !== undefined ? firstDelayMs : backoffDelay(attempt + 3);
          if (delay > 0) {
            await new Promise((resolve) => setTimeout(resolve, delay).unref());
          }
          const declare = this.declarations.get(what);
          if (!declare || this.closing || this.model !== model) {
            return; // Forgotten, or redone by the next connection's setup.
          }
          try {
            await this.onChannel(model, what, declare);
            debug('declared %s again', what);
            return;
          } catch (err) {
            tried();
            if (this.model !== model || this.closing) {
              return;
            }
            if (attempt === 1) {
              this.warn(new BrokerError(ErrorCode.BrokerOperation, `${errorMessage(err)}; trying again in the background`, { cause: err }), declaredQueue(what));
            }
            debug('%s', errorMessage(err));
          }
        }
      } finally {
        tried();
        this.redeclaring.delete(what);
      }
    })();
    return firstTry;
  }

  /**
   * Run declarations on a short-lived channel: a refused declaration closes
   * the channel it was made on, and must not take the publisher with it.
   */
  private async onChannel(model: amqp.ChannelModel, what: string, work: (channel: amqp.Channel) => Promise<unknown>): Promise<void> {
    let channel: amqp.Channel;
    try {
      channel = await model.createChannel();
    } catch (cause) {
      throw new BrokerError(ErrorCode.BrokerOperation, `cannot declare ${what} on ${redactUrl(this.modelUrl ?? '')}: ${errorMessage(cause)}`, { cause });
    }
    channel.on('error', () => {
      // Reported by the failing operation below.
    });
    try {
      await work(channel);
    } catch (cause) {
      throw new BrokerError(ErrorCode.BrokerOperation, `cannot declare ${what} on ${redactUrl(this.modelUrl ?? '')}: ${errorMessage(cause)}`, { cause });
    }
    await channel.close().catch(() => undefined);
  }

  private async openPublisher(model: amqp.ChannelModel): Promise<amqp.ConfirmChannel> {
    const publisher = await model.createConfirmChannel();
    publisher.on('error', (err: Error) => {
      this.closeErrors.set(publisher, err);
      debug('publish channel error: %s', err.message);
    });
    publisher.on('return', (message: amqp.Message) => this.returned(message));
    publisher.on('close', () => {
      this.closedChannels.add(publisher);
      if (this.publisher === publisher) {
        this.publisher = undefined;
        // A turn later, as for consumers: the connection's own close comes after its channels'.
        setImmediate(() => {
          if (this.model === model && !this.closedModels.has(model) && !this.closing) {
            this.reopenPublisher(model);
          }
        });
      }
    });
    this.publisher = publisher;
    for (const waiter of this.publisherWaiters.splice(0)) {
      waiter.resolve(publisher);
    }
    return publisher;
  }

  /** The publishing channel closed under a live connection (a publish to an exchange that is gone): open another. */
  private reopenPublisher(model: amqp.ChannelModel): void {
    void (async () => {
      for (let attempt = 1; this.model === model && !this.publisher && !this.closing; attempt += 1) {
        try {
          await this.openPublisher(model);
          return;
        } catch (err) {
          debug('cannot open a publishing channel: %s', errorMessage(err));
          await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt)).unref());
        }
      }
    })();
  }

  /** Move publishing to a fresh channel (one whose publishes the broker keeps refusing). */
  private replacePublisher(channel: amqp.ConfirmChannel): void {
    const model = this.model;
    if (this.publisher !== channel || !model) {
      return;
    }
    this.publisher = undefined;
    void this.openPublisher(model).then(
      () => channel.close().catch(() => undefined),
      (err: unknown) => {
        debug('cannot open a fresh publishing channel: %s', errorMessage(err));
        if (!this.publisher && !this.closedChannels.has(channel)) {
          this.publisher = channel;
        } else {
          this.reopenPublisher(model);
        }
      },
    );
  }

  /**
   * Publish and wait for the broker's confirm; publish again if the channel
   * or connection went first, or if the broker refused it (with backoff, for
   * up to {@link PUBLISH_RETRY_LIMIT_MS}). Routed by `exchange` and
   * `routingKey` as amqplib does; an empty exchange is the default one.
   * Rejects with {@link BrokerError} when the transport closes, the exchange
   * does not exist, or the broker refused it all that time.
   */
  publish(exchange: string, routingKey: string, body: Buffer, options: amqp.Options.Publish, refusals = 0, since = 0): Promise<void> {
    // Not an async function with a loop: one promise less for every output.
    const channel = this.publisher;
    if (!channel) {
      return this.nextPublisher().then(() => this.publish(exchange, routingKey, body, options, refusals, since));
    }
    return confirmed(channel, exchange, routingKey, body, options).catch((cause: unknown) => {
      const what = exchange ? `exchange "${exchange}"` : `queue "${routingKey}"`;
      if (this.closing) {
        throw new BrokerError(ErrorCode.BrokerOperation, `publish to ${what} was not confirmed: ${errorMessage(cause)}`, { cause });
      }
      // Checked once the channel's close is through: amqplib fails the
      // unconfirmed publishes before it reports the close.
      if (this.closedChannels.has(channel)) {
        const closeError = this.closeErrors.get(channel);
        if (closeError && /NOT_FOUND|404/.test(closeError.message) && closeError.message.includes(exchange || routingKey)) {
          throw new BrokerError(ErrorCode.BrokerOperation, `publish to ${what} failed: ${closeError.message}`, { cause: closeError });
        }
        // Refused for good: publishing it again would close the next channel too.
        const tooLarge = closeError ? tooLargeForBroker(closeError, body.length) : undefined;
        if (tooLarge) {
          throw new BrokerError(ErrorCode.BrokerOperation, `publish to ${what} refused by the broker: ${tooLarge}`, { cause: closeError });
        }
        debug('publish to %s lost with its channel; publishing again', what);
        return this.publish(exchange, routingKey, body, options, refusals, since);
      }
      // Refused (basic.nack) on a live channel: a queue without a leader for
      // now, a node going down. Try again, on a fresh channel now and then.
      const first = since || Date.now();
      if (Date.now() - first >= PUBLISH_RETRY_LIMIT_MS) {
        throw new BrokerError(ErrorCode.BrokerOperation, `publish to ${what} refused by the broker for ${Math.round((Date.now() - first) / 1000)} s: ${errorMessage(cause)}`, { cause });
      }
      if ((refusals + 1) % REFUSALS_PER_CHANNEL === 0) {
        this.replacePublisher(channel);
      }
      debug('publish to %s refused (%s); trying again', what, errorMessage(cause));
      return new Promise<void>((resolve) => setTimeout(resolve, backoffDelay(refusals + 1))).then(() =>
        this.publish(exchange, routingKey, body, options, refusals + 1, first),
      );
    });
  }

  /**
   * Publish (mandatory) and tell whether the broker returned it: resolves
   * true when it was routed to no queue. `options.headers` gets the
   * {@link PUBLISH_ID_HEADER}.
   */
  private publishWatched(exchange: string, routingKey: string, body: Buffer, options: amqp.Options.Publish & { headers: Record<string, unknown> }, counted = true): Promise<boolean> {
    const id = this.nextPublishId;
    this.nextPublishId += 1;
    const entry: Watched = { returned: false, counted };
    this.watched.set(id, entry);
    // A publish made again keeps its id, so its later return is still told apart.
    const published = this.publish(exchange, routingKey, body, { ...options, mandatory: true, headers: { ...options.headers, [PUBLISH_ID_HEADER]: id } });
    return published.then(
      () => {
        this.watched.delete(id);
        return entry.returned;
      },
      (err: unknown) => {
        this.watched.delete(id);
        throw err;
      },
    );
  }

  /** A publish came back unroutable (`basic.return`, which RabbitMQ sends before the confirm). */
  private returned(message: amqp.Message): void {
    const id = message.properties.headers?.[PUBLISH_ID_HEADER] as unknown;
    const entry = typeof id === 'number' ? this.watched.get(id) : undefined;
    if (entry) {
      entry.returned = true;
    }
    if (entry?.counted !== false) {
      this.stats.unroutable += 1;
    }
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

  /**
   * Publish a failed message to `dead-<queue>` with why it failed; RabbitMQ's
   * own headers stay. A dead letter routed to no queue (nothing bound to
   * `dead-<queue>`) is not kept: said as a warning (once a minute per
   * queue, with the count) and counted in `stats.deadLettersDropped`.
   */
  async deadLetter(queue: string, message: amqp.ConsumeMessage, reason: string): Promise<void> {
    const { properties } = message;
    const headers = {
      ...properties.headers,
      [DEAD_LETTER_HEADERS.reason]: reason,
      [DEAD_LETTER_HEADERS.queue]: queue,
      [DEAD_LETTER_HEADERS.time]: new Date().toISOString(),
    };
    const options: amqp.Options.Publish & { headers: Record<string, unknown> } = { persistent: true, headers };
    for (const key of ['contentType', 'contentEncoding', 'correlationId', 'replyTo', 'messageId', 'timestamp', 'type', 'appId'] as const) {
      if (properties[key] !== undefined) {
        (options as unknown as Record<string, unknown>)[key] = properties[key];
      }
    }
    const exchange = deadLetterQueueName(queue);
    if (await this.publishWatched(exchange, '', message.content, options)) {
      this.stats.deadLettersDropped += 1;
      this.dropped(queue, exchange, reason);
    }
  }

  private dropped(queue: string, exchange: string, reason: string): void {
    const now = Date.now();
    const seen = this.droppedWarned.get(queue);
    if (seen && now - seen.at < DROPPED_WARNING_INTERVAL_MS) {
      seen.count += 1;
      return;
    }
    const more = seen && seen.count > 0 ? ` (${seen.count} more since the last warning)` : '';
    this.droppedWarned.set(queue, { at: now, count: 0 });
    this.warn(new Error(`a failed message of "${queue}" was not kept: no queue is bound to exchange "${exchange}" (start with --deadletter, or bind one)${more}; it failed with: ${reason.slice(0, 200)}`), queue);
  }

  private warn(err: Error, queue?: string): void {
    debug('warning: %s', err.message);
    if (this.listenerCount('warning') > 0) {
      this.emit('warning', err, queue);
    }
  }
}

const ACTIVE: ConsumerState = Object.freeze({ active: true });

/**
 * RabbitMQ's reason when it closed a channel for a message of `size` bytes
 * larger than its `max_message_size` (406 PRECONDITION_FAILED); undefined
 * for any other reason, or for another message.
 */
function tooLargeForBroker(err: Error, size: number): string | undefined {
  const match = /message size (\d+) is larger than configured max size (\d+)/.exec(err.message);
  return match && Number(match[1]) === size ? `${match[0]} (RabbitMQ's max_message_size)` : undefined;
}

/** The exchange a binding's target is bound to: the source, or for round robin the direct exchange msgflo puts between. */
function bindingSource(binding: Binding): string {
  return binding.type === 'roundrobin' ? `out-${binding.src}` : binding.src;
}

const DISCOVERY_DECLARATION = `queue "${DISCOVERY_QUEUE}"`;

/** `work`, or a rejection with `what` after `ms` (the work goes on). */
function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** The queue a declaration key (`inqueue "Q"`, `outqueue "Q"`) is about, if any. */
function declaredQueue(what: string): string | undefined {
  return /^(?:inqueue|outqueue) "(.*)"$/.exec(what)?.[1];
}

function declareDiscovery(channel: amqp.Channel): Promise<unknown> {
  return channel.assertQueue(DISCOVERY_QUEUE);
}

/** The URL with `heartbeat=` {@link DEFAULT_HEARTBEAT_S} unless it sets one. */
export function withDefaultHeartbeat(raw: string): string {
  try {
    const url = new URL(raw);
    if (!url.searchParams.has('heartbeat')) {
      url.searchParams.set('heartbeat', String(DEFAULT_HEARTBEAT_S));
    }
    return url.toString();
  } catch {
    return raw; // Checked before; amqplib says what is wrong with it.
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

/**
 * RabbitMQ closed the connection in reply to `connection.open`: 530
 * NOT_ALLOWED, the vhost does not exist or the user may not use it. amqplib
 * reports it without the reply code, as the method it expected instead.
 */
function isVhostRefused(err: unknown): boolean {
  return err instanceof Error && (/\bNOT[-_]ALLOWED\b|^Handshake terminated by server: 530\b/.test(err.message) || /^Expected ConnectionOpenOk; got <ConnectionClose\b/.test(err.message));
}

/** Refused credentials (403 ACCESS_REFUSED during the handshake) or vhost: trying again will not help. */
function isAccessRefused(err: unknown): boolean {
  return err instanceof Error && (isVhostRefused(err) || /\bACCESS[-_]REFUSED\b|^Handshake terminated by server: 403\b/.test(err.message));
}

/** The vhost a URL names, as amqplib takes it: the path without its slash, `/` when there is none. */
function vhostOf(url: string): string {
  try {
    const path = new URL(url).pathname;
    return path.length > 1 ? decodeURIComponent(path.slice(1)) : '/';
  } catch {
    return '/';
  }
}

function describeConnectError(err: unknown, url: string): string {
  if (isVhostRefused(err)) {
    // RabbitMQ's own words, when amqplib kept them ("vhost / is down" on a node still starting, a connection limit).
    const said = /with message "(.*)"/.exec(errorMessage(err))?.[1];
    return `the broker refused vhost "${vhostOf(url)}": it does not exist or the user may not use it${said ? ` (${said})` : ''}`;
  }
  if (isAccessRefused(err)) {
    return 'access refused: check the user name and password';
  }
  return errorMessage(err) || shortReason(err);
}
