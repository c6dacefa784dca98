/**
 * The transport seam: the few broker operations the runtime makes, promise
 * based. One implementation per broker protocol, chosen by URL scheme in
 * `./index.ts`. See WIRE: "AMQP 0-9-1 layout" and "MQTT layout".
 */
import type { Binding } from '../protocol/bindings';
import type { ParticipantAnnouncement } from '../protocol/definition';
import type { WaitingNotice } from './waiting';

/**
 * Which side of a participant a queue is on. An inqueue is consumed from (on
 * AMQP: a queue, a fanout exchange of the same name bound to it, and a
 * dead-letter exchange); an outqueue is published to (on AMQP: a fanout
 * exchange).
 */
export type QueueKind = 'inqueue' | 'outqueue';

/** Options for declaring a queue. */
export interface QueueOptions {
  /** Durable (true, the default) or auto-deleted when unused. */
  persistent?: boolean;
  /** AMQP: the type of an inqueue (default classic). */
  queueType?: 'classic' | 'quorum';
  /** AMQP, quorum queues: deliveries of one message before RabbitMQ dead-letters it (default 5). */
  deliveryLimit?: number;
}

/** A message delivered to a subscriber. Settle it once; later calls do nothing. */
export interface Delivery {
  /** The body as received. */
  readonly body: Buffer;
  /** Whether the broker delivered this message before (AMQP `redelivered`, MQTT `dup`). */
  readonly redelivered: boolean;
  /**
   * The message was handled: remove it from the queue. Resolves when done,
   * or at once when the connection it came on is gone (the broker then
   * delivers it again).
   */
  ack(): Promise<void>;
  /**
   * The message failed: route it to the dead-letter queue `dead-<queue>`,
   * carrying `reason`.
   */
  nack(reason: string): Promise<void>;
}

/** Options for consuming a queue. */
export interface SubscribeOptions {
  /** How many unsettled deliveries may be in flight at once. */
  prefetch: number;
  /**
   * MQTT: a name that stays the same across restarts, from which the
   * consuming connections' client ids are made, so the broker keeps their
   * sessions (subscriptions and unacknowledged messages) while the
   * participant is away. Without it, random ids and clean sessions.
   */
  session?: string;
}

/**
 * Whether a subscription is being delivered to right now. A consumer that
 * the broker cancelled (its queue deleted, the node holding it gone), a
 * connection that is down, or an MQTT session the broker forgot all make it
 * inactive until the transport has restored it.
 */
export interface ConsumerState {
  readonly active: boolean;
  /** Why it is not active (for `/readyz` and logs); absent when active. */
  readonly reason?: string;
}

/** A running subscription. */
export interface Subscription {
  /** Whether the broker delivers to it now, and why not. */
  state(): ConsumerState;
  /** Stop receiving new deliveries; unsettled ones may still be settled. */
  cancel(): Promise<void>;
  /**
   * Release what the subscription holds (its channel or connections), after
   * cancel() and once its deliveries are settled: deliveries still unsettled
   * go back to the broker.
   */
  close(): Promise<void>;
}

/** Counters a transport keeps. */
export interface TransportStats {
  /** Publishes the broker could route nowhere (an outport with nothing bound). */
  unroutable: number;
  /** Connections re-established after a loss. */
  reconnects: number;
  /**
   * Consumers started again after the broker stopped delivering to them on a
   * live connection (AMQP consumer cancel notification, a consumer channel
   * closed; MQTT subscription forgotten by the broker).
   */
  consumerRestarts: number;
  /** Dead letters published to a `dead-<queue>` exchange that had no queue behind it (AMQP: returned), so not kept. */
  deadLettersDropped: number;
  /**
   * MQTT: connections closed because another client connected with their
   * client id (two processes with one `--client-id`), as recognised: an MQTT 5
   * DISCONNECT 0x8E, or connections closed right after connecting, again and
   * again.
   */
  sessionTakeovers: number;
}

