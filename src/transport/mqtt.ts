/**
 * MQTT transport on mqtt.js. Every queue is a topic of the same name and
 * creating one is a no-op (WIRE: "MQTT layout").
 *
 * Delivery guarantees: QoS 1 both ways. An input's PUBACK is sent only when
 * its job is settled, through mqtt.js's `handleMessage` hook; mqtt.js reads
 * its socket one message at a time while that hook is pending, so each
 * consuming connection has one job in flight, and a prefetch of N opens N
 * connections that share the subscription (`$share/<group>/<topic>`). Outputs
 * go out on a connection of their own, so waiting for their PUBACKs never
 * waits on a pending input. With a client id, sessions are persistent
 * (clean=false): the broker keeps subscriptions and unacknowledged messages
 * while the participant is away. MQTT has no nack: a failed message is
 * republished on the topic `dead-<queue>`.
 */
import createDebug from 'debug';
import { EventEmitter } from 'node:events';
import * as mqtt from 'mqtt';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { decode, encode } from '../protocol/codec';
import { bindingKey, type Binding } from '../protocol/bindings';
import { DISCOVERY_QUEUE, deadLetterQueueName, type DiscoveryMessage } from '../protocol/definition';
import { backoffDelay, DEFAULT_CONNECT_TIMEOUT_MS, type TransportOptions } from './options';
import type { Delivery, QueueKind, SubscribeOptions, Subscription, Transport, TransportEvents, TransportStats } from './transport';
import { redactUrl } from './url';

const debug = createDebug('noflo-runtime-msgflo:mqtt');

