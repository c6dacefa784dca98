/**
 * The system as one FBP runtime: the coordinator's WebSocket endpoint for
 * Flowhub and other FBP protocol clients. Nodes are roles, components are
 * the participants' components (discovered ones, and the NoFlo components
 * and graphs this process can host), edges are bindings, IIPs are messages
 * to inqueues, exported ports are sends to and reads from queues.
 *
 * Replies are built from the fields the protocol defines, never by echoing a
 * request. One graph is held at a time: `graph:clear` replaces it (the
 * participants it started stop, its bindings are removed). This file
 * listens, checks the secret, and hands each request to its sub-protocol
 * (`./fbp/graph.ts`, `./fbp/network.ts`, `./fbp/component.ts`,
 * `./fbp/runtime.ts`), one at a time; what they share is `./fbp/state.ts`.
 */
import createDebug from 'debug';
import { createHash } from 'node:crypto';
import { errorMessage, InvalidOptionError } from '../errors';
import { InOrder, type FbpClient } from '../fbp/handler';
import { error, reply, type Reply, type Request } from '../fbp/messages';
import { serveFbpWebSocket } from '../fbp/websocket';
import type { Graph } from '../runtime/graph-source';
import type { Coordinator } from './coordinator';
import type { SystemFailure } from './failures';
import { ComponentProtocol } from './fbp/component';
import { GraphProtocol } from './fbp/graph';
import { NetworkProtocol } from './fbp/network';
import { fail, RequestError } from './fbp/payload';
import { RuntimeProtocol } from './fbp/runtime';
import { SystemState, type CoordinatorRuntimeOptions, type SubProtocol } from './fbp/state';

export { COORDINATOR_CAPABILITIES } from './fbp/runtime';
export type { CoordinatorRuntimeOptions } from './fbp/state';

const debug = createDebug('noflo-runtime-msgflo:coordinator-runtime');

