/**
 * The components of a running graph, those inside subgraphs included, and
 * what each still holds of a job: packets of its scope waiting in an inport,
 * outputs waiting in an ordered component's queue. A job's packets carry its
 * id as their IP scope (see `./network.ts`); NoFlo keeps a buffer per scope in
 * each inport, and a bracket context per scope in each component, which are
 * dropped here once the job is over, so that nothing accumulates per job.
 */
import noflo from 'noflo';

type Network = Awaited<ReturnType<typeof noflo.createNetwork>>;
type Component = InstanceType<typeof noflo.Component>;
type InPort = InstanceType<typeof noflo.InPort>;
type IP = InstanceType<typeof noflo.IP>;

/**
 * Node metadata saying that the node keeps packets across jobs on purpose (a
 * join of two queues, say): packets it keeps do not fail their job, and its
 * inports are unscoped, so that packets of different jobs meet there.
 */
export const HOLDS_METADATA = 'holds';

/** A component of the graph, or of a subgraph in it. */
export interface GraphNode {
  /** The node's id, after the ids of the subgraph nodes it is in: `outer/inner`. */
  readonly path: string;
  readonly component: Component;
  /** Declared to keep packets across jobs, itself or a subgraph node around it. */
  readonly holds: boolean;
}

/** Where a job's packet is held, and what the node holding it still lacks. */
export interface HeldPacket {
  readonly node: string;
  readonly port: string;
  /** The node's other inports that have nothing for the job. */
  readonly waitingFor: readonly string[];
  /**
   * Among them, control ports that have had no packet yet: the node waits
   * for its configuration (an IIP on its way, say), which, once it comes,
   * every job's packets see.
   */
  readonly unconfigured: readonly string[];
}

/**
 * Every component of `network`, subgraphs opened up: a subgraph's component
 * only lends its inner nodes' ports, so its inner nodes are listed instead.
 */
export function graphNodes(network: Network, prefix = '', holds = false): GraphNode[] {
  const nodes: GraphNode[] = [];
  for (const process of Object.values(network.processes)) {
    const component = process.component;
    if (!component) {
      continue;
    }
    const path = prefix + process.id;
    const declared = holds || isDeclared(network.graph.getNode(process.id)?.metadata?.[HOLDS_METADATA]);
    const inner = component.isSubgraph() ? (component as { network?: Network | null }).network : undefined;
    if (inner) {
      nodes.push(...graphNodes(inner, `${path}/`, declared));
    } else {
      nodes.push({ path, component, holds: declared });
    }
  }
  return nodes;
}

/** `true`, or `"true"` as the FBP language writes metadata (`node(Component:holds=true)`). */
function isDeclared(value: unknown): boolean {
  return value === true || value === 'true';
}

/** Make a holding node's inports unscoped: NoFlo then buffers packets of all jobs together there. */
export function unscope(node: GraphNode): void {
  for (const port of Object.values(node.component.inPorts.ports)) {
    port.options.scoped = false;
  }
}

const isData = (ip: IP): boolean => ip.type === 'data';

/** The first data packet of `scope` held in an inport of a node not declared to hold packets. */
export function findHeld(nodes: readonly GraphNode[], scope: string): HeldPacket | undefined {
  for (const node of nodes) {
    if (node.holds) {
      continue;
    }
    const ports = node.component.inPorts.ports;
    for (const [name, port] of Object.entries(ports)) {
      // A control port keeps its last packet for good: that is its purpose.
      if (port.options.control || !buffers(port, scope).some((buffer) => buffer.some((ip) => ip.scope === scope && isData(ip)))) {
        continue;
      }
      const waiting = Object.entries(ports).filter(([other, p]) => other !== name && !p.isAddressable() && !p.hasDefault() && !p.has(scope, isData));
      const waitingFor = waiting.map(([other]) => other);
      const unconfigured = waiting.filter(([, p]) => p.options.control === true).map(([other]) => other);
      return { node: node.path, port: name, waitingFor, unconfigured };
    }
  }
  return undefined;
}

/**
 * Hand the packets of `scope` held in inports back to their ports, in their
 * order, as if they arrived now: their components look at them again, with
 * whatever came meanwhile (a control port's configuration). Returns how many.
 */
export function redeliverHeld(nodes: readonly GraphNode[], scope: string): number {
  let count = 0;
  for (const node of nodes) {
    if (node.holds) {
      continue;
    }
    for (const port of Object.values(node.component.inPorts.ports)) {
      if (port.options.control) {
        continue;
      }
      for (const buffer of buffers(port, scope)) {
        const held = buffer.filter((ip) => ip.scope === scope);
        if (!held.some(isData)) {
          continue;
        }
        removeScope(buffer, scope);
        for (const ip of held) {
          count += 1;
          port.handleIP(ip, ip.index ?? null);
        }
      }
    }
  }
  return count;
}

/** Whether an ordered component keeps an output of `scope` back, behind work of other jobs. */
export function hasQueuedOutput(nodes: readonly GraphNode[], scope: string): boolean {
  for (const node of nodes) {
    for (const result of node.component.outputQ) {
      for (const [key, value] of Object.entries(result)) {
        if (key.startsWith('__')) {
          continue;
        }
        // By port: a list of IPs, or lists by index for an addressable port.
        const lists: IP[][] = Array.isArray(value) ? [value as IP[]] : Object.values(value as Record<string, IP[]>);
        if (lists.some((list) => list.some((ip) => ip.scope === scope))) {
          return true;
        }
      }
    }
  }
  return false;
}

/** Drop what NoFlo keeps for `scope`: its buffers, its packets in unscoped buffers (not a holding node's), its bracket contexts. */
export function forgetScope(nodes: readonly GraphNode[], scope: string): void {
  for (const node of nodes) {
    for (const port of Object.values(node.component.inPorts.ports)) {
      if (port.scopedBuffer && scope in port.scopedBuffer) {
        delete port.scopedBuffer[scope];
      }
      if (port.indexedScopedBuffer && scope in port.indexedScopedBuffer) {
        delete port.indexedScopedBuffer[scope];
      }
      if (!node.holds) {
        for (const buffer of unscopedBuffers(port)) {
          removeScope(buffer, scope);
        }
      }
    }
    const contexts = node.component.bracketContext as unknown as Record<'in' | 'out', Record<string, Record<string, unknown>>>;
    for (const byPort of [contexts.in, contexts.out]) {
      for (const byScope of Object.values(byPort)) {
        delete byScope[scope];
      }
    }
  }
}

/** The buffers of `port` that can hold packets of `scope`. */
function buffers(port: InPort, scope: string): IP[][] {
  const scoped = port.isAddressable() ? Object.values(port.indexedScopedBuffer?.[scope] ?? {}) : [port.scopedBuffer?.[scope] ?? []];
  return [...scoped, ...unscopedBuffers(port)];
}

function unscopedBuffers(port: InPort): IP[][] {
  return port.isAddressable() ? Object.values(port.indexedBuffer) : [port.buffer];
}

function removeScope(buffer: IP[], scope: string): void {
  for (let i = buffer.length - 1; i >= 0; i -= 1) {
    if (buffer[i]?.scope === scope) {
      buffer.splice(i, 1);
    }
  }
}