/** Transport over MQTT connections: one for publishing, more for consuming. */
export class MqttTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly protocol = 'mqtt' as const;
  readonly displayUrl: string;
  // TODO(broker lists): the connected server.
  readonly connectedTo: string | undefined = undefined;
  readonly nodeCount: number = 1;
  readonly stats: TransportStats = { unroutable: 0, reconnects: 0, consumerRestarts: 0, deadLettersDropped: 0 };
  private readonly url: string;
  private readonly options: TransportOptions;
  private publisher: mqtt.MqttClient | undefined;
  private readonly clients = new Set<mqtt.MqttClient>();
  /** Handlers of what arrives on the publishing connection's subscriptions, by topic. */
  private readonly taps = new Map<string, Set<(payload: Buffer) => void>>();
  private readonly forwards = new Map<string, Subscription>();
  private sharedSupport: Promise<boolean> | undefined;

  constructor(urls: readonly string[], options: TransportOptions = {}) {
    super();
    // TODO(broker lists): only the first URL is used so far.
    this.url = urls[0] as string;
    this.options = options;
    this.displayUrl = redactUrl(this.url);
  }

  async connect(): Promise<void> {
    const publisher = await this.open(this.options.clientId);
    publisher.on('message', (topic, payload) => {
      for (const handler of this.taps.get(topic) ?? []) {
        handler(payload);
      }
    });
    let online = true;
    publisher.on('offline', () => {
      if (online) {
        online = false;
        this.emit('disconnected', new Error(`connection to ${this.displayUrl} lost`));
      }
    });
    publisher.on('connect', () => {
      if (!online) {
        online = true;
        this.stats.reconnects += 1;
        this.emit('reconnected');
      }
    });
    this.publisher = publisher;
  }

  async close(): Promise<void> {
    const clients = [...this.clients];
    this.clients.clear();
    this.publisher = undefined;
    await Promise.all(clients.map((client) => client.endAsync().catch((err: unknown) => debug('close: %s', errorMessage(err)))));
  }

  async createQueue(): Promise<void> {
    // Topics need no declaration.
  }

  send(_kind: QueueKind, queue: string, data: unknown): Promise<void> {
    // Not async functions awaiting each other: one promise per output, not three.
    let body: Buffer;
    try {
      body = encode(data);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.publish(queue, body);
  }

  async announce(message: DiscoveryMessage): Promise<void> {
    await this.publish(DISCOVERY_QUEUE, encode(message));
  }

  async subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription> {
    // Shared subscriptions make every consumer of a queue (this process's
    // connections, other processes of the role) share its messages, as on
    // AMQP; brokers without them (aedes) get the plain topic, one connection.
    const shared = await this.supportsSharedSubscriptions();
    if (!shared && options.prefetch > 1) {
      throw new BrokerError(
        ErrorCode.BrokerOperation,
        `cannot consume "${queue}" with prefetch ${options.prefetch}: the MQTT broker ${this.displayUrl} does not deliver to shared subscriptions ($share/...), which a prefetch above 1 needs; use --prefetch 1, or a broker with them (Mosquitto 2, EMQX, HiveMQ)`,
      );
    }
    const topic = shared ? `$share/${sharedGroup(queue)}/${queue}` : queue;
    const consumers: mqtt.MqttClient[] = [];
    let paused = false;
    for (let i = 0; i < options.prefetch; i += 1) {
      const connection: Connection = { generation: 0 };
      // Installed before connecting: a resumed session's messages arrive
      // right after CONNACK, and mqtt.js's default would PUBACK them unread.
      const session = options.session ? `${options.session}-${shared ? `${queue}-${i}` : queue}` : undefined;
      const consumer = await this.open(session, (client) => {
        client.on('close', () => {
          connection.generation += 1;
        });
        client.handleMessage = (packet, done) => {
          if (paused) {
            // Cancelled: leave it unacknowledged, and this connection blocked;
            // the broker gives it to the session again after we close.
            return;
          }
          handler(new MqttDelivery(this, queue, packet, connection, done));
        };
      });
      consumers.push(consumer);
      if (resumed.has(consumer)) {
        // The broker kept the session, subscription included, and is already
        // sending its backlog; a SUBACK would only come after that backlog.
        continue;
      }
      try {
        const [grant] = await consumer.subscribeAsync(topic, { qos: 1 });
        if (!grant || grant.qos > 2) {
          throw new Error(shared ? 'refused; a prefetch above 1 needs a broker with shared subscriptions (Mosquitto 2, EMQX, HiveMQ)' : 'refused by the broker');
        }
      } catch (cause) {
        await Promise.all(consumers.map((c) => this.end(c)));
        throw new BrokerError(ErrorCode.BrokerOperation, `cannot subscribe to MQTT topic "${topic}" on ${this.displayUrl}: ${errorMessage(cause)}`, { cause });
      }
    }
    debug('consuming "%s" on %d connection(s)', topic, consumers.length);
    return {
      state: () => ({ active: true }),
      cancel: async () => {
        // Stop taking messages, but keep the connections until close(): the
        // jobs in flight send their PUBACKs on them. Unsubscribing would drop
        // the persistent session's queued messages.
        paused = true;
      },
      close: async () => {
        paused = true;
        await Promise.all(consumers.map((c) => this.end(c)));
      },
    };
  }

  async tap(queue: string, handler: (data: unknown) => void): Promise<Subscription> {
    return this.listen(queue, (payload) => handler(decode(payload)));
  }

  async consumeDiscovery(handler: (message: unknown) => void): Promise<Subscription> {
    return this.tap(DISCOVERY_QUEUE, handler);
  }

  async addBinding(binding: Binding): Promise<void> {
    if (binding.type === 'roundrobin') {
      if (!(await this.supportsSharedSubscriptions())) {
        throw new BrokerError(
          ErrorCode.BrokerOperation,
          `cannot bind ${binding.src} -> ${binding.tgt} round robin: the MQTT broker ${this.displayUrl} does not deliver to shared subscriptions ($share/...), which round robin on MQTT needs (Mosquitto 2, EMQX, HiveMQ have them)`,
        );
      }
    }
    const key = bindingKey(binding);
    if (this.forwards.has(key)) {
      return;
    }
    // MQTT cannot bind topics: forward, for as long as this connection lasts.
    // Round robin needs nothing more: the target's consumers share one
    // subscription, so each forwarded message reaches one of them.
    const forward = (from: string, to: string): Promise<Subscription> =>
      this.listen(from, (payload) => {
        this.publish(to, payload).catch((err: unknown) => debug('forwarding to %s failed: %s', to, errorMessage(err)));
      });
    const subscriptions = [await forward(binding.src, binding.tgt)];
    if (binding.deadletter) {
      subscriptions.push(await forward(deadLetterQueueName(binding.tgt), binding.deadletter));
    }
    this.forwards.set(key, { state: () => ({ active: true }), cancel: async () => void (await Promise.all(subscriptions.map((s) => s.cancel()))), close: async () => undefined });
  }

  /**
   * Whether the broker delivers to shared subscriptions: some (aedes) accept
   * `$share/...` filters and then deliver nothing, so try one. Asked once.
   */
  private supportsSharedSubscriptions(): Promise<boolean> {
    this.sharedSupport ??= (async () => {
      const publisher = this.requirePublisher();
      const probe = `msgflo-probe-${Math.random().toString(36).slice(2)}`;
      let delivered: () => void = () => undefined;
      const arrived = new Promise<boolean>((resolve) => {
        delivered = () => resolve(true);
        setTimeout(() => resolve(false), 2000).unref();
      });
      this.taps.set(probe, new Set([() => delivered()]));
      try {
        const [grant] = await publisher.subscribeAsync(`$share/${probe}/${probe}`, { qos: 1 });
        if (!grant || grant.qos > 2) {
          return false;
        }
        await publisher.publishAsync(probe, 'probe', { qos: 1 });
        return await arrived;
      } finally {
        this.taps.delete(probe);
        await publisher.unsubscribeAsync(`$share/${probe}/${probe}`).catch(() => undefined);
      }
    })();
    return this.sharedSupport;
  }

  async removeBinding(binding: Binding): Promise<void> {
    const key = bindingKey(binding);
    const subscription = this.forwards.get(key);
    this.forwards.delete(key);
    await subscription?.cancel();
  }

  /** Subscribe the publishing connection to a topic, for one more handler. */
  private async listen(topic: string, handler: (payload: Buffer) => void): Promise<Subscription> {
    const publisher = this.requirePublisher();
    let handlers = this.taps.get(topic);
    if (!handlers) {
      handlers = new Set();
      this.taps.set(topic, handlers);
      await publisher.subscribeAsync(topic, { qos: 1 });
    }
    handlers.add(handler);
    const cancel = async (): Promise<void> => {
      const current = this.taps.get(topic);
      if (current?.delete(handler) && current.size === 0) {
        this.taps.delete(topic);
        await publisher.unsubscribeAsync(topic);
      }
    };
    return { cancel, close: cancel, state: () => ({ active: true }) };
  }

  /**
   * Open a connection, retrying for a bounded time at start; mqtt.js
   * reconnects it afterwards. `prepare` runs on the client before it connects.
   */
  private async open(clientId: string | undefined, prepare: (client: mqtt.MqttClient) => void = () => undefined): Promise<mqtt.MqttClient> {
    const options: mqtt.IClientOptions = {
      connectTimeout: 10_000,
      reconnectPeriod: 1000,
      keepalive: 60,
      ...(clientId ? { clientId, clean: false } : { clean: true }),
      ...this.options.tls,
    };
    const started = Date.now();
    const timeout = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const client = await connectPrepared(this.url, options, prepare);
        client.on('error', (err) => debug('client error: %s', err.message));
        this.clients.add(client);
        return client;
      } catch (cause) {
        const refused = /not authori[sz]ed|bad user ?name or password|connection refused: (bad|not)/i.test(errorMessage(cause));
        if (refused || Date.now() - started >= timeout) {
          const reason = refused ? 'access refused: check the user name and password' : errorMessage(cause);
          throw new BrokerError(ErrorCode.BrokerConnection, `cannot connect to MQTT broker ${this.displayUrl}: ${reason}`, { cause });
        }
        debug('connecting to %s failed (%s); retrying', this.displayUrl, errorMessage(cause));
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt)));
      }
    }
  }

  private async end(client: mqtt.MqttClient): Promise<void> {
    this.clients.delete(client);
    await client.endAsync().catch((err: unknown) => debug('close: %s', errorMessage(err)));
  }

  /** Publish at QoS 1, resolving on the broker's PUBACK. */
  publish(topic: string, payload: Buffer): Promise<void> {
    const publisher = this.publisher;
    if (!publisher) {
      return Promise.reject(new BrokerError(ErrorCode.BrokerOperation, `not connected to MQTT broker ${this.displayUrl}`));
    }
    return new Promise((resolve, reject) => {
      publisher.publish(topic, payload, QOS_1, (cause) => {
        if (cause) {
          reject(new BrokerError(ErrorCode.BrokerOperation, `publish to topic "${topic}" failed: ${errorMessage(cause)}`, { cause }));
        } else {
          resolve();
        }
      });
    });
  }

  private requirePublisher(): mqtt.MqttClient {
    if (!this.publisher) {
      throw new BrokerError(ErrorCode.BrokerOperation, `not connected to MQTT broker ${this.displayUrl}`);
    }
    return this.publisher;
  }
}

