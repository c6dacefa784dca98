/**
 * Embedding API of noflo-runtime-msgflo: run NoFlo graphs and components as
 * MsgFlo participants on AMQP or MQTT brokers.
 *
 * @example
 * const participant = await startParticipant({ name: 'repeat', graph: 'core/Repeat', broker: 'amqp://localhost' });
 * // ...
 * await participant.stop();
 */
import { InvalidOptionError } from './errors';
import { transportOptions } from './participant/connection';
import { normalizeOptions, type ParticipantInput } from './participant/options';
import { Participant } from './participant/participant';
import { createTransport } from './transport';

export * from './errors';
export { decode, encode } from './protocol/codec';
export {
  DISCOVERY_QUEUE,
  deadLetterQueueName,
  defaultQueueName,
  discoveryMessage,
  type DiscoveryMessage,
  type ParticipantDefinition,
  type PortDefinition,
  type PortOverride,
} from './protocol/definition';
export { normalizeOptions, type ParticipantInput, type ParticipantOptions } from './participant/options';
export { Participant, type JobOutcome, type ParticipantEvents } from './participant/participant';
export { transportOptions } from './participant/connection';
export { Host, ParticipantStartError, type HostEvents } from './host/host';
export { parseManifest, readManifest } from './host/manifest';
export { planSystem, type LeftAlone, type SystemPlan } from './host/system';
export { TransportPool } from './host/pool';
export { Coordinator, MissingRolesError, type CoordinatorEvents, type CoordinatorOptions } from './coordinator/coordinator';
export { describeFailure, type SystemFailure } from './coordinator/failures';
export { describeIipDelivery, type Iip, type IipDelivery } from './coordinator/initials';
export { ParticipantRegistry, type RegistryEvents } from './coordinator/registry';
export { bindingKey, describeBinding, describeEdge, downstreamOf, graphBindings, ROUND_ROBIN_COMPONENT, type Binding, type Edge, type EdgeOutcome, type Endpoint, type SystemGraph } from './protocol/bindings';
export { parseDiscovery, type ParsedDiscovery } from './protocol/discovery';
export { loadGraphFile, type Graph } from './runtime/graph-source';
export { failCurrentJob } from './runtime/network';
export { DEAD_LETTER_HEADERS } from './transport/amqp';
export {
  createTransport,
  MemoryBroker,
  memoryBroker,
  joinBrokerList,
  parseBrokerList,
  parseBrokerUrl,
  redactUrl,
  SUPPORTED_SCHEMES,
  type ConsumerState,
  type Delivery,
  type QueueKind,
  type QueueOptions,
  type SendOptions,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  type TransportEvents,
  type TransportOptions,
  type TransportStats,
  type TlsOptions,
} from './transport';
export { startEmbeddedBroker, EMBEDDED_URL, type EmbeddedBroker } from './transport/embedded';
export { ParticipantMetrics, METRIC_NAMES } from './ops/metrics';
export { ParticipantHealth, type Readiness, type ReadinessCheck } from './ops/health';
export { serveOps, type OpsEndpoint, type OpsEndpointOptions, type RouteHandler } from './ops/http';
export { SystemView, type SystemSnapshot, type RoleView, type EdgeView, type DeadLetterView } from './ops/system-view';
export { QueueInspector, type QueueDepth } from './ops/queue-depths';

/**
 * Validate `input`, connect to its broker, and start the participant.
 * A broker URL is required here (`input.broker`, or env `MSGFLO_BROKER` /
 * `CLOUDAMQP_URL`); the CLI alone falls back to the embedded broker.
 */
export async function startParticipant(input: ParticipantInput): Promise<Participant> {
  const options = normalizeOptions(input);
  if (!options.broker) {
    throw new InvalidOptionError('no broker: give a broker URL (amqp://, mqtt://) or set MSGFLO_BROKER');
  }
  const participant = new Participant(options, createTransport(options.broker, transportOptions(options)));
  await participant.start();
  return participant;
}
