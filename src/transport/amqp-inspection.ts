/**
 * Passive questions to RabbitMQ about queues and exchanges, for the AMQP
 * transport: `queue.declare` and `exchange.declare` with `passive` set
 * (amqplib `checkQueue` / `checkExchange`), which declare nothing. A missing
 * queue or exchange is answered with 404 NOT_FOUND, and RabbitMQ closes the
 * channel that asked: so the questions go on a channel of their own, never
 * the publisher's or a consumer's, one at a time, and the question after a
 * 404 opens another channel.
 */
import type * as amqp from 'amqplib';
import createDebug from 'debug';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import type { QueueDepth } from './transport';

const debug = createDebug('noflo-runtime-msgflo:amqp:inspection');

/**
 * Whether an error is, or was caused by, RabbitMQ's 404 NOT_FOUND (no such
 * queue or exchange), which closes the channel it came on.
 */
export function isNotFound(err: unknown): boolean {
  for (let each = err, depth = 0; each !== undefined && each !== null && depth < 5; each = (each as { cause?: unknown }).cause, depth += 1) {
    if ((each as { code?: unknown }).code === 404 || /\bNOT_FOUND - /.test(errorMessage(each))) {
      return true;
    }
  }
  return false;
}

/** The connection an {@link AmqpInspection} asks on, as its transport has it now. */
export interface InspectedConnection {
  /** The connection of the moment; undefined while disconnected. */
  model(): amqp.ChannelModel | undefined;
  /** Where it is connected (password removed), or the broker as given while disconnected: for messages. */
  where(): string;
}

/** Asks about queues and exchanges on the connection of an AMQP transport, on a channel of its own. */
export class AmqpInspection {
  private channel: { readonly model: amqp.ChannelModel; readonly channel: amqp.Channel } | undefined;
  /** The question being asked: the next waits for it, as a 404 closes the channel under any question queued behind. */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly connection: InspectedConnection) {}

  /**
   * The depth of `queue`, or undefined when there is no such queue. Throws
   * {@link BrokerError} (`EBROKEROP`) while disconnected, or when the broker
   * fails to answer otherwise than with 404.
   */
  async queueDepth(queue: string): Promise<QueueDepth | undefined> {
    return this.ask(`queue "${queue}"`, async (channel) => {
      const { messageCount, consumerCount } = await channel.checkQueue(queue);
      return { messages: messageCount, consumers: consumerCount };
    });
  }

  /** Whether there is an exchange `name`; throws as {@link AmqpInspection.queueDepth}. */
  async hasExchange(name: string): Promise<boolean> {
    return (await this.ask(`exchange "${name}"`, async (channel) => (await channel.checkExchange(name), true))) ?? false;
  }

  /** Close the channel, if one is open (with the transport: its connection closes next). */
  async close(): Promise<void> {
    const open = this.channel;
    this.channel = undefined;
    // A channel closed under us (a 404, the connection gone) has nothing left to release.
    await open?.channel.close().catch((err: unknown) => debug('close: %s', errorMessage(err)));
  }

  /** Ask one question, after those asked before; undefined when RabbitMQ answers 404. */
  private ask<T>(what: string, question: (channel: amqp.Channel) => Promise<T>): Promise<T | undefined> {
    const answer = this.turn.then(async () => {
      const channel = await this.openChannel(what);
      try {
        return await question(channel);
      } catch (cause) {
        if (this.channel?.channel === channel) {
          this.channel = undefined; // Closed by the broker, or about to be.
        }
        if (isNotFound(cause)) {
          return undefined;
        }
        throw this.failure(what, cause);
      }
    });
    this.turn = answer.catch(() => undefined);
    return answer;
  }

  /** The channel to ask on: the open one, if it is of the connection of the moment; else a new one. */
  private async openChannel(what: string): Promise<amqp.Channel> {
    const model = this.connection.model();
    if (!model) {
      throw new BrokerError(ErrorCode.BrokerOperation, `cannot ask about ${what}: not connected to ${this.connection.where()}`);
    }
    if (this.channel?.model === model) {
      return this.channel.channel;
    }
    let channel: amqp.Channel;
    try {
      channel = await model.createChannel();
    } catch (cause) {
      throw this.failure(what, cause);
    }
    // A missing queue or exchange closes the channel with 404: expected, answered by ask().
    channel.on('error', (err: Error) => debug('channel closed: %s', err.message));
    channel.on('close', () => {
      if (this.channel?.channel === channel) {
        this.channel = undefined;
      }
    });
    this.channel = { model, channel };
    return channel;
  }

  private failure(what: string, cause: unknown): BrokerError {
    return new BrokerError(ErrorCode.BrokerOperation, `cannot ask about ${what} on ${this.connection.where()}: ${errorMessage(cause)}`, { cause });
  }
}
