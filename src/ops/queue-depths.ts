/**
 * Queue depths, read passively from RabbitMQ: how many messages wait in a
 * queue and how many consumers it has. Nothing is declared: a queue that does
 * not exist is reported as missing (RabbitMQ closes the channel that asked;
 * the next question opens another). MQTT has no queues to ask about.
 */
import * as amqp from 'amqplib';
import createDebug from 'debug';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import type { TlsOptions } from '../transport/options';
import { parseBrokerList, redactUrl } from '../transport/url';

const debug = createDebug('noflo-runtime-msgflo:ops:queues');

/** A queue as RabbitMQ reports it. */
export interface QueueDepth {
  /** Messages ready for delivery (not counting those delivered and not yet acknowledged). */
  readonly messages: number;
  readonly consumers: number;
}

/** Asks RabbitMQ about queues over a connection of its own. */
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
    const channel = await this.openChannel();
    try {
      const { messageCount, consumerCount } = await channel.checkQueue(queue);
      return { messages: messageCount, consumers: consumerCount };
    } catch (err) {
      this.channel = undefined;
      if (isNotFound(err)) {
        return undefined;
      }
      throw err;
    }
  }

  /** The depths of `queues` (undefined for missing ones), one after the other. */
  async depths(queues: Iterable<string>): Promise<Map<string, QueueDepth | undefined>> {
    const result = new Map<string, QueueDepth | undefined>();
    for (const queue of queues) {
      result.set(queue, await this.depth(queue));
    }
    return result;
  }

  async close(): Promise<void> {
    // Closing a connection whose broker is gone fails; there is nothing left to release then.
    await this.model.close().catch((err: unknown) => debug('close: %s', errorMessage(err)));
  }

  private async openChannel(): Promise<amqp.Channel> {
    if (!this.channel) {
      const channel = await this.model.createChannel();
      // A missing queue closes the channel with 404: expected, answered by depth().
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

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404 || /NOT_FOUND|404/.test(errorMessage(err));
}
