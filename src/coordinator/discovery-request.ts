/**
 * Asking participants to announce themselves now, rather than waiting for
 * their heartbeat (every discovery period / 2.2, 27 s by default): see
 * {@link DISCOVERY_CONTROL_TOPIC}.
 */
import { DISCOVERY_CONTROL_TOPIC, discoveryRequest } from '../protocol/discovery';
import type { Transport } from '../transport/transport';

/**
 * Publish a discovery request. Without `replyTo` our participants announce
 * themselves on `fbp`; with an inbox address (`Transport.inbox`) they, and
 * our coordinators, answer there. Throws a `BrokerError` when the request
 * cannot be published.
 */
export async function requestAnnouncements(transport: Transport, replyTo?: string): Promise<void> {
  await transport.broadcast(DISCOVERY_CONTROL_TOPIC, discoveryRequest(replyTo));
}
