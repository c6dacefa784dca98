/**
 * In-process transport for unit tests: a tiny broker with the AMQP layout's
 * semantics (queues, fanout exchanges, dead-letter exchanges, prefetch), no
 * sockets. Brokers are named by the URL's host: `memory://a` and `memory://a`
 * share one broker within a process.
 */
import { EventEmitter } from 'node:events';
import { BrokerError, ErrorCode } from '../errors';
import { decode, encode } from '../protocol/codec';
import type { Binding } from '../protocol/bindings';
import { DISCOVERY_QUEUE, deadLetterQueueName, type ParticipantAnnouncement } from '../protocol/definition';
import { INBOX_PREFIX } from './inbox';
import type { ConsumerState, Delivery, QueueDepth, QueueKind, SubscribeOptions, Subscription, Transport, TransportEvents, TransportStats } from './transport';

interface Consumer {
  prefetch: number;
  inFlight: number;
  handler: (delivery: Delivery) => void;
}

interface MemoryQueue {
  readonly messages: Buffer[];
  /** Why each dead letter failed, in the order they arrived, for assertions. */
  readonly reasons: string[];
  readonly consumers: Consumer[];
  deadLetterExchange?: string;
}

/** The in-process broker behind one `memory://` host. */
export class MemoryBroker {
  private readonly queues = new Map<string, MemoryQueue>();
  /** Exchange → the queues bound to it. */
  private readonly exchanges = new Map<string, Set<string>>();
  /** Exchange → the exchanges bound to it. */
  private readonly exchangeBindings = new Map<string, Set<string>>();

  declareExchange(name: string): void {
    if (!this.exchanges.has(name)) {
      this.exchanges.set(name, new Set());
    }
  }

  declareQueue(name: string, deadLetterExchange?: string): void {
    if (!this.queues.has(name)) {
      const queue: MemoryQueue = { messages: [], reasons: [], consumers: [] };
      if (deadLetterExchange) {
        queue.deadLetterExchange = deadLetterExchange;
      }
      this.queues.set(name, queue);
    }
  }

  bind(queue: string, exchange: string): void {
    this.declareExchange(exchange);
    this.exchanges.get(exchange)?.add(queue);
  }

  unbind(queue: string, exchange: string): void {
    this.exchanges.get(exchange)?.delete(queue);
  }

  /** Bind exchange `destination` to exchange `source`: what reaches the source goes on to the destination. */
  bindExchange(destination: string, source: string): void {
    this.declareExchange(source);
    let destinations = this.exchangeBindings.get(source);
    if (!destinations) {
      destinations = new Set();
      this.exchangeBindings.set(source, destinations);
    }
    destinations.add(destination);
  }

  unbindExchange(destination: string, source: string): void {
    this.exchangeBindings.get(source)?.delete(destination);
  }

  /** Whether there is an exchange `name` (declared, or made by a binding to it). */
  hasExchange(name: string): boolean {
    return this.exchanges.has(name);
  }

  /**
   * Publish to an exchange (`''` is the default exchange, routing by queue
   * name). Returns whether any queue took the message.
   */
  publish(exchange: string, routingKey: string, body: Buffer, reason?: string): boolean {
    if (exchange === '') {
      return this.enqueue(routingKey, body, reason);
    }
    let routed = false;
    for (const queue of this.route(exchange, new Set(), new Set())) {
      routed = this.enqueue(queue, body, reason) || routed;
    }
    return routed;
  }

  /** The queues an exchange routes to, through exchanges bound to it too; each once, as RabbitMQ does. */
  private route(exchange: string, seen: Set<string>, queues: Set<string>): Set<string> {
    if (!seen.has(exchange)) {
      seen.add(exchange);
      for (const queue of this.exchanges.get(exchange) ?? []) {
        queues.add(queue);
      }
      for (const destination of this.exchangeBindings.get(exchange) ?? []) {
        this.route(destination, seen, queues);
      }
    }
    return queues;
  }

