/**
 * Connection options shared by the transports.
 */
import type { QueueOptions } from './transport';

/** TLS material for `amqps://` and `mqtts://`. */
export interface TlsOptions {
  /** CA certificates to trust (PEM). */
  ca?: Buffer;
  /** Client certificate (PEM), for brokers that require one. */
  cert?: Buffer;
  /** Client private key (PEM). */
  key?: Buffer;
  /** Verify the broker's certificate (default true). */
  rejectUnauthorized?: boolean;
}

/** How to connect and what to declare. */
export interface TransportOptions {
  /**
   * How long to keep trying to connect at start, in ms, before giving up
   * (default 30 s). Once connected, a lost connection is retried forever.
   */
  connectTimeoutMs?: number;
  tls?: TlsOptions;
  /** MQTT: the client id of the publishing connection; random when absent. */
  clientId?: string;
  /**
   * MQTT: the QoS of inputs (the inqueues' subscriptions) and outputs
   * (default 1). At 0, as the original noflo-runtime-msgflo and msgflo-nodejs
   * ran, nothing is acknowledged: a message is lost when the participant or
   * the broker fails while it is on its way, and a persistent session keeps
   * no input for a participant that is down (Mosquitto's default). For
   * telemetry, where losing some is better than waiting. Discovery messages
   * stay at QoS 1. AMQP ignores it.
   */
  mqttQos?: 0 | 1;
}

/** Default of {@link TransportOptions.connectTimeoutMs}. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** Default of {@link QueueOptions.deliveryLimit}. */
export const DEFAULT_DELIVERY_LIMIT = 5;

/** Reconnect delays: exponential from 100 ms to 5 s, with jitter so workers do not reconnect in lockstep. */
export function backoffDelay(attempt: number): number {
  const base = Math.min(5000, 100 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