const QOS_1: mqtt.IClientPublishOptions = Object.freeze({ qos: 1 });

/** A consuming connection's count of reconnections, to tell a PUBACK meant for an earlier one. */
interface Connection {
  generation: number;
}

/**
 * A message delivered to a consumer; a class, not closures, as one is made
 * per message. Settling it sends the PUBACK. A PUBACK from a connection
 * since lost would acknowledge whatever the broker reuses the message id for
 * on the new one: it is dropped, and the broker redelivers the message.
 */
class MqttDelivery implements Delivery {
  readonly body: Buffer;
  readonly redelivered: boolean;
  private settled = false;
  private readonly generation: number;

  constructor(
    private readonly transport: MqttTransport,
    private readonly queue: string,
    packet: mqtt.IPublishPacket,
    private readonly connection: Connection,
    private readonly done: () => void,
  ) {
    this.body = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    this.redelivered = packet.dup === true;
    this.generation = connection.generation;
  }

  async ack(): Promise<void> {
    if (!this.settled) {
      this.settled = true;
      this.settle();
    }
  }

  async nack(reason: string): Promise<void> {
    if (this.settled) {
      return;
    }
    this.settled = true;
    const deadLetters = deadLetterQueueName(this.queue);
    debug('dead-lettering a message of "%s": %s', this.queue, reason);
    try {
      await this.transport.publish(deadLetters, this.body);
    } catch (err) {
      // Without its PUBACK the broker delivers the message again, so it is not lost.
      debug('could not dead-letter a message of "%s": %s', this.queue, errorMessage(err));
      return;
    }
    this.settle();
  }

