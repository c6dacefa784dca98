/**
 * The embedded default broker: with no broker configured anywhere, a
 * participant uses MQTT on 127.0.0.1:1883, and starts an in-process broker
 * (aedes) there when nothing listens yet. It makes a first run work on a
 * machine with no broker installed; production uses a real one.
 *
 * It has no shared subscriptions, so every consumer of a queue would get
 * every message: two participants of one role would each do every job. It
 * takes one consumer per queue instead (see {@link CONSUMER_CLAIM_PREFIX}).
 */
import type { Client, Subscription } from 'aedes';
import createDebug from 'debug';
import net from 'node:net';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { CONSUMER_CLAIM_PREFIX } from './mqtt';

const debug = createDebug('noflo-runtime-msgflo:embedded');

/** Where the embedded default broker listens. */
export const EMBEDDED_HOST = '127.0.0.1';
export const EMBEDDED_PORT = 1883;
export const EMBEDDED_URL = `mqtt://${EMBEDDED_HOST}:${EMBEDDED_PORT}`;

/** A broker started in this process. */
export interface EmbeddedBroker {
  readonly url: string;
  close(): Promise<void>;
}

/** Whether something accepts TCP connections on host:port. */
export function isListening(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (result: boolean): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Start an in-process MQTT broker on host:port. Resolves `undefined` when a
 * broker already listens there (and should be used instead).
 */
export async function startEmbeddedBroker(host = EMBEDDED_HOST, port = EMBEDDED_PORT): Promise<EmbeddedBroker | undefined> {
  if (await isListening(host, port)) {
    debug('a broker already listens on %s:%d', host, port);
    return undefined;
  }
  // Loaded only when needed: most runs talk to a real broker.
  const { Aedes } = await import('aedes');
  const claims = new ConsumerClaims();
  const aedes = await Aedes.createBroker({ authorizeSubscribe: (client, subscription, callback) => callback(null, claims.authorize(client, subscription)) });
  aedes.on('unsubscribe', (topics, client) => claims.release(client, topics));
  aedes.on('clientDisconnect', (client) => claims.release(client));
  const server = net.createServer((socket) => aedes.handle(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (cause) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw new BrokerError(ErrorCode.BrokerConnection, `cannot start the embedded MQTT broker on ${host}:${port}: ${errorMessage(cause)}`, { cause });
  }
  debug('embedded MQTT broker on %s:%d', host, port);
  return {
    url: `mqtt://${host}:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Who consumes each queue: the client that subscribed to its claim topic
 * ({@link CONSUMER_CLAIM_PREFIX}) first, while it stays connected. Another
 * client's claim is refused (SUBACK 0x80), and the transport refuses to
 * consume. Kept here, not read from the clients' subscriptions, so that two
 * claims arriving together cannot both pass.
 */
class ConsumerClaims {
  private readonly holders = new Map<string, Client>();

  /** The subscription, or null to refuse it. */
  authorize(client: Client, subscription: Subscription): Subscription | null {
    const { topic } = subscription;
    if (!topic.startsWith(CONSUMER_CLAIM_PREFIX)) {
      return subscription;
    }
    const holder = this.holders.get(topic);
    if (holder && holder !== client && !holder.closed) {
      debug('%s claims %s, held by %s: refused', client.id, topic, holder.id);
      return null;
    }
    this.holders.set(topic, client);
    return subscription;
  }

  /** Release what `client` holds: `topics`, or all, once it is gone. */
  release(client: Client, topics?: readonly string[]): void {
    for (const [topic, holder] of this.holders) {
      if (holder === client && (topics === undefined || topics.includes(topic))) {
        this.holders.delete(topic);
      }
    }
  }
}
