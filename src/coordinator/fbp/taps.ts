/**
 * The packets crossing the edges of the graph the coordinator's FBP runtime
 * holds, as `network:data` to its clients: each source outqueue is tapped
 * once, while a client is connected, and a packet published there is sent
 * for every edge of the graph it crosses, to the clients that selected that
 * edge with `network:edges` (or all of them, to a client that selected none).
 */
import createDebug from 'debug';
import { errorMessage } from '../../errors';
import type { FbpClient } from '../../fbp/handler';
import { reply } from '../../fbp/messages';
import type { Graph } from '../../runtime/graph-source';
import type { Subscription } from '../../transport/transport';
import type { Coordinator } from '../coordinator';
import { edgeId } from './payload';

const debug = createDebug('noflo-runtime-msgflo:coordinator-runtime');

/** The key, in a client's state, of the edges it selected (a `Set` of {@link edgeId}s). */
export const SELECTION = 'edges';

/** What the taps read of the runtime: its graph, the role of each node, its clients. */
export interface TappedSystem {
  readonly coordinator: Coordinator;
  readonly graph: Graph;
  /** Once closed, no tap is wanted. */
  readonly closed: boolean;
  /** The role node `node` plays. */
  roleOf(node: string): string;
  /** The clients connected now. */
  clients(): FbpClient[];
}

/** The taps on the outqueues of the graph's edges. */
export class EdgeTaps {
  /** By `role\nport`: the queue tapped, and the subscription. */
  private readonly taps = new Map<string, { queue: string; subscription: Subscription }>();

  constructor(private readonly system: TappedSystem) {}

  /**
   * Tap the outqueue of every edge's source (as the registry knows it now),
   * untap the ones no longer wanted; none while no client is connected.
   */
  async reconcile(): Promise<void> {
    const { system } = this;
    const wanted = new Map<string, { role: string; port: string; queue: string }>();
    if (!system.closed && system.clients().length > 0) {
      for (const edge of system.graph.edges) {
        const role = system.roleOf(edge.from.node);
        const queue = system.coordinator.registry.byRole(role)?.outports.find((port) => port.id === edge.from.port)?.queue;
        if (queue) {
          wanted.set(`${role}\n${edge.from.port}`, { role, port: edge.from.port, queue });
        }
      }
    }
    await this.untap([...this.taps].filter(([key, tap]) => wanted.get(key)?.queue !== tap.queue).map(([key]) => key));
    for (const [key, source] of wanted) {
      if (!this.taps.has(key)) {
        const subscription = await system.coordinator.tap(source.queue, (data) => this.edgeData(source.role, source.port, data));
        this.taps.set(key, { queue: source.queue, subscription });
      }
    }
  }

  /** Untap every outqueue; cancelling failures are logged, not thrown. */
  close(): Promise<void> {
    return this.untap([...this.taps.keys()]);
  }

  private async untap(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const tap = this.taps.get(key);
      this.taps.delete(key);
      await tap?.subscription.cancel().catch((err: unknown) => debug('tap cancel: %s', errorMessage(err)));
      await tap?.subscription.close().catch((err: unknown) => debug('tap close: %s', errorMessage(err)));
    }
  }

  /** A packet published on a role's outport: `network:data` for each edge it crosses. */
  private edgeData(role: string, port: string, data: unknown): void {
    const { system } = this;
    const graph = system.graph.name;
    for (const edge of system.graph.edges) {
      if (edge.from.port !== port || system.roleOf(edge.from.node) !== role) {
        continue;
      }
      const src = { node: edge.from.node, port: edge.from.port };
      const tgt = { node: edge.to.node, port: edge.to.port };
      const id = edgeId(src, tgt);
      const message = reply(undefined, 'network', 'data', { id, graph, src, tgt, data });
      for (const client of system.clients()) {
        const selection = client.state.get(SELECTION) as Set<string> | undefined;
        if (!selection || selection.has(id)) {
          client.send(message);
        }
      }
    }
  }
}
