/**
 * Queues and exchanges, read passively from RabbitMQ: how many messages wait
 * in a queue and how many consumers it has, whether an exchange exists, and
 * which existing queue a mistyped name most likely meant. Nothing is
 * declared: a queue that does not exist is reported as missing (RabbitMQ
 * closes the channel that asked; the next question opens another). MQTT has
 * no queues to ask about.
 */
import * as amqp from 'amqplib';
import createDebug from 'debug';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { isNotFound } from '../transport/amqp';
import type { TlsOptions } from '../transport/options';
import { parseBrokerList, redactUrl } from '../transport/url';

const debug = createDebug('noflo-runtime-msgflo:ops:queues');

/** A queue as RabbitMQ reports it. */
export interface QueueDepth {
  /** Messages ready for delivery (not counting those delivered and not yet acknowledged). */
  readonly messages: number;
  readonly consumers: number;
}

/** What a name is on RabbitMQ: a queue, an exchange, both (an inqueue of MsgFlo's layout) or neither. */
export interface NameInfo {
  /** The queue of that name, if there is one. */
  readonly queue: QueueDepth | undefined;
  /** Whether there is an exchange of that name. */
  readonly exchange: boolean;
}

/** Asks RabbitMQ about queues and exchanges over a connection of its own. */
export class QueueInspector {
  private channel: amqp.Channel | undefined;

  private constructor(private readonly model: amqp.ChannelModel) {
    model.on('error', (err: Error) => debug('connection error: %s', err.message));
  }

  /**
   * Connect to an `amqp(s)://` broker, or to the first node of a
   * comma-separated list that answers, trying them in order; rejects naming
   * the broker or the list (without passwords) and why the last one failed.
   */
  static async connect(broker: string, tls?: TlsOptions): Promise<QueueInspector> {
    const { urls } = parseBrokerList(broker);
    let last: unknown;
    for (const url of urls) {
      try {
        return new QueueInspector(await amqp.connect(url, { ...tls }));
      } catch (cause) {
        debug('cannot connect to %s: %s', redactUrl(url), errorMessage(cause));
        last = cause;
      }
    }
    const which = urls.length === 1 ? redactUrl(broker) : `any of ${redactUrl(urls.join(','))}`;
    throw new BrokerError(ErrorCode.BrokerConnection, `cannot connect to ${which}: ${errorMessage(last)}`, { cause: last });
  }

  /** The depth of `queue`, or undefined when there is no such queue. */
  async depth(queue: string): Promise<QueueDepth | undefined> {
    return this.ask(async (channel) => {
      const { messageCount, consumerCount } = await channel.checkQueue(queue);
      return { messages: messageCount, consumers: consumerCount };
    });
  }

  /** The depths of `queues` (undefined for missing ones), one after the other. */
  async depths(queues: Iterable<string>): Promise<Map<string, QueueDepth | undefined>> {
    const result = new Map<string, QueueDepth | undefined>();
    for (const queue of queues) {
      result.set(queue, await this.depth(queue));
    }
    return result;
  }

  /** Whether there is an exchange `name`. */
  async hasExchange(name: string): Promise<boolean> {
    return (await this.ask(async (channel) => (await channel.checkExchange(name), true))) ?? false;
  }

  /** Whether `name` is a queue, an exchange, both or neither. */
  async lookUp(name: string): Promise<NameInfo> {
    return { queue: await this.depth(name), exchange: await this.hasExchange(name) };
  }

  /**
   * The existing queue (or, with `exchanges`, queue or exchange) that `name`
   * most likely meant, among {@link likelyMeant}`(name)`; undefined when none
   * of them exists.
   */
  async nearest(name: string, options: { exchanges?: boolean } = {}): Promise<string | undefined> {
    for (const candidate of likelyMeant(name)) {
      if ((await this.depth(candidate)) !== undefined || (options.exchanges === true && (await this.hasExchange(candidate)))) {
        return candidate;
      }
    }
    return undefined;
  }

  async close(): Promise<void> {
    // Closing a connection whose broker is gone fails; there is nothing left to release then.
    await this.model.close().catch((err: unknown) => debug('close: %s', errorMessage(err)));
  }

  /** Ask one question; undefined when RabbitMQ answers 404 (which closes the channel: the next question opens another). */
  private async ask<T>(question: (channel: amqp.Channel) => Promise<T>): Promise<T | undefined> {
    const channel = await this.openChannel();
    try {
      return await question(channel);
    } catch (err) {
      this.channel = undefined;
      if (isNotFound(err)) {
        return undefined;
      }
      throw err;
    }
  }

  private async openChannel(): Promise<amqp.Channel> {
    if (!this.channel) {
      const channel = await this.model.createChannel();
      // A missing queue or exchange closes the channel with 404: expected, answered by ask().
      channel.on('error', (err: Error) => debug('channel closed: %s', err.message));
      channel.on('close', () => {
        if (this.channel === channel) {
          this.channel = undefined;
        }
      });
      this.channel = channel;
    }
    return this.channel;
  }
}

/**
 * Names a user may have meant by `name`, most likely first, `name` itself
 * left out: queue names are `role.PORT` with the port upper-cased (WIRE:
 * "Queue names"), so the last dot-segment upper-cased (`up.in` → `up.IN`),
 * `NAME.IN` for a bare role (`up` → `up.IN`), the whole name upper- or
 * lower-cased, and the role's `IN` port (`up.OUT` → `up.IN`).
 */
export function likelyMeant(name: string): string[] {
  const dot = name.lastIndexOf('.');
  const candidates: string[] = [];
  if (dot > 0) {
    const role = name.slice(0, dot);
    const port = name.slice(dot + 1);
    candidates.push(`${role}.${port.toUpperCase()}`, `${role.toLowerCase()}.${port.toUpperCase()}`);
  } else {
    candidates.push(`${name}.IN`, `${name.toLowerCase()}.IN`);
  }
  candidates.push(name.toUpperCase(), name.toLowerCase());
  if (dot > 0) {
    const role = name.slice(0, dot);
    candidates.push(`${role}.IN`, `${role.toLowerCase()}.IN`);
  }
  return [...new Set(candidates)].filter((candidate) => candidate !== name);
}
