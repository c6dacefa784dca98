/**
 * One broker connection per broker URL, shared by the participants of a
 * process. Each participant holds a lease that behaves as its own transport:
 * the connection opens with the first lease and closes with the last.
 */
import type { TransportOptions } from '../transport/options';
import type { Delivery, QueueDepth, QueueKind, QueueOptions, SendOptions, SubscribeOptions, Subscription, Transport, TransportEvents, TransportStats, Unavailable } from '../transport/transport';
import type { Binding } from '../protocol/bindings';
import type { ParticipantAnnouncement } from '../protocol/definition';
import { createTransport } from '../transport';

interface Entry {
  readonly transport: Transport;
  leases: number;
  connected: Promise<void> | undefined;
}

/** Shared transports, by URL and connection options. */
export class TransportPool {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly create: (url: string, options: TransportOptions) => Transport = createTransport) {}

  /** A transport for `url` sharing the connection with every other lease of the same URL and options. */
  lease(url: string, options: TransportOptions, key = `${url} ${options.connectTimeoutMs ?? ''} ${options.mqttQos ?? 1}`): Transport {
    let entry = this.entries.get(key);
    if (!entry) {
      const transport = this.create(url, options);
      // Every participant of the process listens to the shared connection's events.
      (transport as Partial<Pick<import('node:events').EventEmitter, 'setMaxListeners'>>).setMaxListeners?.(0);
      entry = { transport, leases: 0, connected: undefined };
      this.entries.set(key, entry);
    }
    entry.leases += 1;
    return new Lease(entry, () => {
      this.entries.delete(key);
    });
  }

  /** How many connections are open or opening. */
  get size(): number {
    return this.entries.size;
  }
}

class Lease implements Transport {
  private released = false;

  constructor(
    private readonly entry: Entry,
    private readonly onLast: () => void,
  ) {}

  get protocol(): Transport['protocol'] {
    return this.entry.transport.protocol;
  }

  get displayUrl(): string {
    return this.entry.transport.displayUrl;
  }

  get connectedTo(): string | undefined {
    return this.entry.transport.connectedTo;
  }

  get nodeCount(): number {
    return this.entry.transport.nodeCount;
  }

  get stats(): Readonly<TransportStats> {
    return this.entry.transport.stats;
  }

  on<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): this {
    this.entry.transport.on(event, listener as never);
    return this;
  }

  once<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): this {
    this.entry.transport.once(event, listener as never);
    return this;
  }

  off<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): this {
    this.entry.transport.off(event, listener as never);
    return this;
  }

  async connect(): Promise<void> {
    const entry = this.entry;
    entry.connected ??= entry.transport.connect().catch((err: unknown) => {
      entry.connected = undefined; // Let the next participant try again.
      throw err;
    });
    await entry.connected;
  }

  async close(): Promise<void> {
    if (this.released) {
      return;
    }
    this.released = true;
    this.entry.leases -= 1;
    if (this.entry.leases === 0) {
      this.onLast();
      await this.entry.transport.close();
    }
  }

  createQueue(kind: QueueKind, queue: string, options?: QueueOptions): Promise<void> {
    return this.entry.transport.createQueue(kind, queue, options);
  }

  send(kind: QueueKind, queue: string, data: unknown, options?: SendOptions): Promise<void> {
    return this.entry.transport.send(kind, queue, data, options);
  }

  announce(message: ParticipantAnnouncement, ttlMs: number): Promise<void> {
    return this.entry.transport.announce(message, ttlMs);
  }

  subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription> {
    return this.entry.transport.subscribe(queue, handler, options);
  }

  tap(queue: string, handler: (data: unknown) => void): Promise<Subscription> {
    return this.entry.transport.tap(queue, handler);
  }

  consumeDiscovery(handler: (message: unknown) => void, options?: { hold?: boolean }): Promise<Subscription> {
    return this.entry.transport.consumeDiscovery(handler, options);
  }

  broadcast(topic: string, message: unknown): Promise<void> {
    return this.entry.transport.broadcast(topic, message);
  }

  inbox(handler: (message: unknown) => void): Promise<{ address: string; subscription: Subscription }> {
    return this.entry.transport.inbox(handler);
  }

  reply(address: string, message: unknown): Promise<void> {
    return this.entry.transport.reply(address, message);
  }

  addBinding(binding: Binding): Promise<void> {
    return this.entry.transport.addBinding(binding);
  }

  removeBinding(binding: Binding): Promise<void> {
    return this.entry.transport.removeBinding(binding);
  }

  /** Asked on the shared connection, as its transport answers. */
  queueDepth(queue: string): Promise<QueueDepth | undefined | Unavailable> {
    return this.entry.transport.queueDepth(queue);
  }

  /** Asked on the shared connection, as its transport answers. */
  hasExchange(name: string): Promise<boolean | Unavailable> {
    return this.entry.transport.hasExchange(name);
  }
}
