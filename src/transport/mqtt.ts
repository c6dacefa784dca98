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
 *
 * Every connection keeps its own subscriptions (see {@link Link}): a broker
 * that no longer has the session (restarted without persistence, another
 * node of the list) is subscribed to again on every reconnection, whatever
 * mqtt.js remembers.
 */
import createDebug from 'debug';
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as mqtt from 'mqtt';
import { BrokerError, BrokerUrlError, ErrorCode, errorMessage } from '../errors';
import { decode, encode } from '../protocol/codec';
import { bindingKey, type Binding } from '../protocol/bindings';
import { DISCOVERY_QUEUE, deadLetterQueueName, type ParticipantAnnouncement } from '../protocol/definition';
import { backoffDelay, DEFAULT_CONNECT_TIMEOUT_MS, type TransportOptions } from './options';
import type { ConsumerState, Delivery, QueueKind, SubscribeOptions, Subscription, Transport, TransportEvents, TransportStats, Unavailable } from './transport';
import { inboxAddress } from './inbox';
import { redactUrl } from './url';
import { WaitingNotices } from './waiting';
import { CONSUMER_CLAIM_PREFIX, rememberOwnMqttClient } from './mqtt-clients';

const debug = createDebug('noflo-runtime-msgflo:mqtt');

/**
 * Default MQTT keepalive, in seconds: a broker that vanishes without closing
 * the socket is noticed within 1.5 times this (mqtt.js pings after one
 * keepalive of silence and gives up half a keepalive later), in line with the
 * AMQP side's heartbeat. Override it with `?keepalive=N` on the (first)
 * broker URL.
 */
export const DEFAULT_MQTT_KEEPALIVE_S = 15;

export { CONSUMER_CLAIM_PREFIX, isOwnMqttClient } from './mqtt-clients';

/**
 * Session takeovers. Two clients with one client id take the broker's
 * session from each other: the broker closes the older connection, which
 * reconnects a second later and closes the other, and so on forever. MQTT
 * 3.1.1 brokers just close the socket ("already connected, closing old
 * connection"); MQTT 5 sends DISCONNECT 0x8E first. A connection of a fixed
 * client id closed within {@link TAKEOVER_WINDOW_MS} of its CONNACK, {@link
 * TAKEOVER_STREAK} times in a row, is taken to be taken over.
 */
const TAKEOVER_WINDOW_MS = 5000;
const TAKEOVER_STREAK = 3;
/** MQTT 5 DISCONNECT reason code: Session taken over. */
const SESSION_TAKEN_OVER = 0x8e;

/** The answers of {@link MqttTransport.queueDepth} and {@link MqttTransport.hasExchange}: a topic keeps nothing to ask about. */
const NO_QUEUES: Unavailable = Object.freeze({ available: false, reason: 'topics keep no queues to count' });
const NO_EXCHANGES: Unavailable = Object.freeze({ available: false, reason: 'topics are not routed through exchanges' });

/**
 * Transport over MQTT connections: one for publishing, more for consuming.
 *
 * **Broker lists.** The URLs name nodes of one broker (a cluster, or a
 * failover pair). Every connection starts from a random one, so that
 * participants spread out, and each reconnection tries the next (mqtt.js
 * `servers`). Scheme, host and port come from each URL; the user name,
 * password and `?keepalive=` from the first (a later URL may repeat them,
 * not differ). {@link displayUrl} is the list; {@link connectedTo} the node
 * the publishing connection is on now.
 *
 * **Keepalive.** {@link DEFAULT_MQTT_KEEPALIVE_S} (15 s) unless the first URL
 * says otherwise: `mqtt://host:1883?keepalive=30` (whole seconds, `0` turns
 * it off). mqtt.js itself takes no keepalive from a URL; this transport reads
 * it. While a consuming connection holds a job, the broker's answers to its
 * pings wait behind that job, so there it keeps pinging but does not time out:
 * a long job is not mistaken for a dead broker (and delivered again forever).
 *
 * **Subscriptions** report whether the broker delivers to them now
 * ({@link Subscription.state}): not while their connection is down, nor
 * between a reconnection that found no session and the SUBACK of the
 * SUBSCRIBE sent again. A consumer with a persistent session (a session
 * name) that the broker no longer had on reconnection is counted in
 * {@link TransportStats.consumerRestarts} and announced with `consumerLost` /
 * `consumerRestored`.
 */
