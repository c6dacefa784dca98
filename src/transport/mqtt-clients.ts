/**
 * What the MQTT transport and the embedded broker share about this
 * process's MQTT connections, apart from the transport itself, so that the
 * embedded broker does not load the MQTT client library (mqtt.js).
 */

/**
 * On a broker without shared subscriptions, a consumer of queue Q first
 * subscribes to `$msgflo/consumer/Q` on its publishing connection: a claim,
 * which the embedded broker grants to one connected client at a time (other
 * brokers grant it to all, and deliver nothing there). A second process of
 * the role is refused, rather than doing every job the first one does.
 */
export const CONSUMER_CLAIM_PREFIX = '$msgflo/consumer/';

/**
 * Client ids of this process's MQTT connections, kept after they end: a
 * broker may see a connection closed a moment after its client did (see
 * {@link isOwnMqttClient}). One per connection ever opened, a handful.
 */
const ownClientIds = new Set<string>();

/** Remember `clientId` as one of this process's MQTT connections (see {@link isOwnMqttClient}). */
export function rememberOwnMqttClient(clientId: string): void {
  ownClientIds.add(clientId);
}

/**
 * Whether `clientId` is (or was) one of this process's MQTT connections: an
 * embedded broker tells them from other processes' clients by it.
 */
export function isOwnMqttClient(clientId: string): boolean {
  return ownClientIds.has(clientId);
}