/** Options for {@link Transport.send}. */
export interface SendOptions {
  /**
   * What an output the broker can route to no queue means (AMQP
   * `basic.return`; counted in {@link TransportStats.unroutable} either
   * way): `'ack'` (default) resolves, as MsgFlo does for an outport with
   * nothing bound; `'fail'` rejects with an {@link UnroutableError}, so the
   * job fails and its input is dead-lettered or delivered again. MQTT and
   * `memory://` cannot tell, and always resolve.
   */
  unroutable?: 'ack' | 'fail';
}

/** A queue as the broker reports it, read passively (nothing is declared). */
export interface QueueDepth {
  /** Messages ready for delivery (not counting those delivered and not yet acknowledged). */
  readonly messages: number;
  /** Consumers subscribed to it now. */
  readonly consumers: number;
}

/**
 * The answer to a broker query that a transport cannot make: MQTT keeps no
 * queues and no exchanges to ask about, only topics. Told apart from an
 * answer by {@link isUnavailable}.
 */
export interface Unavailable {
  readonly available: false;
  /** Why, in words fit to print after the protocol's name (`topics keep no queues to count`). */
  readonly reason: string;
}

/** Whether a broker query's answer is {@link Unavailable}. */
export function isUnavailable(answer: unknown): answer is Unavailable {
  return typeof answer === 'object' && answer !== null && (answer as Partial<Unavailable>).available === false;
}

/** Lifecycle notifications of a transport. */
export interface TransportEvents {
  /**
   * At start ({@link Transport.connect}), no node of the broker could be
   * reached yet and the transport keeps trying until its connect timeout:
   * emitted after the first failed pass over the nodes, then every few
   * seconds while it lasts.
   */
  waiting: [notice: WaitingNotice];
  /** The connection was lost; the transport is trying to get it back. */
  disconnected: [Error];
  /** The connection is back, topology and subscriptions restored. */
  reconnected: [];
  /** The broker stopped delivering to a consumer of `queue` on a live connection; the transport is restoring it. */
  consumerLost: [queue: string, reason: string];
  /** A consumer of `queue` lost on a live connection consumes again. */
  consumerRestored: [queue: string];
  /**
   * Something went wrong that the transport is working around or cannot
   * (a declaration failed during a reconnection, a dead letter was not kept);
   * said at the default log level. `queue` names the queue it is about, when
   * there is one, so that participants sharing a connection each say only
   * their own.
   */
  warning: [Error, queue?: string];
}

