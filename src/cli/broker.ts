/**
 * The broker a command talks to: the one configured, else the embedded default.
 */
import { InvalidOptionError } from '../errors';
import { brokerSetting } from '../participant/options';
import { createTransport, joinBrokerList, parseBrokerList, type Transport, type TransportOptions } from '../transport';
import type { WaitingNotice } from '../transport/waiting';
import { embeddedAddress, embeddedOwner, isEmbeddedGone, startEmbeddedBroker, type EmbeddedBroker, type EmbeddedOwner } from '../transport/embedded';
import { counted, info, warn } from './output';

/** How long `send` and `dump` try to reach the broker before giving up. */
export const TOOL_CONNECT_TIMEOUT_MS = 5000;

/** A transport for the configured broker, and the embedded broker if one was started. */
export interface BrokerChoice {
  readonly transport: Transport;
  readonly embedded: EmbeddedBroker | undefined;
  /** With no broker configured: the process whose embedded broker this one uses, when another one runs it. */
  readonly owner?: EmbeddedOwner;
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
 * masked), an empty list (`--broker ''`) or an in-process `memory://` broker
 * (see {@link refuseInProcessBroker}) throws, naming the flag or variable.
 */
export function configuredBroker(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const broker = brokerSetting(flag, env, '--broker');
  if (broker !== undefined) {
    refuseInProcessBroker(broker, `invalid ${flag !== undefined ? '--broker' : env.MSGFLO_BROKER ? 'MSGFLO_BROKER' : 'CLOUDAMQP_URL'}`);
  }
  return broker;
}

/**
 * Throw when `broker` (a checked list) is `memory://`: the in-process
 * transport, for code that runs its participants and their peers in one
 * process (tests, embedding). A command given one would start, say it runs,
 * and serve no one: no other process can reach it. `label` starts the
 * message, naming where the setting came from.
 */
export function refuseInProcessBroker(broker: string, label: string): void {
  if (parseBrokerList(broker).protocol === 'memory') {
    throw new InvalidOptionError(
      `${label} "${broker}": memory:// is the in-process transport, for use from code; a command has no other process to talk to over it. Give an mqtt:// or amqp:// broker, or none for the embedded MQTT broker`,
    );
  }
}

/**
 * A transport for `broker`; with none configured, the embedded MQTT broker on
 * 127.0.0.1:1883 (or the port in `MSGFLO_EMBEDDED_PORT`), started in this
 * process unless one already listens there. Using another process's embedded
 * broker, the choice names that process (`owner`), for
 * {@link embeddedGoneLine}. Throws {@link InvalidOptionError} for a bad
 * `MSGFLO_EMBEDDED_PORT`.
 */
export async function chooseBroker(broker: string | undefined, options: { startEmbedded: boolean; transport?: TransportOptions }): Promise<BrokerChoice> {
  if (broker) {
    return { transport: sayWhileWaiting(createTransport(broker, options.transport)), embedded: undefined };
  }
  const { embedded, owner, url } = await useEmbeddedBroker(options.startEmbedded);
  return { transport: sayWhileWaiting(createTransport(url, options.transport)), embedded, ...(owner ? { owner } : {}) };
}

/**
 * With no broker configured: start the embedded broker (if `start`, and
 * nothing listens there yet) or find whose it is, and say which on stderr.
 */
export async function useEmbeddedBroker(start: boolean): Promise<{ embedded: EmbeddedBroker | undefined; owner: EmbeddedOwner | undefined; url: string }> {
  const { host, port, url } = embeddedAddress();
  const embedded = start ? await startEmbeddedBroker(host, port) : undefined;
  if (embedded) {
    info(`no broker configured: started the embedded MQTT broker on ${embedded.url}`);
    return { embedded, owner: undefined, url };
  }
  const owner = embeddedOwner(host, port);
  info(`no broker configured: using the MQTT broker on ${url}${owner ? `, the embedded broker of process ${owner.pid}` : ''}`);
  return { embedded: undefined, owner, url };
}

/**
 * Close the embedded broker this process started (if any), first saying on
 * stderr, when client connections of other processes are still on it, that
 * they lose their broker. Call it after this process's own clients stopped.
 */
export async function closeEmbedded(embedded: EmbeddedBroker | undefined): Promise<void> {
  if (!embedded) {
    return;
  }
  const others = embedded.otherClients();
  if (others > 0) {
    const who = others === 1 ? '1 client connection of another process loses its' : `${counted(others, 'client connection')} of other processes lose their`;
    warn(`stopping the embedded broker on ${embedded.url}; ${who} broker`);
  }
  await embedded.close();
}

/**
 * The line that says a broker connection was lost, when the broker is
 * another process's embedded broker (`owner`) and it is gone: that it is
 * gone, and waited for. `then` says what happens meanwhile ("outputs
 * wait"). Undefined otherwise: the caller says its own line.
 */
export function embeddedGoneLine(owner: EmbeddedOwner | undefined, then: string): string | undefined {
  if (owner && isEmbeddedGone(owner)) {
    return `the embedded broker on ${owner.url} is gone (its process ${owner.pid} stopped); waiting for it to come back (a participant started with no broker configured starts it again): ${then}`;
  }
  return undefined;
}

/**
 * Say on stderr, at once and then every few seconds, that the broker cannot
 * be reached yet at start, and for how long it is tried: without it a
 * program waits silently for the whole connect timeout.
 */
function sayWhileWaiting(transport: Transport): Transport {
  transport.on('waiting', sayWaiting);
  return transport;
}

/** Say a transport's (or host's) `waiting` notice on stderr. */
export function sayWaiting({ url, reason, elapsedMs, timeoutMs }: WaitingNotice): void {
  const sofar = elapsedMs >= 1000 ? `, ${Math.round(elapsedMs / 1000)} s so far` : '';
  info(`waiting for ${url} (${reason}); trying for ${seconds(timeoutMs)} s${sofar}`);
}

/** Milliseconds as seconds, to a tenth at most. */
function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
