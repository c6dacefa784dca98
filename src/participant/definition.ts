/**
 * Building a participant's definition from a loaded network and the options:
 * port types and descriptions from NoFlo, queue names and hidden flags from
 * the graph's export metadata, then from the options.
 */
import { randomUUID } from 'node:crypto';
import { GraphLoadError, InvalidOptionError } from '../errors';
import { inqueueClashes, queueClashes, resolvePort, type ParticipantDefinition, type PortDefinition, type PortOverride } from '../protocol/definition';
import type { ExportedPort } from '../runtime/network';
import type { ParticipantOptions } from './options';

/** What a definition is built from. */
export interface DescribedGraph {
  readonly inports: readonly ExportedPort[];
  readonly outports: readonly ExportedPort[];
  readonly label: string | undefined;
  readonly icon: string | undefined;
}

/** The ports of a participant, by kind. */
export interface ResolvedPorts {
  readonly inports: PortDefinition[];
  readonly outports: PortDefinition[];
}

/**
 * The ports of a participant playing `options.name` with `graph`, each with
 * its queue (graph metadata, then options, then the default). Refuses an
 * override for a port the graph lacks; an inport and an outport on one
 * queue (the outport's every message would come back in as a new job); and
 * two inports on one queue (messages would reach either port at random).
 * Two outports may share a queue: their messages are merged there, as the
 * graph or options ask.
 *
 * @throws GraphLoadError naming the ports and the queue
 * @throws InvalidOptionError for an override of a port the graph lacks
 */
export function resolveQueues(graph: Pick<DescribedGraph, 'inports' | 'outports'>, options: ParticipantOptions): ResolvedPorts {
  const ports = {
    inports: resolvePorts(options.name, 'inports', graph.inports, options.inports),
    outports: resolvePorts(options.name, 'outports', graph.outports, options.outports),
  };
  const clashes = queueClashes(ports);
  if (clashes.length > 0) {
    const described = clashes.map(({ inport, outport, queue }) => `inport "${inport}" and outport "${outport}" are both on queue "${queue}"`).join('; ');
    const { outport } = clashes[0] as { outport: string };
    throw new GraphLoadError(
      `${described}: every message the outport sends would come back in as a new job, without end; give one of them a queue of its own (--attr outports.${outport}.queue=QUEUE)`,
    );
  }
  const shared = inqueueClashes(ports);
  if (shared.length > 0) {
    const described = shared.map(({ inports: [a, b], queue }) => `inports "${a}" and "${b}" are both on queue "${queue}"`).join('; ');
    const [, second] = (shared[0] as { inports: readonly [string, string] }).inports;
    throw new GraphLoadError(
      `${described}: each message would reach either port as the broker picks, not the one it was sent to; give one of them a queue of its own (--attr inports.${second}.queue=QUEUE)`,
    );
  }
  return ports;
}

/** The definition of a participant playing `options.name` with `graph`. */
export function buildDefinition(graph: DescribedGraph, options: ParticipantOptions): ParticipantDefinition {
  const { inports, outports } = resolveQueues(graph, options);
  const definition: ParticipantDefinition = {
    id: `${options.name}-${randomUUID()}`,
    role: options.name,
    component: options.graph,
    inports,
    outports,
  };
  if (graph.label) {
    definition.label = graph.label;
  }
  if (graph.icon) {
    definition.icon = graph.icon;
  }
  return definition;
}

function resolvePorts(role: string, kind: 'inports' | 'outports', ports: readonly ExportedPort[], overrides: Readonly<Record<string, PortOverride>>): PortDefinition[] {
  const names = ports.map((p) => p.definition.id);
  for (const name of Object.keys(overrides)) {
    if (!names.includes(name)) {
      throw new InvalidOptionError(`invalid ${kind}.${name}: the graph has no ${kind === 'inports' ? 'inport' : 'outport'} "${name}" (it has: ${names.join(', ') || 'none'})`);
    }
  }
  return ports.map((port) => resolvePort(role, port.definition, { ...metadataOverride(port.metadata), ...overrides[port.definition.id] }));
}

/** `queue` and `hidden` set on an exported port in the graph. */
function metadataOverride(metadata: Record<string, unknown>): PortOverride {
  const override: PortOverride = {};
  if (typeof metadata.queue === 'string' && metadata.queue) {
    override.queue = metadata.queue;
  }
  if (metadata.hidden === true || metadata.hidden === 'true') {
    override.hidden = true;
  }
  return override;
}

/** The queues of the inports named by `--deadletter` (`*` meaning every visible one). */
export function deadLetterPorts(definition: ParticipantDefinition, names: readonly string[]): PortDefinition[] {
  const visible = definition.inports.filter((p) => p.queue);
  if (names.includes('*')) {
    return visible;
  }
  return names.map((name) => {
    const port = visible.find((p) => p.id === name);
    if (!port) {
      throw new InvalidOptionError(`invalid --deadletter "${name}": no visible inport of that name (visible: ${visible.map((p) => p.id).join(', ') || 'none'})`);
    }
    return port;
  });
}
