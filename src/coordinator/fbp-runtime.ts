/**
 * The system as one FBP runtime: the coordinator's WebSocket endpoint for
 * Flowhub and other FBP protocol clients. Nodes are roles, components are
 * the participants' components (discovered ones, and the NoFlo components
 * and graphs this process can host), edges are bindings, IIPs are messages
 * to inqueues, exported ports are sends to and reads from queues.
 *
 * Replies are built from the fields the protocol defines, never by echoing a
 * request. One graph is held at a time: `graph:clear` replaces it (the
 * participants it started stop, its bindings are removed).
 */
import createDebug from 'debug';
import { createHash } from 'node:crypto';
import * as noflo from 'noflo';
import { errorMessage, InvalidOptionError } from '../errors';
import type { FbpClient } from '../fbp/handler';
import { error, FBP_PROTOCOL_VERSION, reply, type Reply, type Request } from '../fbp/messages';
import { serveFbpWebSocket, type WebSocketEndpoint } from '../fbp/websocket';
import type { Host } from '../host/host';
import { participantComponent } from '../participant/fbp-endpoint';
import type { Participant } from '../participant/participant';
import { listNames, lookupComponent } from '../runtime/component-names';
import type { ComponentLoader, Graph } from '../runtime/graph-source';
import type { Subscription } from '../transport/transport';
import { hostableComponents, nofloComponent, type ComponentInfo } from './components';
import type { Coordinator } from './coordinator';
import type { SystemFailure } from './failures';
import type { IipDelivery } from './initials';

const debug = createDebug('noflo-runtime-msgflo:coordinator-runtime');

/** What the coordinator's runtime can do, as `runtime:runtime` announces it. */
export const COORDINATOR_CAPABILITIES = [
  'protocol:runtime',
  'protocol:graph',
  'protocol:component',
  'protocol:network',
  'component:getsource',
  'network:status',
  'network:data',
  'network:control',
];

/** Where and how the runtime listens. */
export interface CoordinatorRuntimeOptions {
  readonly host: string;
  readonly port: number;
  /** Required of every request when set; required to be set when `host` is not loopback. */
  readonly secret?: string | undefined;
  /** The main graph's name, as clients see it. */
  readonly graphName: string;
  /** Hosts the participants that `graph:addnode` starts; without it, nodes wait for their roles to be discovered. */
  readonly participantHost?: Host | undefined;
  /** The NoFlo components that can be hosted. */
  readonly loader?: ComponentLoader | undefined;
}