/** A broker connection. */
export interface Transport {
  on<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): unknown;
  once<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): unknown;
  off<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): unknown;
  /** The URL scheme family, `amqp`, `mqtt` or `memory`. */
  readonly protocol: 'amqp' | 'mqtt' | 'memory';
  /**
   * The broker URL (or the comma-separated list of URLs) as given, with every
   * password removed, safe to print; stable for the transport's life.
   */
  readonly displayUrl: string;
  /** The node connected to now, password removed; undefined while disconnected. */
  readonly connectedTo: string | undefined;
  /** How many broker URLs were given (the nodes of a cluster to fail over between). */
  readonly nodeCount: number;
  readonly stats: Readonly<TransportStats>;
  connect(): Promise<void>;
  /** Close the connection; outstanding publishes are flushed first. */
  close(): Promise<void>;
  /** Declare a queue of the given kind; idempotent, and redone after a reconnect. */
  createQueue(kind: QueueKind, queue: string, options?: QueueOptions): Promise<void>;
  /**
   * Publish a packet, resolving once the broker has it. To an `outqueue` it
   * goes to that queue's exchange, reaching whatever is bound. To an
   * `inqueue` it goes through the inqueue's own fanout exchange, bound to it,
   * when there is one (AMQP asks first, passively), so that a
   * {@link Transport.tap} of the inqueue sees it; else, or when that
   * exchange routes it nowhere, straight to the queue. While disconnected it
   * waits.
   */
  send(kind: QueueKind, queue: string, data: unknown, options?: SendOptions): Promise<void>;
  /**
   * Send an announcement to the `fbp` queue, declared exactly as the msgflo
   * coordinator declares it, expiring after `ttlMs` where the broker
   * supports it (a newer one will have replaced it by then).
   */
  announce(message: ParticipantAnnouncement, ttlMs: number): Promise<void>;
  /** Consume an inqueue. The handler must settle every delivery. */
  subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription>;
  /**
   * Receive what is published to an outqueue, or what reaches an inqueue
   * through its own exchange (on AMQP: what {@link Transport.send} and
   * bindings made by {@link Transport.addBinding} deliver, not what other
   * programs publish straight to the queue), with a private, auto-deleted
   * queue of our own bound to that exchange (AMQP) or a plain subscription
   * (MQTT). Takes nothing from the queue's consumers.
   */
  tap(queue: string, handler: (data: unknown) => void): Promise<Subscription>;
  /**
   * Receive every message sent to the `fbp` discovery queue (decoded). With
   * `hold`, a listener that only looks: on AMQP, where `fbp` is one queue
   * shared out among its consumers, the messages it gets are not removed but
   * go back to the queue, for the coordinator, once the subscription's
   * connection closes. (MQTT gives every subscriber every message anyway.)
   */
  consumeDiscovery(handler: (message: unknown) => void, options?: { hold?: boolean }): Promise<Subscription>;
  /**
   * Publish a message to every current listener of `topic` (see
   * {@link Transport.tap}): on AMQP to the fanout exchange of that name,
   * declared as an outqueue's if need be; on MQTT to the topic. Not
   * persistent, and with no listener it is dropped (not counted as
   * unroutable: this is no participant's output).
   */
  broadcast(topic: string, message: unknown): Promise<void>;
  /**
   * A private address that receives what {@link Transport.reply} sends to it
   * (decoded), while the subscription lasts: on AMQP an exclusive,
   * auto-deleted queue named `fbp.reply.<random>`, on MQTT a topic of that
   * name. Used to collect answers to a discovery request without sharing
   * the `fbp` queue.
   */
  inbox(handler: (message: unknown) => void): Promise<{ address: string; subscription: Subscription }>;
  /**
   * Send a message to an {@link Transport.inbox} address: not persistent, and
   * dropped by the broker when nobody listens there any more.
   */
  reply(address: string, message: unknown): Promise<void>;
  /**
   * Connect a source outqueue to a target inqueue. AMQP binds them (and
   * keeps the binding after the coordinator is gone), through the target's
   * own exchange when it has one, so that a tap of the target sees what
   * comes; MQTT, which cannot bind topics, forwards while this connection
   * lasts.
   */
  addBinding(binding: Binding): Promise<void>;
  /** Undo {@link Transport.addBinding}. */
  removeBinding(binding: Binding): Promise<void>;
  /**
   * How many messages wait in `queue` and how many consumers it has, asked
   * without declaring anything; `undefined` when there is no such queue. On
   * AMQP a passive `queue.declare` (amqplib `checkQueue`) on a channel of its
   * own, which RabbitMQ closes when the queue is missing (404 NOT_FOUND; the
   * next query opens another); `memory://` counts its own queues; MQTT
   * answers {@link Unavailable}. Throws {@link BrokerError}
   * (`EBROKEROP`) while disconnected, or when the broker fails to answer.
   */
  queueDepth(queue: string): Promise<QueueDepth | undefined | Unavailable>;
  /**
   * Whether there is an exchange `name` (on AMQP a passive
   * `exchange.declare`, amqplib `checkExchange`, asked as
   * {@link Transport.queueDepth} asks); `memory://` looks in its own; MQTT
   * answers {@link Unavailable}. Throws as {@link Transport.queueDepth}.
   */
  hasExchange(name: string): Promise<boolean | Unavailable>;
}
