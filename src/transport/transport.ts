/**
 * The transport seam: the few broker operations the runtime makes, promise
 * based. One implementation per broker protocol, chosen by URL scheme in
 * `./index.ts`. See WIRE: "AMQP 0-9-1 layout" and "MQTT layout".
 */

/**
 * Which side of a participant a queue is on. An inqueue is consumed from (on
 * AMQP: a queue, a fanout exchange of the same name bound to it, and a
 * dead-letter exchange); an outqueue is published to (on AMQP: a fanout
 * exchange).
 */
import type { DiscoveryMessage } from '../protocol/definition';

export type QueueKind = 'inqueue' | 'outqueue';

/** Options for declaring a queue. */
export interface QueueOptions {
  /** Durable (true, the default) or auto-deleted when unused. */
  persistent?: boolean;
}

/** A message delivered to a subscriber. Settle it exactly once. */
export interface Delivery {
  /** The decoded body: parsed JSON, or the text when it is not JSON. */
  readonly data: unknown;
  /** Size of the body in bytes. */
  readonly size: number;
  /** The message was handled: remove it from the queue. */
  ack(): void;
  /** The message failed: route it to the dead-letter queue. */
  nack(): void;
}

/** Options for consuming a queue. */
export interface SubscribeOptions {
  /** How many unsettled deliveries may be in flight at once. */
  prefetch: number;
}

/** A running subscription. */
export interface Subscription {
  /** Stop receiving new deliveries; unsettled ones may still be settled. */
  cancel(): Promise<void>;
}

/** A broker connection. */
export interface Transport {
  /** The URL scheme family, `amqp`, `mqtt` or `memory`. */
  readonly protocol: 'amqp' | 'mqtt' | 'memory';
  /** The broker URL with any password removed, safe to print. */
  readonly displayUrl: string;
  connect(): Promise<void>;
  /** Close the connection; outstanding publishes are flushed first. */
  close(): Promise<void>;
  /** Declare a queue of the given kind; idempotent. */
  createQueue(kind: QueueKind, queue: string, options?: QueueOptions): Promise<void>;
  /**
   * Publish a packet. To an `inqueue` it goes straight to the queue; to an
   * `outqueue` it goes to that queue's exchange, reaching whatever is bound.
   */
  send(kind: QueueKind, queue: string, data: unknown): Promise<void>;
  /**
   * Send a discovery message to the `fbp` queue, declared exactly as the
   * msgflo coordinator declares it (a plain durable queue).
   */
  announce(message: DiscoveryMessage): Promise<void>;
  /** Consume an inqueue. The handler must settle every delivery. */
  subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription>;
  /**
   * Receive what is published to an outqueue, with a private, auto-deleted
   * queue of our own bound to it (AMQP) or a plain subscription (MQTT).
   */
  tap(queue: string, handler: (data: unknown) => void): Promise<Subscription>;
}
