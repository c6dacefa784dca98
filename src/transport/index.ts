/**
 * Transport selection by broker URL scheme.
 */
import { MemoryTransport } from './memory';
import type { TransportOptions } from './options';
import type { Transport } from './transport';
import { parseBrokerList, parseBrokerUrl } from './url';

export type { ConsumerState, Delivery, QueueDepth, QueueKind, QueueOptions, SendOptions, SubscribeOptions, Subscription, Transport, TransportEvents, TransportStats, Unavailable } from './transport';
export { isUnavailable } from './transport';
export type { TlsOptions, TransportOptions } from './options';
export { MemoryBroker, memoryBroker } from './memory';
export { joinBrokerList, parseBrokerList, parseBrokerUrl, redactUrl, SUPPORTED_SCHEMES } from './url';

/** The AMQP transport's module (amqplib), loaded at the first amqp:// broker; Node's module cache keeps it. */
const loadAmqp = (): typeof import('./amqp') => require('./amqp') as typeof import('./amqp');

/** The MQTT transport's module (mqtt.js), loaded at the first mqtt:// broker; Node's module cache keeps it. */
const loadMqtt = (): typeof import('./mqtt') => require('./mqtt') as typeof import('./mqtt');

/**
 * A (not yet connected) transport for a broker URL, `amqp(s)://`,
 * `mqtt(s)://` or `memory://`, or a comma-separated list of URLs of one
 * broker's nodes (see {@link parseBrokerList}): the transport tries them in
 * turn, from a random one, at start and on every reconnection. Throws
 * {@link BrokerUrlError} for anything else. Only the client library of the
 * URL's protocol is loaded (amqplib or mqtt.js), at the first call for it.
 */
export function createTransport(broker: string, options: TransportOptions = {}): Transport {
  const { urls, protocol } = parseBrokerList(broker);
  switch (protocol) {
    case 'amqp':
      return new (loadAmqp().AmqpTransport)(urls, options);
    case 'mqtt':
      return new (loadMqtt().MqttTransport)(urls, options);
    case 'memory':
      return new MemoryTransport(parseBrokerUrl(urls[0] as string).url);
  }
}
