/**
 * Transport selection by broker URL scheme.
 */
import { AmqpTransport } from './amqp';
import { MemoryTransport } from './memory';
import { MqttTransport } from './mqtt';
import type { TransportOptions } from './options';
import type { Transport } from './transport';
import { parseBrokerUrl } from './url';

export type { Delivery, QueueKind, QueueOptions, SubscribeOptions, Subscription, Transport, TransportEvents, TransportStats } from './transport';
export type { TlsOptions, TransportOptions } from './options';
export { MemoryBroker, memoryBroker } from './memory';
export { parseBrokerUrl, redactUrl, SUPPORTED_SCHEMES } from './url';

/**
 * A (not yet connected) transport for a broker URL: `amqp(s)://`, `mqtt(s)://`
 * or `memory://`. Throws {@link BrokerUrlError} for anything else.
 */
export function createTransport(brokerUrl: string, options: TransportOptions = {}): Transport {
  const { url, protocol } = parseBrokerUrl(brokerUrl);
  switch (protocol) {
    case 'amqp':
      return new AmqpTransport(brokerUrl, options);
    case 'mqtt':
      return new MqttTransport(brokerUrl, options);
    case 'memory':
      return new MemoryTransport(url);
  }
}