  private settle(): void {
    if (this.connection.generation === this.generation) {
      this.done();
    }
  }
}

/** Clients whose broker session was still there when they connected. */
const resumed = new WeakSet<mqtt.MqttClient>();

/** Connect like mqtt.connectAsync without retries, with `prepare` run on the client first. */
function connectPrepared(url: string, options: mqtt.IClientOptions, prepare: (client: mqtt.MqttClient) => void): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(url, { ...options, reconnectPeriod: 0 });
  noDelay(client);
  client.on('connect', () => noDelay(client)); // A reconnection has a new socket.
  prepare(client);
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => {
      client.removeListener('connect', succeed);
      client.end(true);
      reject(err);
    };
    const failClosed = (): void => fail(new Error('connection closed before CONNACK'));
    const succeed = (connack: mqtt.IConnackPacket): void => {
      if (connack.sessionPresent) {
        resumed.add(client);
      }
      client.removeListener('error', fail);
      client.removeListener('close', failClosed);
      // Reconnect from now on; at start the caller retries on its own terms.
      client.options.reconnectPeriod = options.reconnectPeriod ?? 1000;
      resolve(client);
    };
    client.once('connect', succeed);
    client.once('error', fail);
    client.once('close', failClosed);
  });
}

/**
 * Send small packets at once. mqtt.js leaves Nagle's algorithm on, which
 * holds a PUBACK or a small PUBLISH until the broker acknowledges the
 * previous segment: 40 ms with delayed ACKs, per message when one is in
 * flight. WebSocket streams have no such switch.
 */
function noDelay(client: mqtt.MqttClient): void {
  const stream = client.stream as { setNoDelay?: (noDelay: boolean) => unknown } | undefined;
  if (typeof stream?.setNoDelay === 'function') {
    stream.setNoDelay(true);
  }
}

/** Shared-subscription group: named after the queue, so every process consuming it shares the work. */
function sharedGroup(queue: string): string {
  return queue.replace(/[/+#]/g, '_');
}
