/**
 * What the coordinator's FBP runtime holds, shared by its sub-protocols
 * (`./graph.ts`, `./network.ts`, `./component.ts`, `./runtime.ts`): the one
 * graph clients edit, the role each of its nodes plays, the participants it
 * started, whether the network runs, and the connected clients. And how the
 * graph reaches the system: by roles, to the coordinator, which binds and
 * unbinds queues and sends the IIPs.
 */
import * as noflo from 'noflo';
import type { FbpClient } from '../../fbp/handler';
import { reply, type Reply, type Request } from '../../fbp/messages';
import type { WebSocketEndpoint } from '../../fbp/websocket';
import type { Host } from '../../host/host';
import type { Library } from '../../host/library';
import type { LibraryNode } from '../../host/system';
import type { Participant } from '../../participant/participant';
import type { ComponentLoader, Graph } from '../../runtime/graph-source';
import type { Coordinator } from '../coordinator';
import { fail, type NodePort, type Payload } from './payload';
import { EdgeTaps, type TappedSystem } from './taps';

/** Starts participants of the participant library's components, each a process of its own. */
export interface CommandStarter {
  readonly library: Library;
  /** Start `node`'s command. */
  start(node: LibraryNode): Promise<void>;
  /** Stop the process of `role`; resolves once it has exited. */
  stop(role: string): Promise<void>;
}

/** Where and how the runtime listens. */
export interface CoordinatorRuntimeOptions {
  readonly host: string;
  /** The TCP port; 0 for one the system picks. */
  readonly port: number;
  /** Required of every request when set; required to be set when `host` is not loopback. */
  readonly secret?: string | undefined;
  /** The main graph's name, as clients see it. */
  readonly graphName: string;
  /**
   * Other ids requests may name the main graph by, until `graph:clear`
   * replaces it: its file's name (`RepeatChain.fbp` for `RepeatChain`), as
   * the command line shows it.
   */
  readonly graphAliases?: readonly string[] | undefined;
  /** Hosts the participants that `graph:addnode` starts; without it, nodes wait for their roles to be discovered. */
  readonly participantHost?: Host | undefined;
  /** The NoFlo components that can be hosted. */
  readonly loader?: ComponentLoader | undefined;
  /** Starts the processes of nodes whose component the participant library has (it wins over a NoFlo one). */
  readonly commands?: CommandStarter | undefined;
}

/** One sub-protocol's part of the runtime: the replies to its requests. */
export interface SubProtocol {
  /**
   * The replies to `request` (of this sub-protocol) from `client`, which
   * may also be sent messages before them.
   *
   * @throws {RequestError} (see `./payload.ts`) when the request cannot be done; others for failures of the system
   */
  handle(request: Request, client: FbpClient): Promise<Reply[]>;
}

/** The state of the coordinator's runtime. */
export class SystemState implements TappedSystem {
  /** The runtime's id, as `runtime:runtime` gives it; set once it listens. */
  id = '';
  /** The WebSocket endpoint, once it listens. */
  endpoint: WebSocketEndpoint | undefined;
  /** The one graph held; `graph:clear` replaces it. */
  graph: Graph = new noflo.Graph('main', { caseSensitive: true });
  /** Other ids of the graph held (see {@link CoordinatorRuntimeOptions.graphAliases}); `graph:clear` empties it. */
  readonly graphAliases = new Set<string>();
  /** The role each node plays (a renamed node keeps its role and queues). */
  readonly roles = new Map<string, string>();
  /** Roles whose participant this runtime started in this process. */
  readonly hosted = new Set<string>();
  /** Roles whose participant this runtime started as a process of its own, from the library. */
  readonly launched = new Set<string>();
  /** Whether the network is started: its IIPs are sent, the hosted participants consume. */
  started = false;
  /** When it was started, in ms since the epoch. */
  startedAt = 0;
  /** Set when the runtime closes: no more taps. */
  closed = false;
  /** The taps showing the packets on the graph's edges. */
  readonly taps = new EdgeTaps(this);

  constructor(
    readonly coordinator: Coordinator,
    readonly options: CoordinatorRuntimeOptions,
  ) {
    for (const alias of options.graphAliases ?? []) {
      this.graphAliases.add(alias);
    }
  }

  /** The role node `node` plays (its own id, unless it was renamed). */
  roleOf(node: string): string {
    return this.roles.get(node) ?? node;
  }

