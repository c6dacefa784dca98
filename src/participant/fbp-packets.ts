/**
 * The packets on the edges of a participant's running network, as the FBP
 * protocol's `network:data`, `network:begingroup` and `network:endgroup`,
 * for the read-only endpoint. A client gets them once it has sent a request;
 * after `network:edges`, only those of the edges it selected.
 */
import type { EventEmitter } from 'node:events';
import type { FbpClient } from '../fbp/handler';
import type { Reply } from '../fbp/messages';
import { protocolMessage } from '../fbp/schema';

/** The part of a NoFlo `ip` event read here. */
interface IpEvent {
  id?: string;
  type?: string;
  data?: unknown;
  metadata?: { secure?: boolean };
  subgraph?: string[];
  socket?: { from?: End; to?: End };
}

interface End {
  process: { id: string };
  port: string;
  index?: number | string;
}

const EVENT_COMMANDS: Readonly<Record<string, string>> = { data: 'data', openBracket: 'begingroup', closeBracket: 'endgroup' };

/** Clients following the packets of one network. */
export class PacketFeed {
  private readonly clients = new Set<FbpClient>();
  private readonly filters = new Map<FbpClient, Set<string>>();
  private readonly listener = (event: IpEvent): void => this.forward(event);

  /**
   * @param network - the NoFlo network (its `ip` events), if one runs
   * @param graph - the graph name the events carry
   */
  constructor(
    private readonly network: EventEmitter | undefined,
    private readonly graph: string,
  ) {
    network?.on('ip', this.listener);
  }

  /** `client` asked something: it follows the packets from now on. */
  follow(client: FbpClient): void {
    this.clients.add(client);
  }

  /** `client` is gone: no more packets, and its selection is dropped. */
  forget(client: FbpClient): void {
    this.clients.delete(client);
    this.filters.delete(client);
  }

  /**
   * Select the edges `client` gets packets of (`edges`: the request's
   * `[{src: {node, port}, tgt: {node, port}}]`; anything else selects none);
   * the `network:edges` reply, answering `responseTo`.
   */
  select(client: FbpClient, edges: unknown, responseTo: string | undefined): Reply | undefined {
    const list = Array.isArray(edges) ? (edges as Array<{ src?: { node?: string; port?: string }; tgt?: { node?: string; port?: string } }>) : [];
    this.filters.set(client, new Set(list.map((edge) => signature(edge.src?.node, edge.src?.port, edge.tgt?.node, edge.tgt?.port))));
    return protocolMessage('network', 'edges', { graph: this.graph, edges: list }, responseTo);
  }

  /** Stop following the network; every client is forgotten. */
  close(): void {
    this.network?.removeListener('ip', this.listener);
    this.clients.clear();
    this.filters.clear();
  }

  private forward(event: IpEvent): void {
    const command = EVENT_COMMANDS[event.type ?? ''];
    if (this.clients.size === 0 || !command || !event.socket) {
      return;
    }
    const { from, to } = event.socket;
    const payload: Record<string, unknown> = { id: event.id ?? '', graph: this.graph };
    if (from) {
      payload.src = { node: from.process.id, port: from.port };
    }
    if (to) {
      payload.tgt = { node: to.process.id, port: to.port };
    }
    if (event.subgraph) {
      payload.subgraph = event.subgraph;
    }
    if (command === 'data') {
      payload.data = event.metadata?.secure ? 'DATA' : event.data;
    } else {
      payload.group = typeof event.data === 'string' ? event.data : '';
    }
    const edge = signature(from?.process.id, from?.port, to?.process.id, to?.port);
    let message: Reply | undefined;
    for (const client of this.clients) {
      const filter = this.filters.get(client);
      if (filter && !filter.has(edge)) {
        continue;
      }
      message ??= protocolMessage('network', command, payload);
      if (message) {
        client.send(message);
      }
    }
  }
}

function signature(srcNode: string | undefined, srcPort: string | undefined, tgtNode: string | undefined, tgtPort: string | undefined): string {
  return `${srcNode ?? ''}(${srcPort ?? ''}) -> ${tgtNode ?? ''}(${tgtPort ?? ''})`;
}
