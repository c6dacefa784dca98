/**
 * The broker a command talks to: the one configured, else the embedded default.
 */
import { InvalidOptionError } from '../errors';
import { brokerSetting } from '../participant/options';
import { createTransport, joinBrokerList, parseBrokerList, type Transport, type TransportOptions } from '../transport';
import type { WaitingNotice } from '../transport/waiting';
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
 * 127.0.0.1:1883, started in this process unless one already listens there.
 */
export async function chooseBroker(broker: string | undefined, options: { startEmbedded: boolean; transport?: TransportOptions }): Promise<BrokerChoice> {
  if (broker) {
    return { transport: sayWhileWaiting(createTransport(broker, options.transport)), embedded: undefined };
  }
  const embedded = options.startEmbedded ? await startEmbeddedBroker() : undefined;
  if (embedded) {
    info(`no broker configured: started the embedded MQTT broker on ${embedded.url}`);
  } else {
    info(`no broker configured: using the MQTT broker on ${EMBEDDED_URL}`);
  }
  return { transport: sayWhileWaiting(createTransport(EMBEDDED_URL, options.transport)), embedded };
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