  consume(name: string, consumer: Consumer): () => void {
    const queue = this.requireQueue(name);
    queue.consumers.push(consumer);
    this.dispatch(name, queue);
    return () => {
      const index = queue.consumers.indexOf(consumer);
      if (index >= 0) {
        queue.consumers.splice(index, 1);
      }
    };
  }

  /** Messages waiting in a queue, for assertions. */
  depth(name: string): number {
    return this.queues.get(name)?.messages.length ?? 0;
  }

  /** Messages waiting in a queue (not those delivered and unsettled) and its consumers; undefined when there is no such queue. */
  queueDepth(name: string): QueueDepth | undefined {
    const queue = this.queues.get(name);
    return queue && { messages: queue.messages.length, consumers: queue.consumers.length };
  }

  /** The failure reasons of the dead letters that reached a queue, for assertions. */
  reasons(name: string): readonly string[] {
    return this.queues.get(name)?.reasons ?? [];
  }

  private enqueue(name: string, body: Buffer, reason?: string): boolean {
    const queue = this.queues.get(name);
    if (!queue) {
      return false; // Unroutable, as on a real broker.
    }
    queue.messages.push(body);
    if (reason !== undefined) {
      queue.reasons.push(reason);
    }
    this.dispatch(name, queue);
    return true;
  }

  private dispatch(name: string, queue: MemoryQueue): void {
    for (const consumer of queue.consumers) {
      while (consumer.inFlight < consumer.prefetch && queue.messages.length > 0) {
        const body = queue.messages.shift() as Buffer;
        consumer.inFlight += 1;
        consumer.handler(this.delivery(name, queue, consumer, body));
      }
    }
  }

  private delivery(name: string, queue: MemoryQueue, consumer: Consumer, body: Buffer): Delivery {
    let settled = false;
    const settle = async (reason?: string): Promise<void> => {
      if (settled) {
        return;
      }
      settled = true;
      consumer.inFlight -= 1;
      if (reason !== undefined && queue.deadLetterExchange) {
        this.publish(queue.deadLetterExchange, '', body, reason);
      }
      // Settling frees a prefetch slot; deliver on a later tick, as a broker would.
      setImmediate(() => this.dispatch(name, queue));
    };
    return { body, redelivered: false, ack: () => settle(), nack: (reason) => settle(reason) };
  }

  private requireQueue(name: string): MemoryQueue {
    const queue = this.queues.get(name);
    if (!queue) {
      throw new BrokerError(ErrorCode.BrokerOperation, `no queue "${name}" in the in-process broker`);
    }
    return queue;
  }
}

const brokers = new Map<string, MemoryBroker>();

/** The in-process broker of a `memory://` host, created on first use. */
export function memoryBroker(host: string): MemoryBroker {
  let broker = brokers.get(host);
  if (!broker) {
    broker = new MemoryBroker();
    brokers.set(host, broker);
  }
  return broker;
}

const ACTIVE: ConsumerState = Object.freeze({ active: true });
const CANCELLED: ConsumerState = Object.freeze({ active: false, reason: 'cancelled' });