export class MqttTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly protocol = 'mqtt' as const;
  readonly displayUrl: string;
  readonly nodeCount: number;
  readonly stats: TransportStats = { unroutable: 0, reconnects: 0, consumerRestarts: 0, deadLettersDropped: 0, sessionTakeovers: 0 };
  private readonly endpoints: Endpoints;
  private readonly options: TransportOptions;
  private publisher: Link | undefined;
  private readonly links = new Set<Link>();
  /** Handlers of what arrives on the publishing connection's subscriptions, by topic. */
  private readonly taps = new Map<string, Set<(payload: Buffer) => void>>();
  private readonly forwards = new Map<string, Subscription>();
  private sharedSupport: Promise<boolean> | undefined;
  /** Queues this transport consumes on a broker without shared subscriptions. */
  private readonly claimed = new Set<string>();
  /** A session takeover was said: once is enough. */
  private takeoverSaid = false;
  /** QoS of outputs and of the inqueues' subscriptions ({@link TransportOptions.mqttQos}). */
  private readonly qos: QosOption;

  /**
   * @param urls - `mqtt://` / `mqtts://` URLs of one broker's nodes, as
   *   {@link parseBrokerList} gives them; throws {@link BrokerUrlError} when
   *   they disagree on credentials or keepalive, or a keepalive is not valid
   */
  constructor(urls: readonly string[], options: TransportOptions = {}) {
    super();
    this.endpoints = parseEndpoints(urls);
    this.displayUrl = this.endpoints.servers.map((server) => server.display).join(',');
    this.nodeCount = this.endpoints.servers.length;
    this.options = options;
    this.qos = options.mqttQos === 0 ? QOS_0 : QOS_1;
  }

  /** The node the publishing connection is on now, without password; undefined while it is down. */
  get connectedTo(): string | undefined {
    return this.publisher?.connectedTo;
  }

  async connect(): Promise<void> {
    const publisher = await this.open(this.options.clientId);
    const client = publisher.client;
    client.on('message', (topic, payload) => {
      for (const handler of this.taps.get(topic) ?? []) {
        handler(payload);
      }
    });
    let online = true;
    client.on('offline', () => {
      if (online) {
        online = false;
        this.emit('disconnected', new Error(`connection to ${publisher.server.display} lost`));
      }
    });
    // Registered after the link's own 'connect' listener: its SUBSCRIBEs are
    // on the wire before anything published once we say we are back, and the
    // broker handles a client's packets in order.
    client.on('connect', () => {
      if (!online) {
        online = true;
        this.stats.reconnects += 1;
        this.emit('reconnected');
      }
    });
    this.publisher = publisher;
  }

  async close(): Promise<void> {
    const links = [...this.links];
    this.links.clear();
    this.publisher = undefined;
    await Promise.all(links.map((link) => link.end()));
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

  async announce(message: ParticipantAnnouncement): Promise<void> {
    // Always QoS 1: a coordinator that misses one waits a discovery period.
    await this.publish(DISCOVERY_QUEUE, encode(message), QOS_1);
  }

  async subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription> {
    // Shared subscriptions make every consumer of a queue (this process's
    // connections, other processes of the role) share its messages, as on
    // AMQP; brokers without them (aedes) get the plain topic, one connection.
    const shared = await this.supportsSharedSubscriptions();
    if (!shared && options.prefetch > 1) {
      throw new BrokerError(
        ErrorCode.BrokerOperation,
        `cannot consume "${queue}" with prefetch ${options.prefetch}: the MQTT broker ${this.connectedTo ?? this.displayUrl} does not deliver to shared subscriptions ($share/...), which a prefetch above 1 needs; use --prefetch 1, or a broker with them (Mosquitto 2, EMQX, HiveMQ)`,
      );
    }
    const release = shared ? undefined : await this.claim(queue);
    const topic = shared ? `$share/${sharedGroup(queue)}/${queue}` : queue;
    const consumers: Link[] = [];
    let paused = false;
    // Connections whose subscription the broker forgot, being subscribed again: one consumer restart while any is.
    const lost = new Set<number>();
    const hooks = (index: number): LinkHooks => ({
      queue,
      qos: this.qos,
      lost: (_topic, server) => {
        if (lost.size === 0) {
          this.stats.consumerRestarts += 1;
          this.emit('consumerLost', queue, `the broker ${server.display} had no session for a consumer of "${queue}" on reconnection (restarted without persistence, or another node); subscribing again`);
        }
        lost.add(index);
      },
      restored: () => {
        if (lost.delete(index) && lost.size === 0) {
          this.emit('consumerRestored', queue);
        }
      },
    });
    for (let i = 0; i < options.prefetch; i += 1) {
      const connection: Connection = { generation: 0 };
      let holding = false;
      // Installed before connecting: a resumed session's messages arrive
      // right after CONNACK, and mqtt.js's default would PUBACK them unread.
      const session = options.session ? `${options.session}-${shared ? `${queue}-${i}` : queue}` : undefined;
      const prepare = (client: mqtt.MqttClient): void => {
        client.on('close', () => {
          connection.generation += 1;
          holding = false;
        });
        client.handleMessage = (packet, done) => {
          holding = true;
          if (paused) {
            // Cancelled: leave it unacknowledged, and this connection blocked;
            // the broker gives it to the session again after we close.
            return;
          }
          handler(
            new MqttDelivery(this, queue, packet, connection, () => {
              holding = false;
              done();
            }),
          );
        };
        keepAliveWhileHolding(client, () => holding);
      };
      let consumer: Link;
      try {
        consumer = await this.open(session, prepare, hooks(i));
      } catch (err) {
        await Promise.all(consumers.map((c) => this.end(c)));
        await release?.();
        throw err;
      }
      consumers.push(consumer);
      if (consumer.resumed) {
        // The broker kept the session, subscription included, and is already
        // sending its backlog; a SUBACK would only come after that backlog,
        // so the SUBSCRIBE that makes sure of it is not waited for.
        consumer.assume(topic);
        continue;
      }
      try {
        await consumer.add(topic);
      } catch (cause) {
        await Promise.all(consumers.map((c) => this.end(c)));
        await release?.();
        const hint = shared ? '; a prefetch above 1 needs a broker with shared subscriptions (Mosquitto 2, EMQX, HiveMQ)' : '';
        throw new BrokerError(ErrorCode.BrokerOperation, `cannot subscribe to MQTT topic "${topic}" on ${consumer.server.display}: ${errorMessage(cause)}${hint}`, { cause });
      }
    }
    debug('consuming "%s" on %d connection(s)', topic, consumers.length);
    return {
      state: () => (paused ? CANCELLED : worst(consumers.map((c) => c.state(topic)))),
      cancel: async () => {
        // Stop taking messages, but keep the connections until close(): the
        // jobs in flight send their PUBACKs on them. Unsubscribing would drop
        // the persistent session's queued messages.
        paused = true;
      },
      close: async () => {
        paused = true;
        await Promise.all(consumers.map((c) => this.end(c)));
        await release?.();
      },
    };
  }

  /**
   * Claim `queue` for this process's only consumer ({@link
   * CONSUMER_CLAIM_PREFIX}), on a broker without shared subscriptions;
   * throws when another consumer, of this process or another, has it.
   * Resolves with the release.
   */
  private async claim(queue: string): Promise<() => Promise<void>> {
    const publisher = this.requirePublisher();
    const topic = `${CONSUMER_CLAIM_PREFIX}${queue}`;
    const refuse = (who: string, cause?: unknown): BrokerError =>
      new BrokerError(
        ErrorCode.BrokerOperation,
        `cannot consume "${queue}": ${who} consumes it already, and the MQTT broker ${publisher.server.display} has no shared subscriptions (the embedded broker has none), so each consumer would do every job; to run several participants of a role, use a real broker (Mosquitto 2, RabbitMQ)`,
        cause === undefined ? undefined : { cause },
      );
    if (this.claimed.has(queue)) {
      throw refuse('another participant of this process');
    }
    try {
      await publisher.add(topic);
    } catch (cause) {
      throw refuse('another process', new Error(`the broker refused the claim "${topic}": ${errorMessage(cause)}`, { cause }));
    }
    this.claimed.add(queue);
    let released = false;
    return async () => {
      if (!released) {
        released = true;
        this.claimed.delete(queue);
        await publisher.remove(topic);
      }
    };
  }

  async tap(queue: string, handler: (data: unknown) => void): Promise<Subscription> {
    return this.listen(queue, (payload) => handler(decode(payload)));
  }

  async consumeDiscovery(handler: (message: unknown) => void): Promise<Subscription> {
    return this.tap(DISCOVERY_QUEUE, handler);
  }

  async broadcast(topic: string, message: unknown): Promise<void> {
    await this.send('outqueue', topic, message);
  }

  async inbox(handler: (message: unknown) => void): Promise<{ address: string; subscription: Subscription }> {
    const address = inboxAddress();
    return { address, subscription: await this.tap(address, handler) };
  }

  async reply(address: string, message: unknown): Promise<void> {
    await this.send('inqueue', address, message);
  }

  async addBinding(binding: Binding): Promise<void> {
    if (binding.type === 'roundrobin') {
      if (!(await this.supportsSharedSubscriptions())) {
        throw new BrokerError(
          ErrorCode.BrokerOperation,
          `cannot bind ${binding.src} -> ${binding.tgt} round robin: the MQTT broker ${this.connectedTo ?? this.displayUrl} does not deliver to shared subscriptions ($share/...), which round robin on MQTT needs (Mosquitto 2, EMQX, HiveMQ have them)`,
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
    this.forwards.set(key, {
      state: () => worst(subscriptions.map((s) => s.state())),
      cancel: async () => void (await Promise.all(subscriptions.map((s) => s.cancel()))),
      close: async () => undefined,
    });
  }

  /**
   * Whether the broker delivers to shared subscriptions: some (aedes) accept
   * `$share/...` filters and then deliver nothing, so try one. Asked once.
   */
  private supportsSharedSubscriptions(): Promise<boolean> {
    this.sharedSupport ??= (async () => {
      const publisher = this.requirePublisher().client;
      const probe = `msgflo-probe-${Math.random().toString(36).slice(2)}`;
      let delivered: () => void = () => undefined;
      const arrived = new Promise<boolean>((resolve) => {
        delivered = () => resolve(true);
        setTimeout(() => resolve(false), 2000).unref();
      });
      this.taps.set(probe, new Set([() => delivered()]));
      try {
        const [grant] = await publisher.subscribeAsync(`$share/${probe}/${probe}`, QOS_1);
        if (!grant || grant.qos > 2) {
          return false;
        }
        await publisher.publishAsync(probe, 'probe', QOS_1);
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

  /** Not available: a topic keeps no messages for later, so there is nothing to count (see {@link Unavailable}). */
  async queueDepth(): Promise<Unavailable> {
    return NO_QUEUES;
  }

  /** Not available: MQTT has no exchanges, only topics (see {@link Unavailable}). */
  async hasExchange(): Promise<Unavailable> {
    return NO_EXCHANGES;
  }

  /** Subscribe the publishing connection to a topic, for one more handler. */
  private async listen(topic: string, handler: (payload: Buffer) => void): Promise<Subscription> {
    const publisher = this.requirePublisher();
    let handlers = this.taps.get(topic);
    if (!handlers) {
      handlers = new Set();
      this.taps.set(topic, handlers);
      try {
        await publisher.add(topic);
      } catch (cause) {
        this.taps.delete(topic);
        throw new BrokerError(ErrorCode.BrokerOperation, `cannot subscribe to MQTT topic "${topic}" on ${publisher.server.display}: ${errorMessage(cause)}`, { cause });
      }
    }
    handlers.add(handler);
    let cancelled = false;
    const cancel = async (): Promise<void> => {
      cancelled = true;
      const current = this.taps.get(topic);
      if (current?.delete(handler) && current.size === 0) {
        this.taps.delete(topic);
        await publisher.remove(topic);
      }
    };
    return { cancel, close: cancel, state: () => (cancelled ? CANCELLED : publisher.state(topic)) };
  }

  /**
   * Open a connection, retrying for a bounded time at start, each attempt on
   * the next node of the list from a random one; mqtt.js reconnects it
   * afterwards, going on round the list. `prepare` runs on the client before
   * it connects.
   */
  private async open(clientId: string | undefined, prepare: (client: mqtt.MqttClient) => void = () => undefined, hooks: LinkHooks = {}): Promise<Link> {
    const { servers, username, password, keepalive } = this.endpoints;
    const mixed = servers.some((server) => server.protocol !== servers[0]?.protocol);
    const first = randomInt(servers.length);
    const started = Date.now();
    const timeout = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    // Said only while the transport connects: later links are opened to a broker that answered.
    const notices = this.publisher ? undefined : new WaitingNotices(timeout, (notice) => this.emit('waiting', notice));
    for (let attempt = 1; ; attempt += 1) {
      const order = rotate(servers, first + attempt - 1);
      const head = order[0] as Server;
      const options: mqtt.IClientOptions = {
        // The scheme per node only when they differ: otherwise mqtt.js's own
        // choice stands (it turns mqtt into mqtts when given a client certificate).
        servers: order.map(({ host, port, protocol }) => (mixed ? { host, port, protocol } : { host, port })),
        host: head.host,
        port: head.port,
        protocol: head.protocol,
        ...(username ? { username } : {}),
        ...(password ? { password } : {}),
        connectTimeout: 10_000,
        reconnectPeriod: 1000,
        keepalive,
        // Link subscribes again itself, knowing what mqtt.js does not: what a resumed session held.
        resubscribe: false,
        ...(clientId ? { clientId, clean: false } : { clean: true }),
        ...this.options.tls,
      };
      try {
        const { client, connack } = await connectPrepared(options, prepare);
        client.on('error', (err) => debug('client error: %s', err.message));
        const link = new Link(client, servers, connack.sessionPresent, (err) => this.warn(err, hooks.queue), hooks, (count) => this.takenOver(client.options.clientId, count, hooks.queue));
        this.links.add(link);
        debug('connected to %s as %s (%s)', link.server.display, client.options.clientId, connack.sessionPresent ? 'session resumed' : 'new session');
        return link;
      } catch (cause) {
        const refused = /not authori[sz]ed|bad user ?name or password|connection refused: (bad|not)/i.test(errorMessage(cause));
        if (refused || Date.now() - started >= timeout) {
          const reason = refused ? 'access refused: check the user name and password' : errorMessage(cause);
          const last = servers.length > 1 ? ` (${attempt} attempts round the list, the last to ${head.display})` : '';
          throw new BrokerError(ErrorCode.BrokerConnection, `cannot connect to MQTT broker ${this.displayUrl}: ${reason}${last}`, { cause });
        }
        debug('connecting to %s failed (%s); retrying', head.display, errorMessage(cause));
        if (attempt % servers.length === 0) {
          notices?.failed(head.display, cause);
        }
        // Not past the connect timeout: the last attempt is made when it is up.
        await new Promise((resolve) => setTimeout(resolve, Math.min(backoffDelay(attempt), Math.max(0, started + timeout - Date.now()))));
      }
    }
  }

  /** `count` more connections of `clientId` were taken over by another client: counted, and said once. */
  private takenOver(clientId: string | undefined, count: number, queue: string | undefined): void {
    this.stats.sessionTakeovers += count;
    if (!this.takeoverSaid) {
      this.takeoverSaid = true;
      this.warn(new Error(`another client took over the MQTT session "${clientId ?? ''}" (two processes with one --client-id?): give each process its own --client-id`), queue);
    }
  }

  private async end(link: Link): Promise<void> {
    this.links.delete(link);
    await link.end();
  }

  private warn(err: Error, queue: string | undefined): void {
    debug('warning: %s', err.message);
    if (queue === undefined) {
      this.emit('warning', err);
    } else {
      this.emit('warning', err, queue);
    }
  }

  /**
   * Publish at the transport's QoS ({@link TransportOptions.mqttQos}, default
   * 1), resolving on the broker's PUBACK; at QoS 0, once written to the socket.
   */
  publish(topic: string, payload: Buffer, qos: QosOption = this.qos): Promise<void> {
    const publisher = this.publisher?.client;
    if (!publisher) {
      return Promise.reject(new BrokerError(ErrorCode.BrokerOperation, `not connected to MQTT broker ${this.displayUrl}`));
    }
    return new Promise((resolve, reject) => {
      publisher.publish(topic, payload, qos, (cause) => {
        if (cause) {
          reject(new BrokerError(ErrorCode.BrokerOperation, `publish to topic "${topic}" failed: ${errorMessage(cause)}`, { cause }));
        } else {
          resolve();
        }
      });
    });
  }

  private requirePublisher(): Link {
    if (!this.publisher) {
      throw new BrokerError(ErrorCode.BrokerOperation, `not connected to MQTT broker ${this.displayUrl}`);
    }
    return this.publisher;
  }
}

/** The QoS of publishes and subscriptions, as mqtt.js takes it. */
type QosOption = Readonly<{ qos: 0 | 1 }>;
const QOS_1: QosOption = Object.freeze({ qos: 1 }) satisfies mqtt.IClientPublishOptions & mqtt.IClientSubscribeOptions;
const QOS_0: QosOption = Object.freeze({ qos: 0 }) satisfies mqtt.IClientPublishOptions & mqtt.IClientSubscribeOptions;
const ACTIVE: ConsumerState = Object.freeze({ active: true });
const CANCELLED: ConsumerState = Object.freeze({ active: false, reason: 'cancelled' });

/** The first inactive state of several, or active. */
function worst(states: readonly ConsumerState[]): ConsumerState {
  return states.find((state) => !state.active) ?? ACTIVE;
}

// ---------------------------------------------------------------------------
// Broker lists

/** A node of the broker, as mqtt.js's `servers` option takes it, and how to print it. */
interface Server {
  readonly host: string;
  readonly port: number;
  readonly protocol: 'mqtt' | 'mqtts';
  /** Its URL without password. */
  readonly display: string;
}

/** What a URL list says about connecting. */
interface Endpoints {
  readonly servers: readonly Server[];
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Seconds. */
  readonly keepalive: number;
}

/**
 * The nodes of a URL list, with the connection settings of its first URL.
 * A later URL may leave them out or repeat them; one that says otherwise is
 * refused rather than silently overruled.
 */
function parseEndpoints(urls: readonly string[]): Endpoints {
  if (urls.length === 0) {
    throw new BrokerUrlError('no MQTT broker URL given');
  }
  let settings: { username: string; password: string; keepalive: string | null } | undefined;
  const servers = urls.map((raw, index): Server => {
    const where = urls.length > 1 ? `broker URL ${index + 1} of ${urls.length} "${redactUrl(raw)}"` : `broker URL "${redactUrl(raw)}"`;
    let url: URL;
    try {
      url = new URL(raw);
    } catch (cause) {
      throw new BrokerUrlError(`invalid ${where}: not a URL`, { cause });
    }
    if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') {
      throw new BrokerUrlError(`invalid ${where}: not mqtt:// or mqtts://`);
    }
    const protocol = url.protocol === 'mqtts:' ? 'mqtts' : 'mqtt';
    const own = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password), keepalive: url.searchParams.get('keepalive') };
    if (!settings) {
      settings = own;
    } else if ((own.username && own.username !== settings.username) || (own.password && own.password !== settings.password)) {
      throw new BrokerUrlError(`${where}: its user name or password differs from the first URL's; the nodes of one broker take one set, given in the first URL`);
    } else if (own.keepalive !== null && own.keepalive !== settings.keepalive) {
      throw new BrokerUrlError(`${where}: its keepalive differs from the first URL's; give it once, in the first URL`);
    }
    return {
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port ? Number(url.port) : protocol === 'mqtts' ? 8883 : 1883,
      protocol,
      display: redactUrl(raw),
    };
  });
  const { username, password, keepalive } = settings as NonNullable<typeof settings>;
  return { servers, username: username || undefined, password: password || undefined, keepalive: parseKeepalive(keepalive, urls[0] as string) };
}

function parseKeepalive(value: string | null, url: string): number {
  if (value === null) {
    return DEFAULT_MQTT_KEEPALIVE_S;
  }
  const seconds = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(seconds <= 65535)) {
    throw new BrokerUrlError(`invalid keepalive "${value}" in broker URL "${redactUrl(url)}": expected whole seconds, 0 (off) to 65535`);
  }
  return seconds;
}

/** `items` starting from index `from` (modulo its length), wrapping round. */
function rotate<T>(items: readonly T[], from: number): T[] {
  const start = from % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

/** The node a client is connected to (mqtt.js sets host and port of the one it tries). */
function serverOf(client: mqtt.MqttClient, servers: readonly Server[]): Server {
  const { host, port } = client.options;
  return servers.find((server) => server.host === host && server.port === port) ?? (servers[0] as Server);
}

// ---------------------------------------------------------------------------
// Connections and the subscriptions they keep

/** What a {@link Link} tells its owner about subscriptions the broker forgot. */
interface LinkHooks {
  /** The queue a consuming connection is for, named in its warnings. */
  queue?: string;
  /** QoS of its subscriptions; default 1. */
  qos?: QosOption;
  /** The broker (`server`) no longer has `topic`, subscribed before in a persistent session (a reconnection found none); subscribing again. */
  lost?(topic: string, server: Server): void;
  /** `topic`, lost, is subscribed again. */
  restored?(topic: string): void;
}

/** A topic a link keeps subscribed. */
interface Wanted {
  /** The broker has it: SUBACKed, or in the session the broker resumed. */
  subscribed: boolean;
  /** Forgotten with the broker's session; subscribing again. */
  lost: boolean;
  /** Why the last SUBSCRIBE failed, while retrying. */
  failure: string | undefined;
  /** Never subscribed yet: a refusal goes back to the caller of {@link Link.add} rather than being retried. */
  initial: boolean;
  /** Failed SUBSCRIBEs in a row, for the backoff. */
  attempt: number;
  retry: NodeJS.Timeout | undefined;
  /** Callers of {@link Link.add} waiting for its first SUBACK. */
  waiters: Array<{ resolve(): void; reject(err: Error): void }>;
}

/**
 * One MQTT client and the topics it keeps subscribed. On every CONNACK
 * without a session (`sessionPresent: false`) it subscribes to all of them
 * again, and to those not yet confirmed whatever the CONNACK says; a failing
 * SUBSCRIBE is retried with backoff. mqtt.js's own `resubscribe` is off: it
 * only knows topics subscribed on this client object, so a session resumed
 * at start (nothing subscribed here) would stay deaf after the broker lost it.
 */
class Link {
  /** Whether the broker's session was there at the first CONNACK. */
  readonly resumed: boolean;
  private online = true;
  private ended = false;
  /** Bumped on every lost connection, so that a SUBACK or failure of an earlier one is ignored. */
  private generation = 0;
  private current: Server;
  private readonly wanted = new Map<string, Wanted>();
  /** When the connection got its CONNACK; undefined while it is down. */
  private connectedAt: number | undefined = Date.now();
  /** Connections in a row closed within {@link TAKEOVER_WINDOW_MS} of their CONNACK. */
  private shortLived = 0;
  /** Of those, the ones not yet counted as taken over. */
  private uncounted = 0;
  /** The broker said (MQTT 5) that another client took the session over. */
  private takenOver = false;
  /** When the last connection recognised as taken over closed. */
  private lastTakeover: number | undefined;

  /** @param onTakeover - called with how many more connections were recognised as taken over by another client */
  constructor(
    readonly client: mqtt.MqttClient,
    private readonly servers: readonly Server[],
    sessionPresent: boolean,
    private readonly warn: (err: Error) => void,
    private readonly hooks: LinkHooks,
    private readonly onTakeover: (count: number) => void = () => undefined,
  ) {
    this.resumed = sessionPresent;
    this.current = serverOf(client, servers);
    rememberOwnMqttClient(client.options.clientId ?? '');
    client.on('disconnect', (packet) => {
      this.takenOver ||= packet.reasonCode === SESSION_TAKEN_OVER;
    });
    client.on('close', () => {
      this.online = false;
      this.generation += 1;
      this.noticeTakeover();
      for (const entry of this.wanted.values()) {
        clearTimeout(entry.retry);
        entry.retry = undefined;
      }
      // mqtts: mqtt.js keeps the first node's name for TLS verification on every reconnection; the next node needs its own.
      delete client.options.servername;
    });
    client.on('connect', (connack) => this.connected(connack));
  }

  /** The node it is connected to now, or was last. */
  get server(): Server {
    return this.current;
  }

  /** The node it is connected to now; undefined while the connection is down. */
  get connectedTo(): string | undefined {
    return this.online && !this.ended ? this.current.display : undefined;
  }

  /**
   * Keep `topic` subscribed; resolves on its first SUBACK (waiting for the
   * connection if it is down), rejects if that first SUBSCRIBE is refused.
   */
  add(topic: string): Promise<void> {
    const existing = this.wanted.get(topic);
    if (existing?.subscribed) {
      return Promise.resolve();
    }
    const entry = existing ?? this.want(topic, false);
    const subscribed = new Promise<void>((resolve, reject) => entry.waiters.push({ resolve, reject }));
    if (!existing && this.online) {
      this.subscribe(topic, entry);
    }
    return subscribed;
  }

  /**
   * Keep `topic` subscribed, taking the resumed session to have it already.
   * A SUBSCRIBE still makes sure of it (the session may come from a run that
   * stopped before its SUBACK); the broker replaces the subscription with
   * the same one, without interrupting deliveries.
   */
  assume(topic: string): void {
    const entry = this.want(topic, true);
    if (this.online) {
      this.subscribe(topic, entry);
    }
  }

  /** Stop keeping `topic` subscribed, and unsubscribe it. */
  async remove(topic: string): Promise<void> {
    const entry = this.wanted.get(topic);
    if (!entry) {
      return;
    }
    this.wanted.delete(topic);
    clearTimeout(entry.retry);
    for (const waiter of entry.waiters.splice(0)) {
      waiter.reject(new Error('cancelled'));
    }
    if (this.online) {
      // Best effort: a connection lost meanwhile has no subscription to remove (clean session) or drops it with the session.
      await this.client.unsubscribeAsync(topic).catch((err: unknown) => debug('unsubscribe %s: %s', topic, errorMessage(err)));
    }
  }

  /** Whether the broker delivers `topic` on this connection now. */
  state(topic: string): ConsumerState {
    if (this.ended) {
      return { active: false, reason: 'closed' };
    }
    if (this.lastTakeover !== undefined && Date.now() - this.lastTakeover < TAKEOVER_WINDOW_MS) {
      // Connected half the time at best, and each time at the other client's expense.
      return { active: false, reason: `another client keeps taking over the MQTT session "${this.client.options.clientId}" (two processes with one --client-id?)` };
    }
    if (!this.online) {
      return { active: false, reason: `not connected to ${this.current.display}` };
    }
    const entry = this.wanted.get(topic);
    if (entry?.subscribed) {
      return ACTIVE;
    }
    const failure = entry?.failure ? `; last SUBSCRIBE failed: ${entry.failure}` : '';
    const why = entry?.lost ? `broker session lost; subscribing again${failure}` : failure ? `subscribing${failure}` : 'waiting for the SUBACK';
    return { active: false, reason: `not subscribed to ${topic} (${why})` };
  }

  /** Close the connection, flushing what is queued; pending {@link add}s reject. */
  async end(): Promise<void> {
    this.ended = true;
    for (const entry of this.wanted.values()) {
      clearTimeout(entry.retry);
      for (const waiter of entry.waiters.splice(0)) {
        waiter.reject(new Error('connection closed'));
      }
    }
    await this.client.endAsync().catch((err: unknown) => debug('close: %s', errorMessage(err)));
  }

  private want(topic: string, subscribed: boolean): Wanted {
    const entry: Wanted = { subscribed, lost: false, failure: undefined, initial: !subscribed, attempt: 0, retry: undefined, waiters: [] };
    this.wanted.set(topic, entry);
    return entry;
  }

  /**
   * On a lost connection of a fixed client id (a persistent session): was it
   * taken over by another client? See {@link TAKEOVER_WINDOW_MS}.
   */
  private noticeTakeover(): void {
    const lived = this.connectedAt === undefined ? undefined : Date.now() - this.connectedAt;
    const said = this.takenOver;
    this.connectedAt = undefined;
    this.takenOver = false;
    if (lived === undefined || this.ended || this.client.options.clean !== false) {
      return; // Not connected (a failed attempt), closed by us, or a random client id.
    }
    if (lived >= TAKEOVER_WINDOW_MS && !said) {
      this.shortLived = 0;
      this.uncounted = 0;
      return;
    }
    this.shortLived += 1;
    this.uncounted += 1;
    if (said || this.shortLived >= TAKEOVER_STREAK) {
      this.lastTakeover = Date.now();
      debug('%s: session taken over by another client', this.client.options.clientId);
      // The first time, the connections of the streak before this one count too.
      this.onTakeover(this.uncounted);
      this.uncounted = 0;
    }
  }

  private connected(connack: mqtt.IConnackPacket): void {
    this.online = true;
    this.connectedAt = Date.now();
    this.current = serverOf(this.client, this.servers);
    const kept = connack.sessionPresent;
    debug('%s reconnected to %s (%s)', this.client.options.clientId, this.current.display, kept ? 'session resumed' : 'no session');
    for (const [topic, entry] of this.wanted) {
      if (kept && entry.subscribed) {
        continue;
      }
      if (entry.subscribed) {
        entry.subscribed = false;
        // A clean session is new on every connection by design: subscribing
        // again is part of reconnecting. A persistent one should have been kept.
        if (this.client.options.clean === false) {
          entry.lost = true;
          this.hooks.lost?.(topic, this.current);
        }
      }
      entry.attempt = 0;
      this.subscribe(topic, entry);
    }
  }

  private subscribe(topic: string, entry: Wanted): void {
    const generation = this.generation;
    const current = (): boolean => !this.ended && generation === this.generation && this.wanted.get(topic) === entry;
    this.client.subscribeAsync(topic, this.hooks.qos ?? QOS_1).then(
      ([grant]) => {
        if (!current()) {
          return;
        }
        if (!grant || grant.qos > 2) {
          this.failed(topic, entry, `refused by the broker (code ${String(grant?.qos)})`);
          return;
        }
        const wasLost = entry.lost;
        Object.assign(entry, { subscribed: true, lost: false, failure: undefined, initial: false, attempt: 0 });
        for (const waiter of entry.waiters.splice(0)) {
          waiter.resolve();
        }
        if (wasLost) {
          debug('%s subscribed to %s again', this.client.options.clientId, topic);
          this.hooks.restored?.(topic);
        }
      },
      (err: unknown) => {
        // A connection lost meanwhile fails it too: its successor subscribes on its own.
        if (current() && this.online) {
          this.failed(topic, entry, errorMessage(err));
        }
      },
    );
  }

  /** A SUBSCRIBE failed on a live connection: the first one for a caller rejects; later ones are retried with backoff. */
  private failed(topic: string, entry: Wanted, reason: string): void {
    if (entry.initial) {
      this.wanted.delete(topic);
      for (const waiter of entry.waiters.splice(0)) {
        waiter.reject(new Error(reason));
      }
      return;
    }
    entry.subscribed = false;
    entry.failure = reason;
    entry.attempt += 1;
    if (entry.attempt === 1) {
      this.warn(new Error(`SUBSCRIBE to MQTT topic "${topic}" on ${this.current.display} failed (${reason}); retrying`));
    }
    const generation = this.generation;
    entry.retry = setTimeout(() => {
      entry.retry = undefined;
      if (!this.ended && this.online && generation === this.generation && this.wanted.get(topic) === entry) {
        this.subscribe(topic, entry);
      }
    }, backoffDelay(entry.attempt));
  }
}

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
      await this.transport.publish(deadLetters, this.body, QOS_1);
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

/**
 * Connect like mqtt.connectAsync without retries, with `prepare` run on the
 * client first; resolves with the client and its first CONNACK.
 */
function connectPrepared(options: mqtt.IClientOptions, prepare: (client: mqtt.MqttClient) => void): Promise<{ client: mqtt.MqttClient; connack: mqtt.IConnackPacket }> {
  const client = mqtt.connect({ ...options, reconnectPeriod: 0 });
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
      client.removeListener('error', fail);
      client.removeListener('close', failClosed);
      // Reconnect from now on; at start the caller retries on its own terms.
      client.options.reconnectPeriod = options.reconnectPeriod ?? 1000;
      resolve({ client, connack });
    };
    client.once('connect', succeed);
    client.once('error', fail);
    client.once('close', failClosed);
  });
}

/**
 * Keep a consuming connection alive while it holds a message. mqtt.js parses
 * nothing more from the socket until the job's PUBACK, so the broker's
 * PINGRESP waits behind the job, and mqtt.js would call the connection dead
 * 1.5 keepalives after its last answered ping: a longer job would lose its
 * connection, and its message would come back, forever. While a message is
 * held, ping again instead (the broker must keep hearing from us) and do not
 * give up; a broker that is gone closes the socket, or is noticed once the
 * job is done.
 */
function keepAliveWhileHolding(client: mqtt.MqttClient, holding: () => boolean): void {
  const giveUp = client.onKeepaliveTimeout.bind(client);
  client.onKeepaliveTimeout = () => {
    if (holding()) {
      client.sendPing();
      client.reschedulePing(true);
    } else {
      giveUp();
    }
  };
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
