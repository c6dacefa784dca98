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

/** An edge as the FBP language writes it: `a OUT -> IN b`. */
export function describeEdge(edge: Edge): string {
  return `${edge.src.process} ${edge.src.port.toUpperCase()} -> ${edge.tgt.port.toUpperCase()} ${edge.tgt.process}`;
}

/** What became of one edge of a system graph. */
export interface EdgeOutcome {
  readonly edge: Edge;
  /** The binding the edge is (part of), once its roles are discovered with the ports it names. */
  readonly binding?: Binding;
  /** Why it cannot be bound: a discovered role lacks the port it names. */
  readonly problem?: string;
}

/**
 * The bindings of a system graph, with queue names from the discovered
 * definitions (by role). Edges whose roles are not discovered yet are left
 * out and listed in `waiting`, to be bound when those roles appear; edges
 * naming a port their role does not have are listed in `problems`. `edges`
 * says, edge by edge in the graph's order, which binding each became or why
 * it cannot be bound.
 */
export function graphBindings(
  graph: SystemGraph,
  definitions: ReadonlyMap<string, ParticipantDefinition>,
): { bindings: Binding[]; waiting: string[]; problems: string[]; edges: EdgeOutcome[] } {
  const waiting = new Set<string>();
  const problems: string[] = [];
  const edgeProblems = new Map<Edge, string[]>();
  const queue = (edge: Edge, end: Endpoint, side: 'inports' | 'outports'): string | undefined => {
    const definition = definitions.get(end.process);
    if (!definition) {
      waiting.add(end.process);
      return undefined;
    }
    const port = definition[side].find((p) => p.id === end.port);
    if (!port?.queue) {
      const problem = `role "${end.process}" (${definition.component}) has no ${side === 'inports' ? 'inport' : 'outport'} "${end.port}" with a queue`;
      problems.push(problem);
      edgeProblems.set(edge, [...(edgeProblems.get(edge) ?? []), problem]);
      return undefined;
    }
    return port.queue;
  };
  const isRoundRobin = (node: string): boolean => graph.nodes.get(node) === ROUND_ROBIN_COMPONENT;
  const bindings: Binding[] = [];
  const ofEdge = new Map<Edge, Binding>();
  const roundRobins = new Map<string, { src?: string; tgt?: string; deadletter?: string; edges: Edge[]; outs: number }>();
  const entryOf = (node: string): { src?: string; tgt?: string; deadletter?: string; edges: Edge[]; outs: number } => {
    let entry = roundRobins.get(node);
    if (!entry) {
      entry = { edges: [], outs: 0 };
      roundRobins.set(node, entry);
    }
    return entry;
  };
  for (const edge of graph.edges) {
    if (isRoundRobin(edge.src.process)) {
      const entry = entryOf(edge.src.process);
      entry.edges.push(edge);
      const target = queue(edge, edge.tgt, 'inports');
      if (edge.src.port === 'deadletter') {
        if (target !== undefined) {
          entry.deadletter = target;
        }
      } else {
        entry.outs += 1;
        if (target !== undefined) {
          entry.tgt = target;
        }
      }
    } else if (isRoundRobin(edge.tgt.process)) {
      const entry = entryOf(edge.tgt.process);
      entry.edges.push(edge);
      const source = queue(edge, edge.src, 'outports');
      if (source !== undefined) {
        entry.src = source;
      }
    } else {
      const src = queue(edge, edge.src, 'outports');
      const tgt = queue(edge, edge.tgt, 'inports');
      if (src !== undefined && tgt !== undefined) {
        const binding: Binding = { type: 'pubsub', src, tgt };
        bindings.push(binding);
        ofEdge.set(edge, binding);
      }
    }
  }
  for (const [node, entry] of roundRobins) {
    if (entry.outs === 0) {
      // Nothing would ever take its messages: say so rather than wait for a target forever.
      for (const edge of entry.edges.filter((e) => e.tgt.process === node)) {
        const problem = `round-robin node "${node}" has no edge from its OUT port`;
        problems.push(problem);
        edgeProblems.set(edge, [...(edgeProblems.get(edge) ?? []), problem]);
      }
    }
    if (entry.src !== undefined && entry.tgt !== undefined) {
      const binding: Binding = entry.deadletter === undefined ? { type: 'roundrobin', src: entry.src, tgt: entry.tgt } : { type: 'roundrobin', src: entry.src, tgt: entry.tgt, deadletter: entry.deadletter };
      bindings.push(binding);
      for (const edge of entry.edges) {
        // A deadletter edge whose target lacks the port is not part of the binding made.
        if (!edgeProblems.has(edge)) {
          ofEdge.set(edge, binding);
        }
      }
    }
  }
  const edges = graph.edges.map((edge): EdgeOutcome => {
    const binding = ofEdge.get(edge);
    const problem = edgeProblems.get(edge);
    return { edge, ...(binding ? { binding } : {}), ...(problem ? { problem: problem.join('; ') } : {}) };
  });
  return { bindings, waiting: [...waiting], problems, edges };
}

/**
 * What an IIP to `role` waits for: that role and every role downstream of
 * it (along the graph's edges, through round-robin nodes), and the edges
 * leaving any of them, which must all be bound before the IIP goes, so that
 * what it causes reaches every role it is meant to.
 */
export function downstreamOf(graph: SystemGraph, role: string): { roles: Set<string>; edges: Edge[] } {
  const reached = new Set<string>([role]);
  const todo = [role];
  for (let node = todo.pop(); node !== undefined; node = todo.pop()) {
    for (const edge of graph.edges) {
      if (edge.src.process === node && !reached.has(edge.tgt.process)) {
        reached.add(edge.tgt.process);
        todo.push(edge.tgt.process);
      }
    }
  }
  const roles = new Set([...reached].filter((node) => graph.nodes.get(node) !== ROUND_ROBIN_COMPONENT));
  return { roles, edges: graph.edges.filter((edge) => reached.has(edge.src.process)) };
}

/** A connection between two roles' ports, as the system graph asks for it (see {@link roleEdges}). */
export interface RoleEdge {
  /** `roundrobin` through a round-robin node, else `pubsub`. */
  readonly type: 'pubsub' | 'roundrobin';
  readonly src: { readonly role: string; readonly port: string };
  readonly tgt: { readonly role: string; readonly port: string };
}

/**
 * The role-to-role connections a system graph asks for, whether their roles
 * are discovered or not: each edge between roles, and through each
 * round-robin node every edge into it paired with every edge out of its OUT
 * port (its `deadletter` edges are dead-letter routes, not connections).
 * Pure: nothing is looked up on a broker.
 */
export function roleEdges(graph: SystemGraph): RoleEdge[] {
  const isRoundRobin = (node: string): boolean => graph.nodes.get(node) === ROUND_ROBIN_COMPONENT;
  const result: RoleEdge[] = [];
  for (const edge of graph.edges) {
    if (isRoundRobin(edge.tgt.process)) {
      const outs = graph.edges.filter((e) => e.src.process === edge.tgt.process && e.src.port !== 'deadletter' && !isRoundRobin(e.tgt.process));
      for (const out of outs) {
        result.push({ type: 'roundrobin', src: { role: edge.src.process, port: edge.src.port }, tgt: { role: out.tgt.process, port: out.tgt.port } });
      }
    } else if (!isRoundRobin(edge.src.process)) {
      result.push({ type: 'pubsub', src: { role: edge.src.process, port: edge.src.port }, tgt: { role: edge.tgt.process, port: edge.tgt.port } });
    }
  }
  return result;
}
