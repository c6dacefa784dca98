/**
 * Queues and exchanges, read passively through a transport
 * ({@link Transport.queueDepth}, {@link Transport.hasExchange}): how many
 * messages wait in a queue and how many consumers it has, whether an
 * exchange exists, and which existing queue a mistyped name most likely
 * meant. Nothing is declared. MQTT has no queues or exchanges to ask about:
 * its transport answers {@link Unavailable}.
 */
import createDebug from 'debug';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { createTransport } from '../transport';
import type { TlsOptions } from '../transport/options';
import { isUnavailable, type QueueDepth, type Transport, type Unavailable } from '../transport/transport';
import { parseBrokerList, redactUrl } from '../transport/url';

export type { QueueDepth } from '../transport/transport';

const debug = createDebug('noflo-runtime-msgflo:ops:queues');

/** What a name is on the broker: a queue, an exchange, both (an inqueue of MsgFlo's AMQP layout) or neither. */
export interface NameInfo {
  /** The queue of that name, if there is one. */
  readonly queue: QueueDepth | undefined;
  /** Whether there is an exchange of that name. */
  readonly exchange: boolean;
}

/**
 * The depths of `queues` (undefined for missing ones), asked one after the
 * other; {@link Unavailable} when the transport keeps no queues (MQTT).
 * Throws as {@link Transport.queueDepth}.
 */
export async function queueDepths(transport: Transport, queues: Iterable<string>): Promise<Map<string, QueueDepth | undefined> | Unavailable> {
  const result = new Map<string, QueueDepth | undefined>();
  for (const queue of queues) {
    const depth = await transport.queueDepth(queue);
    if (isUnavailable(depth)) {
      return depth;
    }
    result.set(queue, depth);
  }
  return result;
}

/**
 * Whether `name` is a queue, an exchange, both or neither;
 * {@link Unavailable} when the transport cannot tell (MQTT). Throws as
 * {@link Transport.queueDepth}.
 */
export async function lookUpName(transport: Transport, name: string): Promise<NameInfo | Unavailable> {
  const queue = await transport.queueDepth(name);
  if (isUnavailable(queue)) {
    return queue;
  }
  const exchange = await transport.hasExchange(name);
  return isUnavailable(exchange) ? exchange : { queue, exchange };
}

/**
 * The existing queue (or, with `exchanges`, queue or exchange) that `name`
 * most likely meant, among {@link likelyMeant}`(name)`; undefined when none
 * of them exists, or the transport cannot tell (MQTT). Throws as
 * {@link Transport.queueDepth}.
 */
export async function nearestName(transport: Transport, name: string, options: { exchanges?: boolean } = {}): Promise<string | undefined> {
  for (const candidate of likelyMeant(name)) {
    const depth = await transport.queueDepth(candidate);
    if (isUnavailable(depth)) {
      return undefined;
    }
    if (depth !== undefined || (options.exchanges === true && (await transport.hasExchange(candidate)) === true)) {
      return candidate;
    }
  }
  return undefined;
}

/**
 * Asks a broker about queues and exchanges, through a {@link Transport}: its
 * own (see {@link QueueInspector.connect}) or one it is given, which it
 * leaves open. On a transport that cannot tell (MQTT), every question
 * rejects with {@link BrokerError} (`EBROKEROP`) saying why.
 */
export class QueueInspector {
  /**
   * @param transport - connected; asked with {@link Transport.queueDepth} and {@link Transport.hasExchange}
   * @param owned - whether {@link QueueInspector.close} closes it
   */
  constructor(
    readonly transport: Transport,
    private readonly owned = false,
  ) {}

  /**
   * Connect to an `amqp(s)://` broker, or to the first node of a
   * comma-separated list that answers, trying them in order, once each;
   * rejects with {@link BrokerError} (`EBROKERCONNECT`) naming the broker or
   * the list (without passwords) and why the last one failed, or with
   * {@link BrokerUrlError} for a malformed list, before connecting.
   */
  static async connect(broker: string, tls?: TlsOptions): Promise<QueueInspector> {
    const { urls } = parseBrokerList(broker);
    let last: unknown;
    for (const url of urls) {
      // Given no time to retry: a node that does not answer at once is passed for the next.
      const transport = createTransport(url, { connectTimeoutMs: 0, ...(tls ? { tls } : {}) });
      try {
        await transport.connect();
        return new QueueInspector(transport, true);
      } catch (err) {
        // The transport's error names the node; the list's names them all, and says why the last failed.
        last = err instanceof BrokerError && err.cause !== undefined ? err.cause : err;
        debug('cannot connect to %s: %s', redactUrl(url), errorMessage(last));
      }
    }
    const which = urls.length === 1 ? redactUrl(broker) : `any of ${redactUrl(urls.join(','))}`;
    throw new BrokerError(ErrorCode.BrokerConnection, `cannot connect to ${which}: ${errorMessage(last)}`, { cause: last });
  }

  /** The depth of `queue`, or undefined when there is no such queue. */
  async depth(queue: string): Promise<QueueDepth | undefined> {
    return available(await this.transport.queueDepth(queue));
  }

  /** The depths of `queues` (undefined for missing ones), one after the other. */
  async depths(queues: Iterable<string>): Promise<Map<string, QueueDepth | undefined>> {
    return available(await queueDepths(this.transport, queues));
  }

  /** Whether there is an exchange `name`. */
  async hasExchange(name: string): Promise<boolean> {
    return available(await this.transport.hasExchange(name));
  }

  /** Whether `name` is a queue, an exchange, both or neither. */
  async lookUp(name: string): Promise<NameInfo> {
    return available(await lookUpName(this.transport, name));
  }

  /** As {@link nearestName}, on this inspector's transport. */
  async nearest(name: string, options: { exchanges?: boolean } = {}): Promise<string | undefined> {
    return nearestName(this.transport, name, options);
  }

  /** Close the transport, if it is this inspector's own. */
  async close(): Promise<void> {
    if (this.owned) {
      // Closing a connection whose broker is gone fails; there is nothing left to release then.
      await this.transport.close().catch((err: unknown) => debug('close: %s', errorMessage(err)));
    }
  }
}

/** The answer, or a {@link BrokerError} saying why there is none. */
function available<T>(answer: T | Unavailable): T {
  if (isUnavailable(answer)) {
    throw new BrokerError(ErrorCode.BrokerOperation, `not available: ${answer.reason}`);
  }
  return answer;
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
