/**
 * MQTT transport on mqtt.js. Every queue is a topic of the same name and
 * creating one is a no-op (WIRE: "MQTT layout"). MQTT has no nack, so a failed
 * message is republished on the topic `dead-<queue>`, which is where a
 * dead-letter queue lives on AMQP too. MQTT has no prefetch either: deliveries
 * beyond the prefetch count wait here, in order, until earlier ones settle.
 */
import createDebug from 'debug';
import * as mqtt from 'mqtt';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { decode, encode } from '../protocol/codec';
import { DISCOVERY_QUEUE, deadLetterQueueName, type DiscoveryMessage } from '../protocol/definition';
import type { Delivery, QueueKind, SubscribeOptions, Subscription, Transport } from './transport';
import { redactUrl } from './url';

const debug = createDebug('noflo-runtime-msgflo:mqtt');

type TopicHandler = (payload: Buffer) => void;

/** Transport over one MQTT client connection. */
export class MqttTransport implements Transport {
  readonly protocol = 'mqtt' as const;
  readonly displayUrl: string;
  private readonly url: string;
  private client: mqtt.MqttClient | null = null;
  private readonly handlers = new Map<string, TopicHandler>();

  constructor(url: string) {
    this.url = url;
    this.displayUrl = redactUrl(url);
  }

  async connect(): Promise<void> {
    try {
      this.client = await mqtt.connectAsync(this.url, { connectTimeout: 10_000, reconnectPeriod: 1000 }, false);
    } catch (cause) {
      throw new BrokerError(ErrorCode.BrokerConnection, `cannot connect to MQTT broker ${this.displayUrl}: ${errorMessage(cause)}`, { cause });
    }
    this.client.on('error', (err) => debug('client error %s', err.message));
    this.client.on('message', (topic, payload) => {
      const handler = this.handlers.get(topic);
      if (handler) {
        handler(payload);
      } else {
        debug('message on "%s" with no subscriber', topic);
      }
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    this.handlers.clear();
    if (client) {
      await client.endAsync();
    }
  }

  async createQueue(): Promise<void> {
    // Topics need no declaration.
  }

  async send(kind: QueueKind, queue: string, data: unknown): Promise<void> {
    await this.publish(queue, encode(data), kind);
  }

  async announce(message: DiscoveryMessage): Promise<void> {
    await this.publish(DISCOVERY_QUEUE, encode(message), 'inqueue');
  }

  async subscribe(queue: string, handler: (delivery: Delivery) => void, options: SubscribeOptions): Promise<Subscription> {
    const gate = new PrefetchGate(options.prefetch, handler);
    await this.listen(queue, (payload) => {
      gate.offer({
        payload,
        onNack: () => {
          this.publish(deadLetterQueueName(queue), payload, 'inqueue').catch((err: unknown) => {
            debug('could not dead-letter a message of "%s": %s', queue, errorMessage(err));
          });
        },
      });
    });
    return { cancel: () => this.unlisten(queue) };
  }

  async tap(queue: string, handler: (data: unknown) => void): Promise<Subscription> {
    await this.listen(queue, (payload) => handler(decode(payload)));
    return { cancel: () => this.unlisten(queue) };
  }

  private async listen(topic: string, handler: TopicHandler): Promise<void> {
    const client = this.requireClient();
    if (this.handlers.has(topic)) {
      throw new BrokerError(ErrorCode.BrokerOperation, `already subscribed to MQTT topic "${topic}" on ${this.displayUrl}`);
    }
    this.handlers.set(topic, handler);
    try {
      await client.subscribeAsync(topic, { qos: 1 });
    } catch (cause) {
      this.handlers.delete(topic);
      throw new BrokerError(ErrorCode.BrokerOperation, `cannot subscribe to MQTT topic "${topic}": ${errorMessage(cause)}`, { cause });
    }
    debug('subscribed to "%s"', topic);
  }

  private async unlisten(topic: string): Promise<void> {
    this.handlers.delete(topic);
    if (this.client) {
      await this.client.unsubscribeAsync(topic);
    }
  }

  private async publish(topic: string, payload: Buffer, kind: QueueKind): Promise<void> {
    const client = this.requireClient();
    try {
      await client.publishAsync(topic, payload, { qos: 1 });
    } catch (cause) {
      throw new BrokerError(ErrorCode.BrokerOperation, `publish to ${kind} "${topic}" failed: ${errorMessage(cause)}`, { cause });
    }
  }

  private requireClient(): mqtt.MqttClient {
    if (!this.client) {
      throw new BrokerError(ErrorCode.BrokerOperation, `not connected to MQTT broker ${this.displayUrl}`);
    }
    return this.client;
  }
}

interface Pending {
  payload: Buffer;
  onNack: () => void;
}

/** Holds deliveries beyond the prefetch count until earlier ones settle. */
class PrefetchGate {
  private inFlight = 0;
  private readonly waiting: Pending[] = [];

  constructor(
    private readonly prefetch: number,
    private readonly handler: (delivery: Delivery) => void,
  ) {}

  offer(pending: Pending): void {
    if (this.inFlight >= this.prefetch) {
      this.waiting.push(pending);
      return;
    }
    this.deliver(pending);
  }

  private deliver(pending: Pending): void {
    this.inFlight += 1;
    let settled = false;
    const settle = (failed: boolean): void => {
      if (settled) {
        return;
      }
      settled = true;
      if (failed) {
        pending.onNack();
      }
      this.inFlight -= 1;
      const next = this.waiting.shift();
      if (next) {
        this.deliver(next);
      }
    };
    this.handler({
      data: decode(pending.payload),
      size: pending.payload.length,
      ack: () => settle(false),
      nack: () => settle(true),
    });
  }
}