/** A listening runtime endpoint. */
export interface CoordinatorRuntime {
  /** The address clients connect to, e.g. `ws://127.0.0.1:3569`. */
  readonly address: string;
  /** Stable across restarts for the same graph and address, so clients recognize the runtime. */
  readonly id: string;
  /** Disconnect the clients, stop listening and following the coordinator; the participants started stay. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Serve `coordinator`'s system, starting from `graph` (bound and started at
 * once, its nodes playing the roles of their ids), over the FBP runtime
 * protocol on a WebSocket at `options.host:options.port`.
 *
 * @throws {InvalidOptionError} when `host` is not loopback and no secret is given
 * @throws {BrokerError} code `EBROKERCONNECT` when it cannot listen
 */
export async function serveCoordinatorRuntime(coordinator: Coordinator, graph: Graph | undefined, options: CoordinatorRuntimeOptions): Promise<CoordinatorRuntime> {
  if (!LOOPBACK.has(options.host) && !options.secret) {
    throw new InvalidOptionError(`--host ${options.host} is not loopback: give a --secret, which clients must send with every request`);
  }
  const runtime = new SystemRuntime(coordinator, options);
  await runtime.open(graph);
  return runtime;
}

/** A UUID-shaped id derived from `seed`. */
function stableId(seed: string): string {
  const hex = createHash('sha1').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Replies that tell of a change to the graph or the network: every client hears of them. */
const SHARED = new Set([
  ...['clear', 'addnode', 'removenode', 'renamenode', 'changenode', 'addedge', 'removeedge', 'changeedge', 'addinitial', 'removeinitial'].map((c) => `graph:${c}`),
  ...['addinport', 'removeinport', 'renameinport', 'addoutport', 'removeoutport', 'renameoutport', 'addgroup', 'removegroup', 'renamegroup', 'changegroup'].map((c) => `graph:${c}`),
  'network:stopped',
  'runtime:ports',
]);

/** The runtime: its state, its sub-protocols, and the order requests are handled in. */
class SystemRuntime implements CoordinatorRuntime {
  address = '';
  private readonly state: SystemState;
  private readonly runtime: RuntimeProtocol;
  private readonly network: NetworkProtocol;
  /** By sub-protocol name. */
  private readonly protocols: ReadonlyMap<string, SubProtocol>;
  /** Requests of every connection, and broker events, are handled one at a time. */
  private readonly work = new InOrder();
  private readonly onParticipant = (change: string): void => {
    if (change === 'added' && !this.state.closed) {
      void this.work.run(() => this.state.taps.reconcile());
    }
  };
  private readonly onIip = (role: string, port: string, _queue: string, data: unknown): void => this.network.iipSending(role, port, data);
  private readonly onFailed = (failure: SystemFailure): void => this.network.failed(failure);
  private readonly onData = (port: string, data: unknown): void => this.runtime.outportData(port, data);

  constructor(coordinator: Coordinator, options: CoordinatorRuntimeOptions) {
    this.state = new SystemState(coordinator, options);
    this.runtime = new RuntimeProtocol(this.state);
    this.network = new NetworkProtocol(this.state);
    this.protocols = new Map<string, SubProtocol>([
      ['runtime', this.runtime],
      ['component', new ComponentProtocol(this.state)],
      ['graph', new GraphProtocol(this.state)],
      ['network', this.network],
    ]);
  }

  /** The runtime's id, once it listens (see {@link stableId}). */
  get id(): string {
    return this.state.id;
  }

  /** Bind and start `graph` (if any), follow the coordinator, and listen. */
  async open(graph: Graph | undefined): Promise<void> {
    const { state, network } = this;
    const { coordinator, options } = state;
    coordinator.on('iip', this.onIip);
    coordinator.on('failed', this.onFailed);
    if (graph) {
      state.graph = graph;
      state.graph.name = options.graphName;
      for (const node of graph.nodes) {
        state.roles.set(node.id, node.id);
      }
      await state.apply();
      await network.start();
      await state.syncIips(true);
    }
    coordinator.on('participant', this.onParticipant);
    coordinator.on('data', this.onData);
    const endpoint = await serveFbpWebSocket(options.host, options.port, {
      respond: (request, client) => this.work.run(() => this.respond(request, client)),
      connected: () => void this.work.run(() => state.taps.reconcile()),
      disconnected: () => void this.work.run(() => state.taps.reconcile()),
    });
    state.endpoint = endpoint;
    this.address = endpoint.address;
    state.id = stableId(`${options.graphName}@${options.host}:${endpoint.port}`);
  }

  async close(): Promise<void> {
    const { state } = this;
    const { coordinator } = state;
    state.closed = true;
    coordinator.off('participant', this.onParticipant);
    coordinator.off('data', this.onData);
    coordinator.off('iip', this.onIip);
    coordinator.off('failed', this.onFailed);
    await state.endpoint?.close();
    await this.work.idle();
    await state.taps.close();
  }

  private async respond(request: Request | string, client: FbpClient): Promise<Reply[]> {
    if (typeof request === 'string') {
      return [error(undefined, 'runtime', request)];
    }
    const secret = this.state.options.secret;
    if (secret && request.secret !== secret && request.payload.secret !== secret) {
      return [reply(request, request.protocol, 'error', { message: `${request.protocol}:${request.command}: wrong or missing secret` })];
    }
    try {
      const replies = await this.dispatch(request, client);
      for (const message of replies) {
        if (SHARED.has(`${message.protocol}:${message.command}`)) {
          this.state.tellOthers(client, message);
        }
      }
      return replies;
    } catch (err) {
      if (!(err instanceof RequestError) && !(err instanceof InvalidOptionError)) {
        debug('%s:%s failed: %s', request.protocol, request.command, errorMessage(err));
      }
      const message = err instanceof RequestError && err.exact ? err.message : `${request.protocol}:${request.command}: ${errorMessage(err)}`;
      return [reply(request, request.protocol, 'error', { message })];
    }
  }

  private dispatch(request: Request, client: FbpClient): Promise<Reply[]> {
    const protocol = this.protocols.get(request.protocol);
    if (!protocol) {
      fail(`protocol "${request.protocol}" is not supported by this runtime`);
    }
    return protocol.handle(request, client);
  }
}
