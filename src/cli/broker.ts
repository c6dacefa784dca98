/**
 * The broker a command talks to: the one configured, else the embedded default.
 */
import { brokerSetting } from '../participant/options';
import { createTransport, joinBrokerList, type Transport, type TransportOptions } from '../transport';
import { EMBEDDED_URL, startEmbeddedBroker, type EmbeddedBroker } from '../transport/embedded';
import { info } from './output';

/** How long `send` and `dump` try to reach the broker before giving up. */
export const TOOL_CONNECT_TIMEOUT_MS = 5000;

/** A transport for the configured broker, and the embedded broker if one was started. */
export interface BrokerChoice {
  readonly transport: Transport;
  readonly embedded: EmbeddedBroker | undefined;
}

/**
 * commander's parser of `--broker`: each repeat adds to a comma-separated
 * list (`--broker amqp://a --broker amqp://b` is `amqp://a,amqp://b`), instead
 * of replacing the value given before.
 */
export function collectBroker(value: string, previous: string | undefined): string {
  return previous === undefined ? value : joinBrokerList([previous, value]);
}

/**
 * The broker URL list from `--broker`, then env `MSGFLO_BROKER`, then
 * `CLOUDAMQP_URL`, checked: a malformed URL (named by its position, password
 * masked) or an empty list (`--broker ''`) throws, naming the flag or variable.
 */
export function configuredBroker(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return brokerSetting(flag, env, '--broker');
}

/**
 * A transport for `broker`; with none configured, the embedded MQTT broker on
 * 127.0.0.1:1883, started in this process unless one already listens there.
 */
export async function chooseBroker(broker: string | undefined, options: { startEmbedded: boolean; transport?: TransportOptions }): Promise<BrokerChoice> {
  if (broker) {
    return { transport: createTransport(broker, options.transport), embedded: undefined };
  }
  const embedded = options.startEmbedded ? await startEmbeddedBroker() : undefined;
  if (embedded) {
    info(`no broker configured: started the embedded MQTT broker on ${embedded.url}`);
  } else {
    info(`no broker configured: using the MQTT broker on ${EMBEDDED_URL}`);
  }
  return { transport: createTransport(EMBEDDED_URL, options.transport), embedded };
}