/** Transport over an in-process {@link MemoryBroker}. */
export class MemoryTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly protocol = 'memory' as const;
  readonly displayUrl: string;
  readonly nodeCount = 1;
  readonly stats: TransportStats = { unroutable: 0, reconnects: 0, consumerRestarts: 0, deadLettersDropped: 0, sessionTakeovers: 0 };
  private readonly broker: MemoryBroker;
  private tapCount = 0;

  get connectedTo(): string {
    return this.displayUrl;
  }

  constructor(url: URL) {
    super();
    this.displayUrl = `memory://${url.hostname}`;
    this.broker = memoryBroker(url.hostname);
  }

  async connect(): Promise<void> {}

  async close(): Promise<void> {}

  async createQueue(kind: QueueKind, queue: string): Promise<void> {
    this.broker.declareExchange(queue);
    if (kind === 'inqueue') {
      this.broker.declareQueue(queue, deadLetterQueueName(queue));
      this.broker.bind(queue, queue);
    }
  }

  async send(kind: QueueKind, queue: string, data: unknown): Promise<void> {
    const body = encode(data);
    // As on AMQP: to an inqueue through its own exchange when that routes it, else straight to the queue.
    const routed = this.broker.publish(queue, '', body) || (kind === 'inqueue' && this.broker.publish('', queue, body));
    if (!routed) {
      this.stats.unroutable += 1;
    }
  }

  async announce(message: ParticipantAnnouncement, _ttlMs: number): Promise<void> {
    this.broker.declareQueue(DISCOVERY_QUEUE);
    this.broker.publish('', DISCOVERY_QUEUE, encode(message));
  }

  async subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription> {
    const stop = this.broker.consume(queue, { prefetch: options.prefetch, inFlight: 0, handler });
    let active = true;
    const end = async (): Promise<void> => {
      active = false;
      stop();
    };
    return { cancel: end, close: end, state: () => (active ? ACTIVE : CANCELLED) };
  }

  async tap(queue: string, handler: (data: unknown) => void): Promise<Subscription> {
    this.tapCount += 1;
    const own = `tap-${queue}-${this.tapCount}`;
    this.broker.declareQueue(own);
    this.broker.bind(own, queue);
    const stop = this.readAll(own, handler);
    const cancel = async (): Promise<void> => {
      stop();
      this.broker.unbind(own, queue);
    };
    return { cancel, close: cancel, state: () => ACTIVE };
  }

  async consumeDiscovery(handler: (message: unknown) => void): Promise<Subscription> {
    this.broker.declareQueue(DISCOVERY_QUEUE);
    const stop = this.readAll(DISCOVERY_QUEUE, handler);
    return { cancel: async () => stop(), close: async () => stop(), state: () => ACTIVE };
  }

  async broadcast(topic: string, message: unknown): Promise<void> {
    this.broker.publish(topic, '', encode(message));
  }

  async inbox(handler: (message: unknown) => void): Promise<{ address: string; subscription: Subscription }> {
    this.tapCount += 1;
    const address = `${INBOX_PREFIX}${this.tapCount}-${Math.random().toString(36).slice(2)}`;
    this.broker.declareQueue(address);
    const stop = this.readAll(address, handler);
    const end = async (): Promise<void> => stop();
    return { address, subscription: { cancel: end, close: end, state: () => ACTIVE } };
  }

  async reply(address: string, message: unknown): Promise<void> {
    this.broker.publish('', address, encode(message));
  }

  async addBinding(binding: Binding): Promise<void> {
    // Round robin differs from pubsub only in how a broker spreads one
    // queue's messages; bound the same way here. As on AMQP, through the
    // target's own exchange when it has one.
    if (this.broker.hasExchange(binding.tgt)) {
      this.broker.bind(binding.tgt, binding.tgt);
      this.broker.bindExchange(binding.tgt, binding.src);
      this.broker.unbind(binding.tgt, binding.src);
    } else {
      this.broker.bind(binding.tgt, binding.src);
    }
    if (binding.deadletter) {
      this.broker.bind(binding.deadletter, deadLetterQueueName(binding.tgt));
    }
  }

  async removeBinding(binding: Binding): Promise<void> {
    this.broker.unbindExchange(binding.tgt, binding.src);
    this.broker.unbind(binding.tgt, binding.src);
    if (binding.deadletter) {
      this.broker.unbind(binding.deadletter, deadLetterQueueName(binding.tgt));
    }
  }

  /** The depth of one of the in-process broker's queues, as {@link MemoryBroker.queueDepth}: each message it holds counts until delivered. */
  async queueDepth(queue: string): Promise<QueueDepth | undefined> {
    return this.broker.queueDepth(queue);
  }

  /** Whether the in-process broker has an exchange `name`. */
  async hasExchange(name: string): Promise<boolean> {
    return this.broker.hasExchange(name);
  }

  /** Consume everything of a queue as it comes, decoded; returns the stop function. */
  private readAll(queue: string, handler: (data: unknown) => void): () => void {
    return this.broker.consume(queue, {
      prefetch: Number.MAX_SAFE_INTEGER,
      inFlight: 0,
      handler: (delivery) => {
        void delivery.ack();
        handler(decode(delivery.body));
      },
    });
  }
}