/** A listening runtime endpoint. */
export interface CoordinatorRuntime {
  readonly address: string;
  /** Stable across restarts for the same graph and address, so clients recognize the runtime. */
  readonly id: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Serve `coordinator`'s system, starting from `graph`, over the FBP runtime protocol. */
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

/** A port of a node, as the protocol writes it. */
interface NodePort {
  node: string;
  port: string;
  index?: number;
}

type Payload = Record<string, unknown>;

/** A request's error, answered as `<protocol>:error`; `exact` ones are sent without naming the command. */
class RequestError extends Error {
  constructor(
    message: string,
    readonly exact: boolean,
  ) {
    super(message);
  }
}

function fail(message: string, exact = false): never {
  throw new RequestError(message, exact);
}

function str(payload: Payload, key: string, what = key): string {
  const value = payload[key];
  if (typeof value !== 'string' || value === '') {
    fail(`missing ${what}: expected a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function meta(payload: Payload): Record<string, unknown> {
  const value = payload.metadata;
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function nodePort(payload: Payload, key: 'src' | 'tgt'): NodePort {
  const value = payload[key];
  if (typeof value !== 'object' || value === null) {
    fail(`missing ${key}: expected {node, port}`);
  }
  const end = value as Payload;
  const result: NodePort = { node: str(end, 'node', `${key}.node`), port: str(end, 'port', `${key}.port`) };
  if (typeof end.index === 'number') {
    result.index = end.index;
  }
  return result;
}

/** Only the keys of `source` that are set, in the order given. */
function pick(source: Payload, keys: readonly string[]): Payload {
  const result: Payload = {};
  for (const key of keys) {
    if (source[key] !== undefined) {
      result[key] = source[key];
    }
  }
  return result;
}

/** The NoFlo-style name of an edge (`A() OUT -> IN B()`), or of an IIP (`DATA -> IN B()`). */
function edgeId(src: NodePort | undefined, tgt: NodePort): string {
  const to = `${tgt.port.toUpperCase()} ${tgt.node}()`;
  return src ? `${src.node}() ${src.port.toUpperCase()} -> ${to}` : `DATA -> ${to}`;
}

const SELECTION = 'edges';

/** Replies that tell of a change to the graph or the network: every client hears of them. */
const SHARED = new Set([
  ...['clear', 'addnode', 'removenode', 'renamenode', 'changenode', 'addedge', 'removeedge', 'changeedge', 'addinitial', 'removeinitial'].map((c) => `graph:${c}`),
  ...['addinport', 'removeinport', 'renameinport', 'addoutport', 'removeoutport', 'renameoutport', 'addgroup', 'removegroup', 'renamegroup', 'changegroup'].map((c) => `graph:${c}`),
  'network:stopped',
  'runtime:ports',
]);

/**
 * How long `network:getstatus` lets jobs in flight finish before answering:
 * a client asking right after packets went through sees where they ended,
 * not the instant a job was still being acknowledged.
 */
const STATUS_SETTLE_MS = 250;

class SystemRuntime implements CoordinatorRuntime {
  address = '';
  id = '';
  private endpoint: WebSocketEndpoint | undefined;
  private graph: Graph = new noflo.Graph('main', { caseSensitive: true });
  /** The role each node plays (a renamed node keeps its role and queues). */
  private readonly roles = new Map<string, string>();
  /** Roles whose participant this runtime started. */
  private readonly hosted = new Set<string>();
  private started = false;
  private startedAt = 0;
  private readonly taps = new Map<string, { queue: string; subscription: Subscription }>();
  private componentCache: Promise<ComponentInfo[]> | undefined;
  private work: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly onParticipant = (change: string): void => {
    if (change === 'added' && !this.closed) {
      void this.serialize(() => this.reconcileTaps());
    }
  };
  /** IIPs the coordinator sent, shown as `DATA -> PORT node()`. */
  private readonly onIips = (delivery: IipDelivery): void => {
    const node = this.nodeOf(delivery.role);
    for (const iip of delivery.sent) {
      const tgt = { node, port: iip.port };
      this.broadcast(reply(undefined, 'network', 'data', { id: edgeId(undefined, tgt), graph: this.graph.name, tgt, data: iip.data }));
    }
  };
  private readonly onFailed = (failure: SystemFailure): void => {
    if (failure.kind === 'iip') {
      this.broadcast(reply(undefined, 'network', 'error', { message: `IIP to ${edgeId(undefined, { node: this.nodeOf(failure.iip.process), port: failure.iip.port })}: ${failure.reason}`, graph: this.graph.name }));
    }
  };
  private readonly onData = (port: string, data: unknown): void => {
    this.broadcast(reply(undefined, 'runtime', 'packet', { port, event: 'data', payload: data, graph: this.graph.name }));
  };

  constructor(
    private readonly coordinator: Coordinator,
    private readonly options: CoordinatorRuntimeOptions,
  ) {}

  async open(graph: Graph | undefined): Promise<void> {
    this.coordinator.on('iips', this.onIips);
    this.coordinator.on('failed', this.onFailed);
    if (graph) {
      this.graph = graph;
      this.graph.name = this.options.graphName;
      for (const node of graph.nodes) {
        this.roles.set(node.id, node.id);
      }
      await this.apply();
      await this.startNetwork();
      await this.syncIips(true);
    }
    this.coordinator.on('participant', this.onParticipant);
    this.coordinator.on('data', this.onData);
    const endpoint = await serveFbpWebSocket(this.options.host, this.options.port, {
      respond: (request, client) => this.serialize(() => this.respond(request, client)),
      connected: () => void this.serialize(() => this.reconcileTaps()),
      disconnected: () => void this.serialize(() => this.reconcileTaps()),
    });
    this.endpoint = endpoint;
    this.address = endpoint.address;
    this.id = stableId(`${this.options.graphName}@${this.options.host}:${endpoint.port}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.coordinator.off('participant', this.onParticipant);
    this.coordinator.off('data', this.onData);
    this.coordinator.off('iips', this.onIips);
    this.coordinator.off('failed', this.onFailed);
    await this.endpoint?.close();
    await this.work;
    await this.closeTaps([...this.taps.keys()]);
  }

  /** Requests of every connection, and broker events, are handled one at a time. */
  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const result = this.work.then(task);
    this.work = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Let the other clients know of a change one client made (as a notification: no `responseTo`). */
  private tellOthers(client: FbpClient, message: Reply): void {
    const notification = reply(undefined, message.protocol, message.command, message.payload);
    for (const other of this.endpoint?.clients() ?? []) {
      if (other !== client) {
        other.send(notification);
      }
    }
  }

  private broadcast(message: Reply): void {
    for (const client of this.endpoint?.clients() ?? []) {
      client.send(message);
    }
  }

  private async respond(request: Request | string, client: FbpClient): Promise<Reply[]> {
    if (typeof request === 'string') {
      return [error(undefined, 'runtime', request)];
    }
    if (this.options.secret && request.secret !== this.options.secret && request.payload.secret !== this.options.secret) {
      return [reply(request, request.protocol, 'error', { message: `${request.protocol}:${request.command}: wrong or missing secret` })];
    }
    try {
      const replies = await this.dispatch(request, client);
      for (const message of replies) {
        if (SHARED.has(`${message.protocol}:${message.command}`)) {
          this.tellOthers(client, message);
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

  private dispatch(request: Request, client: FbpClient): Promise<Reply[]> | Reply[] {
    switch (request.protocol) {
      case 'runtime':
        return this.runtimeRequest(request);
      case 'component':
        return this.componentRequest(request, client);
      case 'graph':
        return this.graphRequest(request);
      case 'network':
        return this.networkRequest(request, client);
      default:
        fail(`protocol "${request.protocol}" is not supported by this runtime`);
    }
  }

  // runtime:*

  private async runtimeRequest(request: Request): Promise<Reply[]> {
    const p = request.payload;
    switch (request.command) {
      case 'getruntime':
        return [
          reply(request, 'runtime', 'runtime', {
            id: this.id,
            label: 'MsgFlo system (noflo-runtime-msgflo coordinator)',
            type: 'msgflo',
            version: FBP_PROTOCOL_VERSION,
            capabilities: COORDINATOR_CAPABILITIES,
            allCapabilities: COORDINATOR_CAPABILITIES,
            graph: this.graph.name,
          }),
          this.portsMessage(request),
        ];
      case 'packet': {
        this.checkGraph(p);
        const port = str(p, 'port');
        const event = str(p, 'event');
        if (event === 'data') {
          await this.coordinator.send(port, p.payload);
        }
        return [reply(request, 'runtime', 'packetsent', { ...pick(p, ['port', 'event', 'type', 'schema']), graph: this.graph.name, payload: p.payload })];
      }
      default:
        fail('unknown command');
    }
  }

  private portsMessage(request: Request | undefined): Reply {
    const ports = (exported: Graph['inports'], kind: 'inports' | 'outports'): unknown[] =>
      Object.entries(exported).map(([id, target]) => {
        const definition = this.coordinator.registry.byRole(this.roleOf(target.process));
        const port = definition?.[kind].find((q) => q.id === target.port);
        return { id, type: port?.type ?? 'all', description: port?.description ?? '', addressable: false, required: false };
      });
    return reply(request, 'runtime', 'ports', { graph: this.graph.name, inPorts: ports(this.graph.inports, 'inports'), outPorts: ports(this.graph.outports, 'outports') });
  }

  // component:*

  private async componentRequest(request: Request, client: FbpClient): Promise<Reply[]> {
    switch (request.command) {
      case 'list': {
        const components = await this.components();
        for (const component of components) {
          client.send(reply(request, 'component', 'component', component));
        }
        return [reply(request, 'component', 'componentsready', components.length)];
      }
      case 'getsource': {
        const name = str(request.payload, 'name');
        if (name === this.graph.name) {
          return [reply(request, 'component', 'source', { name, library: '', language: 'json', code: JSON.stringify(this.graph.toJSON(), null, 2) })];
        }
        const loader = this.options.loader;
        if (!loader || !(name in (loader.components ?? {}))) {
          fail(`no source for "${name}": it is neither the system graph "${this.graph.name}" nor a NoFlo component here`);
        }
        const source = await loader.getSource(name);
        return [reply(request, 'component', 'source', pick(source as unknown as Payload, ['name', 'library', 'language', 'code', 'tests']))];
      }
      default:
        fail('unknown command');
    }
  }

  /** Discovered components first; then what can be hosted (described once). */
  private async components(): Promise<ComponentInfo[]> {
    const loader = this.options.loader;
    if (loader && this.options.participantHost) {
      this.componentCache ??= (async () => {
        const described: ComponentInfo[] = [];
        for (const name of hostableComponents(loader)) {
          const info = await nofloComponent(loader, name);
          if (info) {
            described.push(info);
          }
        }
        return described;
      })();
    }
    const byName = new Map<string, ComponentInfo>();
    for (const definition of this.coordinator.registry.list()) {
      byName.set(definition.component, participantComponent(definition, false));
    }
    for (const info of (await this.componentCache) ?? []) {
      if (!byName.has(info.name)) {
        byName.set(info.name, info);
      }
    }
    return [...byName.values()];
  }

  // graph:*

  private checkGraph(payload: Payload): string {
    const graph = payload.graph;
    // The wording of these two is what FBP clients expect.
    if (graph === undefined) {
      fail('No graph specified', true);
    }
    if (graph !== this.graph.name) {
      fail('Requested graph not found', true);
    }
    return graph;
  }

  private roleOf(node: string): string {
    return this.roles.get(node) ?? node;
  }

  private node(id: string): void {
    if (!this.graph.getNode(id)) {
      fail(`no node "${id}" in graph "${this.graph.name}"`);
    }
  }

  private async graphRequest(request: Request): Promise<Reply[]> {
    const p = request.payload;
    const command = request.command;
    const ok = (payload: Payload): Reply[] => [reply(request, 'graph', command, payload)];
    if (command === 'clear') {
      return this.clear(request);
    }
    if (command === 'error') {
      fail('unknown command');
    }
    const graph = this.checkGraph(p);
    const g = this.graph;
    switch (command) {
      case 'addnode': {
        const id = str(p, 'id');
        const component = str(p, 'component');
        if (g.getNode(id)) {
          fail(`node "${id}" already exists in graph "${graph}"`);
        }
        await this.adopt(id, component);
        g.addNode(id, component, meta(p));
        await this.apply();
        return ok({ id, component, metadata: meta(p), graph });
      }
      case 'removenode': {
        const id = str(p, 'id');
        this.node(id);
        const replies: Reply[] = [];
        for (const edge of g.edges.filter((e) => e.from.node === id || e.to.node === id)) {
          replies.push(reply(request, 'graph', 'removeedge', { src: { node: edge.from.node, port: edge.from.port }, tgt: { node: edge.to.node, port: edge.to.port }, graph }));
        }
        for (const iip of g.initializers.filter((i) => i.to.node === id)) {
          replies.push(reply(request, 'graph', 'removeinitial', { src: { data: iip.from.data as unknown }, tgt: { node: iip.to.node, port: iip.to.port }, graph }));
        }
        for (const [kind, exported] of [['removeinport', g.inports], ['removeoutport', g.outports]] as const) {
          for (const [name, target] of Object.entries(exported)) {
            if (target.process === id) {
              replies.push(reply(request, 'graph', kind, { public: name, graph }));
            }
          }
        }
        g.removeNode(id);
        const role = this.roleOf(id);
        this.roles.delete(id);
        await this.release(role);
        await this.apply();
        replies.push(reply(request, 'graph', 'removenode', { id, graph }));
        return replies;
      }
      case 'renamenode': {
        const from = str(p, 'from');
        const to = str(p, 'to');
        this.node(from);
        if (g.getNode(to)) {
          fail(`node "${to}" already exists in graph "${graph}"`);
        }
        // The node keeps its role, and so its queues and what waits in them.
        this.roles.set(to, this.roleOf(from));
        this.roles.delete(from);
        g.renameNode(from, to);
        await this.apply();
        return ok({ from, to, graph });
      }
      case 'changenode': {
        const id = str(p, 'id');
        this.node(id);
        g.setNodeMetadata(id, meta(p));
        return ok({ id, metadata: { ...(g.getNode(id)?.metadata ?? {}) }, graph });
      }
      case 'addedge': {
        const src = nodePort(p, 'src');
        const tgt = nodePort(p, 'tgt');
        this.node(src.node);
        this.node(tgt.node);
        this.checkPort(src, 'outports');
        this.checkPort(tgt, 'inports');
        if (src.index !== undefined || tgt.index !== undefined) {
          g.addEdgeIndex(src.node, src.port, src.index, tgt.node, tgt.port, tgt.index, meta(p));
        } else {
          g.addEdge(src.node, src.port, tgt.node, tgt.port, meta(p));
        }
        await this.apply();
        return ok({ src, tgt, metadata: meta(p), graph });
      }
      case 'removeedge': {
        const src = nodePort(p, 'src');
        const tgt = nodePort(p, 'tgt');
        if (!g.getEdge(src.node, src.port, tgt.node, tgt.port)) {
          fail(`no edge ${edgeId(src, tgt)} in graph "${graph}"`);
        }
        g.removeEdge(src.node, src.port, tgt.node, tgt.port);
        await this.apply();
        return ok({ src, tgt, graph });
      }
      case 'changeedge': {
        const src = nodePort(p, 'src');
        const tgt = nodePort(p, 'tgt');
        const edge = g.getEdge(src.node, src.port, tgt.node, tgt.port);
        if (!edge) {
          fail(`no edge ${edgeId(src, tgt)} in graph "${graph}"`);
        }
        g.setEdgeMetadata(src.node, src.port, tgt.node, tgt.port, meta(p));
        return ok({ src, tgt, metadata: { ...(edge.metadata ?? {}) }, graph });
      }
      case 'addinitial': {
        const tgt = nodePort(p, 'tgt');
        this.node(tgt.node);
        this.checkPort(tgt, 'inports');
        const source = p.src;
        if (typeof source !== 'object' || source === null || !('data' in source)) {
          fail('missing src.data: the packet to send');
        }
        const data = (source as Payload).data;
        if (tgt.index !== undefined) {
          g.addInitialIndex(data, tgt.node, tgt.port, tgt.index, meta(p));
        } else {
          g.addInitial(data, tgt.node, tgt.port, meta(p));
        }
        await this.syncIips();
        return ok({ src: { data }, tgt, metadata: meta(p), graph });
      }
      case 'removeinitial': {
        const tgt = nodePort(p, 'tgt');
        const removed = g.initializers.filter((iip) => iip.to.node === tgt.node && iip.to.port === tgt.port);
        if (removed.length === 0) {
          fail(`no IIP to ${edgeId(undefined, tgt)} in graph "${graph}"`);
        }
        g.removeInitial(tgt.node, tgt.port);
        await this.syncIips();
        return removed.map((iip) => reply(request, 'graph', 'removeinitial', { src: { data: iip.from.data as unknown }, tgt, graph }));
      }
      case 'addinport':
      case 'addoutport': {
        const name = str(p, 'public');
        const node = str(p, 'node');
        const port = str(p, 'port');
        this.node(node);
        this.checkPort({ node, port }, command === 'addinport' ? 'inports' : 'outports');
        if (command === 'addinport') {
          g.addInport(name, node, port, meta(p));
        } else {
          g.addOutport(name, node, port, meta(p));
        }
        await this.apply();
        return [reply(request, 'graph', command, { public: name, node, port, ...pick(p, ['metadata']), graph }), this.portsMessage(undefined)];
      }
      case 'removeinport':
      case 'removeoutport': {
        const name = str(p, 'public');
        const exported = command === 'removeinport' ? g.inports : g.outports;
        if (!(name in exported)) {
          fail(`no exported ${command === 'removeinport' ? 'inport' : 'outport'} "${name}" in graph "${graph}"`);
        }
        if (command === 'removeinport') {
          g.removeInport(name);
        } else {
          g.removeOutport(name);
        }
        await this.apply();
        return [reply(request, 'graph', command, { public: name, graph }), this.portsMessage(undefined)];
      }
      case 'renameinport':
      case 'renameoutport': {
        const from = str(p, 'from');
        const to = str(p, 'to');
        const exported = command === 'renameinport' ? g.inports : g.outports;
        if (!(from in exported)) {
          fail(`no exported port "${from}" in graph "${graph}"`);
        }
        if (command === 'renameinport') {
          g.renameInport(from, to);
        } else {
          g.renameOutport(from, to);
        }
        await this.apply();
        return [reply(request, 'graph', command, { from, to, graph }), this.portsMessage(undefined)];
      }
      case 'addgroup': {
        const name = str(p, 'name');
        const nodes = p.nodes;
        if (!Array.isArray(nodes) || nodes.some((n) => typeof n !== 'string')) {
          fail('missing nodes: expected an array of node ids');
        }
        g.addGroup(name, nodes as string[], meta(p));
        return ok({ name, nodes, metadata: meta(p), graph });
      }
      case 'removegroup': {
        const name = str(p, 'name');
        this.group(name);
        g.removeGroup(name);
        return ok({ name, graph });
      }
      case 'renamegroup': {
        const from = str(p, 'from');
        const to = str(p, 'to');
        this.group(from);
        g.renameGroup(from, to);
        return ok({ from, to, graph });
      }
      case 'changegroup': {
        const name = str(p, 'name');
        this.group(name);
        g.setGroupMetadata(name, meta(p));
        return ok({ name, metadata: { ...(g.groups.find((group) => group.name === name)?.metadata ?? {}) }, graph });
      }
      default:
        fail('unknown command');
    }
  }

  private group(name: string): void {
    if (!this.graph.groups.some((group) => group.name === name)) {
      fail(`no group "${name}" in graph "${this.graph.name}"`);
    }
  }

  /** When the node's participant is known, its port must exist. */
  private checkPort(end: NodePort, kind: 'inports' | 'outports'): void {
    const definition = this.coordinator.registry.byRole(this.roleOf(end.node));
    if (definition && !definition[kind].some((port) => port.id === end.port)) {
      const names = definition[kind].map((port) => port.id).join(', ') || 'none';
      fail(`node "${end.node}" (${definition.component}) has no ${kind === 'inports' ? 'inport' : 'outport'} "${end.port}" (it has: ${names})`);
    }
  }

  private async clear(request: Request): Promise<Reply[]> {
    const p = request.payload;
    const id = str(p, 'id');
    for (const role of [...this.hosted]) {
      await this.release(role);
    }
    this.roles.clear();
    this.graph = new noflo.Graph(id, { caseSensitive: true });
    this.started = false;
    await this.apply();
    return [reply(request, 'graph', 'clear', pick(p, ['id', 'name', 'library', 'main', 'icon', 'description']))];
  }

  /**
   * Find or start the participant of a new node: a participant of that role
   * already there is used; a NoFlo component or graph is started in this
   * process; a component only discovered elsewhere is waited for.
   */
  private async adopt(role: string, component: string): Promise<void> {
    if ([...this.roles.values()].includes(role)) {
      fail(`role "${role}" is already played by another node of graph "${this.graph.name}"`);
    }
    const registry = this.coordinator.registry;
    const existing = registry.byRole(role);
    if (existing) {
      if (existing.component !== component) {
        fail(`a participant of role "${role}" runs ${existing.component}, not ${component}`);
      }
      this.roles.set(role, role);
      return;
    }
    const host = this.options.participantHost;
    const lookup = lookupComponent(component, hostableComponents(this.options.loader));
    if (host && lookup.kind === 'ambiguous') {
      fail(`component "${component}" is ambiguous: ${listNames(lookup.candidates)} are all called so; give the library`);
    }
    if (host && lookup.kind === 'found') {
      // Checked as every participant's graph is: a failure names the node's role and the problem.
      const participant = await host.add({ name: role, graph: component });
      this.hosted.add(role);
      this.roles.set(role, role);
      // Known at once, rather than when its discovery message comes around.
      registry.handle({ protocol: 'discovery', command: 'participant', payload: participant.definition });
      return;
    }
    if (registry.list().some((definition) => definition.component === component)) {
      this.roles.set(role, role);
      return;
    }
    fail(`unknown component "${component}": neither a NoFlo component or graph this coordinator can start, nor the component of a discovered participant`);
  }

  /** Stop a participant this runtime started for a node now gone. */
  private async release(role: string): Promise<void> {
    if (!this.hosted.delete(role)) {
      return;
    }
    const host = this.options.participantHost as Host;
    const ids = host.list().filter((definition) => definition.role === role).map((definition) => definition.id);
    await host.remove(role);
    for (const id of ids) {
      this.coordinator.registry.forget(id);
    }
  }

  /** Hand the graph, by roles, to the coordinator, which binds and unbinds; follow with taps. */
  private async apply(): Promise<void> {
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
    await this.reconcileTaps();
  }

  /**
   * The graph's IIPs, by role, to the coordinator while the network runs
   * (none while stopped): it sends each once its role and the roles
   * downstream are bound, and again to a participant of the role that starts
   * later. `fresh` (a start) sends them all again.
   */
  private async syncIips(fresh = false): Promise<void> {
    const iips = this.started ? this.graph.initializers.map((iip) => ({ process: this.roleOf(iip.to.node), port: iip.to.port, data: iip.from.data as unknown })) : [];
    await this.coordinator.setIips(iips, { fresh });
  }

  /** The node playing `role` (a renamed node keeps its role). */
  private nodeOf(role: string): string {
    for (const [node, played] of this.roles) {
      if (played === role) {
        return node;
      }
    }
    return role;
  }

  // network:*

  private async networkRequest(request: Request, client: FbpClient): Promise<Reply[]> {
    const p = request.payload;
    const graph = this.checkGraph(p);
    switch (request.command) {
      case 'start': {
        await this.startNetwork();
        // Sent before the IIPs go, so that their data follows it.
        const started = reply(request, 'network', 'started', { time: new Date(this.startedAt).toISOString(), graph, started: true, running: this.running() });
        client.send(started);
        this.tellOthers(client, started);
        await this.syncIips(true);
        return [];
      }
      case 'stop': {
        const uptime = this.started ? (Date.now() - this.startedAt) / 1000 : 0;
        this.started = false;
        await this.syncIips();
        await Promise.all(this.hostedParticipants().map((participant) => participant.pause()));
        return [reply(request, 'network', 'stopped', { time: new Date().toISOString(), uptime, graph, started: false, running: false })];
      }
      case 'getstatus':
        await this.settled(STATUS_SETTLE_MS);
        return [reply(request, 'network', 'status', { graph, started: this.started, running: this.running() })];
      case 'edges': {
        const edges = p.edges;
        if (!Array.isArray(edges)) {
          fail('missing edges: expected an array of {src, tgt}');
        }
        const selected = edges.map((edge: unknown) => {
          const e = (typeof edge === 'object' && edge !== null ? edge : {}) as Payload;
          return { src: nodePort(e, 'src'), tgt: nodePort(e, 'tgt') };
        });
        client.state.set(SELECTION, new Set(selected.map((e) => edgeId(e.src, e.tgt))));
        return [reply(request, 'network', 'edges', { edges: selected, graph })];
      }
      default:
        fail('unknown command');
    }
  }

  /** Let the hosted participants consume; the IIPs are sent by the caller (see {@link SystemRuntime.syncIips}). */
  private async startNetwork(): Promise<void> {
    await Promise.all(this.hostedParticipants().map((participant) => participant.resume()));
    this.started = true;
    this.startedAt = Date.now();
  }

  /** Resolve once nothing runs, or after `ms`. */
  private async settled(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.running() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Running: started, and work in flight (IIPs not sent yet, jobs of hosted participants). */
  private running(): boolean {
    return this.started && (this.coordinator.pendingIips() > 0 || this.hostedParticipants().some((participant) => participant.jobsInFlight > 0));
  }

  private hostedParticipants(): Participant[] {
    const host = this.options.participantHost;
    return host ? host.participants.filter((participant) => this.hosted.has(participant.definition.role)) : [];
  }

  /**
   * Packets crossing the graph's edges are seen by tapping each source
   * outqueue once, while a client is connected.
   */
  private async reconcileTaps(): Promise<void> {
    const wanted = new Map<string, { role: string; port: string; queue: string }>();
    if (!this.closed && (this.endpoint?.clients().length ?? 0) > 0) {
      for (const edge of this.graph.edges) {
        const role = this.roleOf(edge.from.node);
        const queue = this.coordinator.registry.byRole(role)?.outports.find((port) => port.id === edge.from.port)?.queue;
        if (queue) {
          wanted.set(`${role}\n${edge.from.port}`, { role, port: edge.from.port, queue });
        }
      }
    }
    await this.closeTaps([...this.taps].filter(([key, tap]) => wanted.get(key)?.queue !== tap.queue).map(([key]) => key));
    for (const [key, source] of wanted) {
      if (!this.taps.has(key)) {
        const subscription = await this.coordinator.tap(source.queue, (data) => this.edgeData(source.role, source.port, data));
        this.taps.set(key, { queue: source.queue, subscription });
      }
    }
  }

  private async closeTaps(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const tap = this.taps.get(key);
      this.taps.delete(key);
      await tap?.subscription.cancel().catch((err: unknown) => debug('tap cancel: %s', errorMessage(err)));
      await tap?.subscription.close().catch((err: unknown) => debug('tap close: %s', errorMessage(err)));
    }
  }

  /** A packet published on a role's outport: `network:data` for each edge it crosses. */
  private edgeData(role: string, port: string, data: unknown): void {
    const graph = this.graph.name;
    for (const edge of this.graph.edges) {
      if (edge.from.port !== port || this.roleOf(edge.from.node) !== role) {
        continue;
      }
      const src = { node: edge.from.node, port: edge.from.port };
      const tgt = { node: edge.to.node, port: edge.to.port };
      const id = edgeId(src, tgt);
      const message = reply(undefined, 'network', 'data', { id, graph, src, tgt, data });
      for (const client of this.endpoint?.clients() ?? []) {
        const selection = client.state.get(SELECTION) as Set<string> | undefined;
        if (!selection || selection.has(id)) {
          client.send(message);
        }
      }
    }
  }
}