  /** The node playing `role` (a renamed node keeps its role). */
  nodeOf(role: string): string {
    for (const [node, played] of this.roles) {
      if (played === role) {
        return node;
      }
    }
    return role;
  }

  /** The clients connected now (none before the runtime listens). */
  clients(): FbpClient[] {
    return this.endpoint?.clients() ?? [];
  }

  /** Send `message` to every client. */
  broadcast(message: Reply): void {
    for (const client of this.clients()) {
      client.send(message);
    }
  }

  /** Let the other clients know of a change one client made (as a notification: no `responseTo`). */
  tellOthers(client: FbpClient, message: Reply): void {
    const notification = reply(undefined, message.protocol, message.command, message.payload);
    for (const other of this.clients()) {
      if (other !== client) {
        other.send(notification);
      }
    }
  }

  /**
   * The graph a request names, which must be the one held, by its id or one
   * of its {@link SystemState.graphAliases}. Returns the id as the request
   * gave it, for the replies.
   *
   * @throws {RequestError} exactly `No graph specified` or `Requested graph not found`, the wording FBP clients expect
   */
  checkGraph(payload: Payload): string {
    const graph = payload.graph;
    // The wording of these two is what FBP clients expect.
    if (graph === undefined) {
      fail('No graph specified', true);
    }
    if (graph !== this.graph.name && !(typeof graph === 'string' && this.graphAliases.has(graph))) {
      fail('Requested graph not found', true);
    }
    return graph as string;
  }

  /** @throws {RequestError} when the graph has no node `id` */
  checkNode(id: string): void {
    if (!this.graph.getNode(id)) {
      fail(`no node "${id}" in graph "${this.graph.name}"`);
    }
  }

  /**
   * When the node's participant is known, its port must exist.
   *
   * @throws {RequestError} naming the ports it has, when it has no such port
   */
  checkPort(end: NodePort, kind: 'inports' | 'outports'): void {
    const definition = this.coordinator.registry.byRole(this.roleOf(end.node));
    if (definition && !definition[kind].some((port) => port.id === end.port)) {
      const names = definition[kind].map((port) => port.id).join(', ') || 'none';
      fail(`node "${end.node}" (${definition.component}) has no ${kind === 'inports' ? 'inport' : 'outport'} "${end.port}" (it has: ${names})`);
    }
  }

  /** The participants this runtime started, of the host's. */
  hostedParticipants(): Participant[] {
    const host = this.options.participantHost;
    return host ? host.participants.filter((participant) => this.hosted.has(participant.definition.role)) : [];
  }

  /** Running: started, and work in flight (IIPs not sent yet, jobs of hosted participants). */
  running(): boolean {
    return this.started && (this.coordinator.pendingIips() > 0 || this.hostedParticipants().some((participant) => participant.jobsInFlight > 0));
  }

  /**
   * Hand the graph, by roles, to the coordinator, which binds and unbinds;
   * then the IIPs (see {@link syncIips}), and the taps follow.
   *
   * @throws the coordinator's errors (a binding the broker refused)
   */
  async apply(): Promise<void> {
    const system = new noflo.Graph(this.graph.name, { caseSensitive: true });
    const g = this.graph;
    for (const node of g.nodes) {
      system.addNode(this.roleOf(node.id), node.component);
    }
    for (const edge of g.edges) {
      system.addEdge(this.roleOf(edge.from.node), edge.from.port, this.roleOf(edge.to.node), edge.to.port);
    }
    for (const [name, target] of Object.entries(g.inports)) {
      system.addInport(name, this.roleOf(target.process), target.port);
    }
    for (const [name, target] of Object.entries(g.outports)) {
      system.addOutport(name, this.roleOf(target.process), target.port);
    }
    await this.coordinator.load(system, { initials: false });
    await this.syncIips();
    await this.taps.reconcile();
  }

  /**
   * The graph's IIPs, by role, to the coordinator while the network runs
   * (none while stopped): it sends each once its role and the roles
   * downstream are bound, and again to a participant of the role that starts
   * later. `fresh` (a start) sends them all again.
   */
  async syncIips(fresh = false): Promise<void> {
    const iips = this.started ? this.graph.initializers.map((iip) => ({ process: this.roleOf(iip.to.node), port: iip.to.port, data: iip.from.data as unknown })) : [];
    await this.coordinator.setIips(iips, { fresh });
  }
}
