/**
 * Bindings between participants' queues, made from a system graph: pure
 * data, no I/O. See WIRE: "Connections between roles".
 */
import type { ParticipantDefinition } from './definition';

/** A connection between queues the broker makes. */
export interface Binding {
  /** `pubsub`: every role bound gets each message; `roundrobin`: one consumer of the target gets each. */
  readonly type: 'pubsub' | 'roundrobin';
  /** The source outqueue. */
  readonly src: string;
  /** The target inqueue. */
  readonly tgt: string;
  /** Round robin: the queue that receives the target's dead letters. */
  readonly deadletter?: string;
}

/** The component of a round-robin marker node in a system graph. */
export const ROUND_ROBIN_COMPONENT = 'msgflo/RoundRobin';

/** One end of an edge: a node (role) and a port. */
export interface Endpoint {
  readonly process: string;
  readonly port: string;
}

/** An edge between roles. */
export interface Edge {
  readonly src: Endpoint;
  readonly tgt: Endpoint;
}

/** The parts of a system graph bindings are made from. */
export interface SystemGraph {
  /** Node id → component. */
  readonly nodes: ReadonlyMap<string, string>;
  readonly edges: readonly Edge[];
}

/** A stable key for a binding, to tell bindings apart and compare sets of them. */
export function bindingKey(binding: Binding): string {
  return `${binding.type} ${binding.src} ${binding.tgt} ${binding.deadletter ?? ''}`;
}

/** A human-readable line for a binding, as msgflo-setup prints them. */
export function describeBinding(binding: Binding): string {
  const base = `${binding.type.toUpperCase()}:\t${binding.src} -> ${binding.tgt}`;
  return binding.deadletter ? `${base}\n DEADLETTER:\t${binding.tgt} -> ${binding.deadletter}` : base;
}

/**
 * The bindings of a system graph, with queue names from the discovered
 * definitions (by role). Edges whose roles are not discovered yet are left
 * out and listed in `waiting`, to be bound when those roles appear.
 */
export function graphBindings(
  graph: SystemGraph,
  definitions: ReadonlyMap<string, ParticipantDefinition>,
): { bindings: Binding[]; waiting: string[]; problems: string[] } {
  const waiting = new Set<string>();
  const problems: string[] = [];
  const queue = (end: Endpoint, side: 'inports' | 'outports'): string | undefined => {
    const definition = definitions.get(end.process);
    if (!definition) {
      waiting.add(end.process);
      return undefined;
    }
    const port = definition[side].find((p) => p.id === end.port);
    if (!port?.queue) {
      problems.push(`role "${end.process}" (${definition.component}) has no ${side === 'inports' ? 'inport' : 'outport'} "${end.port}" with a queue`);
      return undefined;
    }
    return port.queue;
  };
  const isRoundRobin = (node: string): boolean => graph.nodes.get(node) === ROUND_ROBIN_COMPONENT;
  const bindings: Binding[] = [];
  const roundRobins = new Map<string, { src?: string; tgt?: string; deadletter?: string }>();
  for (const edge of graph.edges) {
    if (isRoundRobin(edge.src.process)) {
      const entry = roundRobins.get(edge.src.process) ?? {};
      const target = queue(edge.tgt, 'inports');
      if (target !== undefined) {
        if (edge.src.port === 'deadletter') {
          entry.deadletter = target;
        } else {
          entry.tgt = target;
        }
      }
      roundRobins.set(edge.src.process, entry);
    } else if (isRoundRobin(edge.tgt.process)) {
      const entry = roundRobins.get(edge.tgt.process) ?? {};
      const source = queue(edge.src, 'outports');
      if (source !== undefined) {
        entry.src = source;
      }
      roundRobins.set(edge.tgt.process, entry);
    } else {
      const src = queue(edge.src, 'outports');
      const tgt = queue(edge.tgt, 'inports');
      if (src !== undefined && tgt !== undefined) {
        bindings.push({ type: 'pubsub', src, tgt });
      }
    }
  }
  for (const entry of roundRobins.values()) {
    if (entry.src !== undefined && entry.tgt !== undefined) {
      bindings.push(entry.deadletter === undefined ? { type: 'roundrobin', src: entry.src, tgt: entry.tgt } : { type: 'roundrobin', src: entry.src, tgt: entry.tgt, deadletter: entry.deadletter });
    }
  }
  return { bindings, waiting: [...waiting], problems };
}
