/**
 * The broker a command talks to: the one configured, else the embedded default.
 */
import { createTransport, type Transport, type TransportOptions } from '../transport';
import { EMBEDDED_URL, startEmbeddedBroker, type EmbeddedBroker } from '../transport/embedded';
import { info } from './output';

/** How long `send` and `dump` try to reach the broker before giving up. */
export const TOOL_CONNECT_TIMEOUT_MS = 5000;

/** A transport for the configured broker, and the embedded broker if one was started. */
export interface BrokerChoice {
  readonly transport: Transport;
  readonly embedded: EmbeddedBroker | undefined;
}

/** The broker URL from a flag, then env `MSGFLO_BROKER`, then `CLOUDAMQP_URL`. */
export function configuredBroker(flag: string | undefined): string | undefined {
  return flag || process.env.MSGFLO_BROKER || process.env.CLOUDAMQP_URL || undefined;
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
