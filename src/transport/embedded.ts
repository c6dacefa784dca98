/**
 * The embedded default broker: with no broker configured anywhere, a
 * participant uses MQTT on 127.0.0.1:1883, and starts an in-process broker
 * (aedes) there when nothing listens yet. It makes a first run work on a
 * machine with no broker installed; production uses a real one.
 */
import createDebug from 'debug';
import net from 'node:net';
import { BrokerError, ErrorCode, errorMessage } from '../errors';

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
  const aedes = await Aedes.createBroker();
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
