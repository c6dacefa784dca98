/**
 * Transport selection by broker URL scheme.
 */
import { AmqpTransport } from './amqp';
import { MemoryTransport } from './memory';
import { MqttTransport } from './mqtt';
import type { TransportOptions } from './options';
import type { Transport } from './transport';
import { parseBrokerList, parseBrokerUrl } from './url';

export type { ConsumerState, Delivery, QueueDepth, QueueKind, QueueOptions, SendOptions, SubscribeOptions, Subscription, Transport, TransportEvents, TransportStats, Unavailable } from './transport';
export { isUnavailable } from './transport';
export type { TlsOptions, TransportOptions } from './options';
export { MemoryBroker, memoryBroker } from './memory';
export { joinBrokerList, parseBrokerList, parseBrokerUrl, redactUrl, SUPPORTED_SCHEMES } from './url';

/**
 * A (not yet connected) transport for a broker URL, `amqp(s)://`,
 * `mqtt(s)://` or `memory://`, or a comma-separated list of URLs of one
 * broker's nodes (see {@link parseBrokerList}): the transport tries them in
 * turn, from a random one, at start and on every reconnection. Throws
 * {@link BrokerUrlError} for anything else.
 */
export function createTransport(broker: string, options: TransportOptions = {}): Transport {
  const { urls, protocol } = parseBrokerList(broker);
  switch (protocol) {
    case 'amqp':
      return new AmqpTransport(urls, options);
    case 'mqtt':
      return new MqttTransport(urls, options);
    case 'memory':
      return new MemoryTransport(parseBrokerUrl(urls[0] as string).url);
  }
}
