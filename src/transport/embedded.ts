/**
 * The embedded default broker: with no broker configured anywhere, a
 * participant uses MQTT on 127.0.0.1:1883 (or the port in
 * {@link EMBEDDED_PORT_VAR}), and starts an in-process broker (aedes) there
 * when nothing listens yet. It makes a first run work on a machine with no
 * broker installed; production uses a real one.
 *
 * It lives as long as the process that started it: the first one. Others
 * started afterwards use it, and know it is the embedded broker, and whose,
 * from a marker file the owner keeps in the temporary directory
 * ({@link embeddedOwner}). When the owner stops, it says how many client
 * connections of other processes lose their broker, and removes the marker
 * before it closes the broker, so that those clients can say the embedded
 * broker is gone rather than just that a connection was lost. They keep
 * reconnecting, as to any broker: the next process started with no broker
 * configured starts the embedded broker again, and they are back (with no
 * retained messages or sessions: the broker keeps nothing).
 *
 * It has no shared subscriptions, so every consumer of a queue would get
 * every message: two participants of one role would each do every job. It
 * takes one consumer per queue instead (see {@link CONSUMER_CLAIM_PREFIX}).
 */
import type { Client, Subscription } from 'aedes';
import createDebug from 'debug';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BrokerError, ErrorCode, InvalidOptionError, errorMessage } from '../errors';
import { CONSUMER_CLAIM_PREFIX, isOwnMqttClient } from './mqtt-clients';

const debug = createDebug('noflo-runtime-msgflo:embedded');

/** Where the embedded default broker listens, unless {@link EMBEDDED_PORT_VAR} says another port. */
export const EMBEDDED_HOST = '127.0.0.1';
export const EMBEDDED_PORT = 1883;
export const EMBEDDED_URL = `mqtt://${EMBEDDED_HOST}:${EMBEDDED_PORT}`;

/**
 * The environment variable that moves the embedded broker, and the default
 * address of every command, to another port of 127.0.0.1 (say, to run two
 * separate systems on one machine).
 */
export const EMBEDDED_PORT_VAR = 'MSGFLO_EMBEDDED_PORT';

/** An address of the embedded broker. */
export interface EmbeddedAddress {
  readonly host: string;
  readonly port: number;
  /** `mqtt://host:port`. */
  readonly url: string;
}

/**
 * Where the embedded broker listens: 127.0.0.1, on the port in
 * {@link EMBEDDED_PORT_VAR} or 1883. Throws {@link InvalidOptionError} when
 * the variable is set but not a port from 1 to 65535.
 */
export function embeddedAddress(env: NodeJS.ProcessEnv = process.env): EmbeddedAddress {
  const value = env[EMBEDDED_PORT_VAR];
  if (value === undefined || value === '') {
    return { host: EMBEDDED_HOST, port: EMBEDDED_PORT, url: EMBEDDED_URL };
  }
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidOptionError(`invalid ${EMBEDDED_PORT_VAR} "${value}": expected a TCP port from 1 to 65535`);
  }
  return { host: EMBEDDED_HOST, port, url: `mqtt://${EMBEDDED_HOST}:${port}` };
}

/** A broker started in this process. */
export interface EmbeddedBroker {
  readonly url: string;
  /**
   * MQTT clients connected now that are not this process's own connections
   * ({@link isOwnMqttClient}): each connection counts (a participant has one
   * to publish and one per inport it consumes).
   */
  otherClients(): number;
  /** Remove the marker, then close the broker: every client is disconnected. */
  close(): Promise<void>;
}

/** The process that runs the embedded broker on an address, from its marker file. */
export interface EmbeddedOwner {
  readonly url: string;
  readonly pid: number;
}

/** The marker file of the embedded broker on host:port, in the temporary directory. */
function markerFile(host: string, port: number): string {
  return path.join(os.tmpdir(), `noflo-runtime-msgflo-embedded-${host}-${port}.json`);
}

/** Whether process `pid` exists (EPERM: it does, someone else's). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The process running the embedded broker on host:port, when one of ours
 * does (its marker file is there and names a live process); undefined for
 * any other broker there (a Mosquitto), or none.
 */
export function embeddedOwner(host: string, port: number): EmbeddedOwner | undefined {
  try {
    const marker = JSON.parse(readFileSync(markerFile(host, port), 'utf8')) as { pid?: unknown; url?: unknown };
    if (typeof marker.pid === 'number' && typeof marker.url === 'string' && isAlive(marker.pid)) {
      return { pid: marker.pid, url: marker.url };
    }
  } catch (err) {
    debug('no embedded broker marker for %s:%d: %s', host, port, errorMessage(err));
  }
  return undefined;
}

/**
 * Whether the embedded broker of `owner` is gone: its marker was removed
 * (the owner stopped it), names another process, or its process is dead.
 */
export function isEmbeddedGone(owner: EmbeddedOwner): boolean {
  const url = new URL(owner.url);
  return embeddedOwner(url.hostname, Number(url.port))?.pid !== owner.pid;
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
  const clients = new Set<Client>();
  aedes.on('client', (client) => clients.add(client));
  aedes.on('unsubscribe', (topics, client) => claims.release(client, topics));
  aedes.on('clientDisconnect', (client) => {
    clients.delete(client);
    claims.release(client);
  });
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
  const url = `mqtt://${host}:${port}`;
  const marker = writeMarker(host, port, url);
  return {
    url,
    otherClients: () => {
      const others = [...clients].filter((client) => !client.closed && !isOwnMqttClient(client.id));
      debug('clients of other processes on %s: %s', url, others.map((client) => client.id).join(', ') || 'none');
      return others.length;
    },
    close: async () => {
      marker.remove();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Write the marker of the embedded broker this process runs on host:port;
 * `remove()` deletes it (also done at exit), unless another process's
 * marker has replaced it. A marker that cannot be written is left out:
 * clients then just do not know the broker is the embedded one.
 */
function writeMarker(host: string, port: number, url: string): { remove(): void } {
  const file = markerFile(host, port);
  const remove = (): void => {
    process.removeListener('exit', remove);
    if (embeddedOwner(host, port)?.pid === process.pid) {
      rmSync(file, { force: true });
    }
  };
  try {
    writeFileSync(file, `${JSON.stringify({ pid: process.pid, url })}\n`);
    process.once('exit', remove);
  } catch (err) {
    debug('cannot write %s: %s', file, errorMessage(err));
  }
  return { remove };
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
