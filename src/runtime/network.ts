/**
 * The NoFlo side of a participant: a running network whose exported ports
 * carry jobs. A job's packet enters with the job's id as its IP scope (WIRE:
 * "NoFlo mapping"), NoFlo's own way of keeping concurrent work apart:
 * components see the packet alone, pass its scope on to what they send, and
 * so the job's outputs on exported outports say which job they belong to.
 * When a job is over, and how it ends, is `./jobs.ts`'s: here are the ports,
 * and what fails a job on the way, an error on the exported `error` port, an
 * error a component sends that the graph drops (its `error` port connected
 * nowhere), an exception a node throws. (NoFlo's own network `end` event
 * cannot tell when a job is over: it fires once, on the first moment no
 * component is busy.)
 */
import createDebug from 'debug';
import type { Flowtrace } from 'flowtrace';
import noflo from 'noflo';
import { GraphLoadError, errorMessage } from '../errors';
import type { PortDefinition } from '../protocol/definition';
import { COMPONENT_NODE, describeLoadFailure, type ComponentLoader, type Graph, type GraphSource } from './graph-source';
import { JobTracker, type JobSink } from './jobs';
import { graphNodes, unscope, type GraphNode } from './nodes';

export { failCurrentJob, type JobSink } from './jobs';

const debug = createDebug('noflo-runtime-msgflo:network');

type Network = Awaited<ReturnType<typeof noflo.createNetwork>>;
type Component = InstanceType<typeof noflo.Component>;
type Socket = ReturnType<typeof noflo.internalSocket.createSocket>;
type IP = InstanceType<typeof noflo.IP>;

/** The outport whose output fails a job. */
export const ERROR_PORT = 'error';

/** An exported port and where it is inside the graph. */
export interface ExportedPort {
  readonly definition: PortDefinition;
  /** Graph metadata of the export (`queue`, `hidden`, ...). */
  readonly metadata: Record<string, unknown>;
}

/**
 * The exported ports of a graph as declared, before it runs: ids and
 * metadata, enough to know their queues (types and descriptions come from
 * the components, once loaded). A single component's are those of an
 * instance of it, made and shut down again: making one runs nothing.
 */
export async function declaredPorts(source: GraphSource, loader: ComponentLoader): Promise<{ inports: ExportedPort[]; outports: ExportedPort[] }> {
  const declared = (id: string, metadata: Record<string, unknown> = {}): ExportedPort => ({ definition: { id, type: 'all' }, metadata });
  if (!source.singleComponent) {
    const ports = (kind: 'inports' | 'outports'): ExportedPort[] => Object.entries(source.graph[kind]).map(([id, target]) => declared(id, target.metadata));
    return { inports: ports('inports'), outports: ports('outports') };
  }
  const name = source.graph.getNode(COMPONENT_NODE)?.component ?? source.label;
  let instance: Component;
  try {
    instance = await loader.load(name, {});
  } catch (cause) {
    throw new GraphLoadError(`cannot load component "${name}": ${describeLoadFailure(cause, loader)}`, { cause });
  }
  const result = { inports: Object.keys(instance.inPorts.ports).map((id) => declared(id)), outports: Object.keys(instance.outPorts.ports).map((id) => declared(id)) };
  await instance.shutdown().catch((err: unknown) => debug('shutting down the instance of %s made for its ports: %s', name, errorMessage(err)));
  return result;
}

/** Options for {@link GraphNetwork.start}. */
export interface NetworkOptions {
  readonly loader: ComponentLoader;
  readonly basedir: string;
  /** Initial packets by exported inport, sent after start instead of the graph's own. */
  readonly iips?: Readonly<Record<string, unknown>>;
  /** Record the network's packets and events here. */
  readonly flowtrace?: Flowtrace | undefined;
  /**
   * How long, in ms, a job held only for want of its node's configuration (a
   * control port with no packet yet) waits for it before it fails; 0 or
   * absent fails it at once.
   */
  readonly configurationWaitMs?: number | undefined;
}

/** Where a socket of ours leads, in a Flowtrace: one end is outside the graph. */
interface SocketEnds {
  readonly src: { readonly node: string; readonly port: string } | null;
  readonly tgt: { readonly node: string; readonly port: string } | null;
}

/** A packet's event in a Flowtrace, by IP type, as NoFlo records those of its edges. */
const TRACED_PACKETS: Readonly<Record<string, string>> = { data: 'network:data', openBracket: 'network:begingroup', closeBracket: 'network:endgroup' };

/** A started NoFlo network with its exported ports wired for jobs. */
export class GraphNetwork<J> {
  readonly inports: readonly ExportedPort[];
  readonly outports: readonly ExportedPort[];
  readonly label: string | undefined;
  readonly icon: string | undefined;
  private readonly inSockets = new Map<string, { readonly socket: Socket; readonly control: boolean }>();
  private readonly nodes: GraphNode[] = [];
  private readonly jobs: JobTracker<J>;
  private sink: JobSink<J> | undefined;
  /** The Flowtrace recording now, if any ({@link GraphNetwork.setFlowtrace}). */
  private flowtrace: Flowtrace | undefined;
  /** Our sockets on exported ports whose packets are not recorded yet (they are once traced), with their ends. */
  private readonly untraced = new Map<Socket, SocketEnds>();

  private constructor(
    private readonly network: Network,
    source: GraphSource,
    flowtrace: Flowtrace | undefined,
    configurationWaitMs: number,
  ) {
    this.flowtrace = flowtrace;
    const graph = source.graph;
    const main = source.singleComponent ? this.component(COMPONENT_NODE) : undefined;
    this.label = main ? main.description || undefined : stringProperty(graph, 'description');
    this.icon = main ? main.getIcon() || undefined : stringProperty(graph, 'icon');
    this.inports = this.exports(source, 'inports');
    this.outports = this.exports(source, 'outports');
    this.jobs = new JobTracker(this.nodes, () => this.sink, configurationWaitMs);
    for (const port of this.outports) {
      this.listen(port.definition.id);
    }
    // After listening: an exported error port is attached by then, and its errors are the graph's output.
    this.adopt();
    // Nodes added while running (an FBP client editing the graph) count too.
    const addNode = network.addNode.bind(network);
    network.addNode = (node: Parameters<typeof addNode>[0], options: unknown, callback?: unknown) =>
      addNode(node, options, callback as never).then((process) => {
        this.adopt();
        return process;
      });
    this.network.on('process-error', (event: { id?: string; error?: unknown; subgraph?: string[] }) => {
      const node = [...(event.subgraph ?? []), event.id ?? '?'].join('/');
      this.jobs.nodeFailed(this.jobs.current(), node, event.error);
    });
  }

  /** Create, connect and start a network for `source`, then send IIPs. */
  static async start<J>(source: GraphSource, options: NetworkOptions): Promise<GraphNetwork<J>> {
    const iips = options.iips ?? {};
    const graph = source.graph;
    for (const port of Object.keys(iips)) {
      const target = source.singleComponent ? undefined : graph.inports[port];
      // Ours replace the graph's own IIPs on that port.
      if (target) {
        graph.removeInitial(target.process, target.port);
      }
    }
    let network: Network;
    try {
      network = await noflo.createNetwork(graph, { componentLoader: options.loader, baseDir: options.basedir, delay: true });
      if (options.flowtrace) {
        network.setFlowtrace(options.flowtrace, graph.name, true);
      }
      await network.connect();
      await network.start();
    } catch (cause) {
      throw new GraphLoadError(`cannot start graph "${source.label}": ${describeLoadFailure(cause, options.loader)}`, { cause });
    }
    const instance = new GraphNetwork<J>(network, source, options.flowtrace, options.configurationWaitMs ?? 0);
    const inportNames = instance.inports.map((p) => p.definition.id);
    for (const [port, data] of Object.entries(iips)) {
      if (!inportNames.includes(port)) {
        await instance.shutdown();
        throw new GraphLoadError(`IIP for "${port}": the graph has no inport of that name (it has: ${inportNames.join(', ') || 'none'})`);
      }
      // Initial, like the graph's own: seen by the work of every job.
      instance.socket(port).socket.post(new noflo.IP('data', data, { initial: true }));
    }
    return instance;
  }

  /** The NoFlo network itself, for an FBP runtime that shows and edits it. */
  get nofloNetwork(): Network {
    return this.network;
  }

  /** Route outputs and outcomes to `sink`. */
  attach(sink: JobSink<J>): void {
    this.sink = sink;
  }

  /**
   * Send one job's packet into an exported inport. Returns the job's id, for
   * {@link GraphNetwork.fail}. Throws when there is no such inport.
   */
  run(port: string, data: unknown, job: J): string {
    const { socket, control } = this.socket(port);
    const id = this.jobs.run(job, postJob, socket, control, data);
    if (control) {
      this.jobs.configured();
    }
    return id;
  }

  /**
   * Complete a job now, as failed with `reason`, whatever its components are
   * still doing; outputs it sends later are dropped.
   */
  fail(id: string, reason: string): void {
    this.jobs.fail(id, reason);
  }

  /**
   * The nodes still working on a job, as `node N (C)`: those it
   * activated that have not finished. A component that never calls
   * `output.done()` stays here for good. Empty for a job not known (done,
   * given up) or whose work has all finished.
   */
  holders(id: string): string[] {
    return [...new Set(this.jobs.working(id).map(describeNode))];
  }

  /**
   * Record the network's packets and events in `flowtrace` from now on, or
   * stop recording (undefined). The packets of the queues, on the edges of
   * the exported ports, are recorded too.
   */
  setFlowtrace(flowtrace: Flowtrace | undefined): void {
    if (flowtrace === this.flowtrace) {
      return;
    }
    // NoFlo keeps a tracer once set: it has to be taken away to set another.
    this.network.setFlowtrace(null);
    this.flowtrace = flowtrace;
    if (flowtrace) {
      this.network.setFlowtrace(flowtrace, this.network.graph.name, true);
      for (const [socket, ends] of this.untraced) {
        this.record(socket, ends);
      }
      this.untraced.clear();
    }
  }

  /** Stop the network's components. */
  async shutdown(): Promise<void> {
    this.jobs.close();
    await this.network.stop();
  }

  /** Track the graph's nodes not tracked yet: their activations, their dropped errors, their holding. */
  private adopt(): void {
    const known = new Set(this.nodes.map((node) => node.component));
    for (const node of graphNodes(this.network)) {
      if (known.has(node.component)) {
        continue;
      }
      this.nodes.push(node);
      this.jobs.track(node.component);
      this.watchErrors(node);
      if (node.holds) {
        unscope(node);
      }
    }
  }

  private component(node: string): Component {
    const process = this.network.getNode(node);
    if (!process || !process.component) {
      throw new GraphLoadError(`graph "${this.network.graph.name}" has no loaded node "${node}"`);
    }
    return process.component;
  }

  private exports(source: GraphSource, kind: 'inports' | 'outports'): ExportedPort[] {
    const names = source.singleComponent
      ? Object.keys(this.component(COMPONENT_NODE)[kind === 'inports' ? 'inPorts' : 'outPorts'].ports)
      : Object.keys(source.graph[kind]);
    return names.map((name) => {
      const target = this.target(kind, name);
      const component = this.component(target.process);
      const ports = kind === 'inports' ? component.inPorts.ports : component.outPorts.ports;
      const port = ports[target.port];
      if (!port) {
        throw new GraphLoadError(`exported ${kind === 'inports' ? 'inport' : 'outport'} "${name}" points to ${target.process}.${target.port}, which does not exist`);
      }
      const definition: PortDefinition = { id: name, type: port.getDataType() || 'all' };
      const description = port.getDescription();
      if (description) {
        definition.description = description;
      }
      const schema = port.getSchema();
      if (schema) {
        definition.schema = schema;
      }
      return { definition, metadata: ('metadata' in target && target.metadata) || {} };
    });
  }

  private socket(port: string): { readonly socket: Socket; readonly control: boolean } {
    let entry = this.inSockets.get(port);
    if (!entry) {
      if (!this.inports.some((p) => p.definition.id === port)) {
        throw new GraphLoadError(`the graph has no inport "${port}"`);
      }
      const target = this.target('inports', port);
      const socket = noflo.internalSocket.createSocket();
      const inPort = this.component(target.process).inPorts.ports[target.port];
      if (!inPort) {
        throw new GraphLoadError(`the graph has no inport "${port}"`);
      }
      inPort.attach(socket);
      this.trace(socket, 'to', target.process, target.port);
      entry = { socket, control: inPort.options.control === true };
      this.inSockets.set(port, entry);
    }
    return entry;
  }

  private target(kind: 'inports' | 'outports', port: string): { process: string; port: string; metadata?: Record<string, unknown> } {
    const graph = this.network.graph;
    const exported = graph[kind][port];
    if (exported) {
      return exported;
    }
    return { process: COMPONENT_NODE, port };
  }

  /**
   * Record the packets of a socket of ours in the Flowtrace like those of an
   * edge of the graph, its other end outside (`DATA -> IN node()`), from the
   * first time the network is traced: until then they cost nothing. Not as
   * network events: the packets FBP clients see on the graph's edges are the
   * graph's own, traced or not.
   */
  private trace(socket: Socket, end: 'from' | 'to', node: string, port: string): void {
    const edge = { node, port };
    const ends: SocketEnds = end === 'to' ? { src: null, tgt: edge } : { src: edge, tgt: null };
    if (this.flowtrace) {
      this.record(socket, ends);
    } else {
      this.untraced.set(socket, ends);
    }
  }

  private record(socket: Socket, ends: SocketEnds): void {
    socket.on('ip', (ip: IP) => {
      const command = TRACED_PACKETS[ip.type];
      if (this.flowtrace && command) {
        this.flowtrace.addNetworkPacket(command, ends.src, ends.tgt, this.network.graph.name, { datatype: ip.datatype, schema: ip.schema, data: ip.data });
      }
    });
  }

  private listen(port: string): void {
    const target = this.target('outports', port);
    const outPort = this.component(target.process).outPorts.ports[target.port];
    if (!outPort) {
      return;
    }
    const socket = noflo.internalSocket.createSocket();
    outPort.attach(socket);
    this.trace(socket, 'from', target.process, target.port);
    socket.on('ip', (ip: IP) => {
      // Brackets a graph sends stay inside: a queue carries data.
      if (ip.type === 'data') {
        this.deliver(port, ip);
      }
    });
  }

  private deliver(port: string, ip: IP): void {
    const job = this.jobs.jobOf(ip.scope);
    if (job === null) {
      return; // Sent by a job given up: its input is already dead-lettered.
    }
    if (job && port === ERROR_PORT && job.error === undefined) {
      job.error = errorMessage(ip.data);
    }
    this.sink?.output(port, ip.data, job?.handle);
  }

  /**
   * Watch a component's `error` port that is connected nowhere, where NoFlo
   * drops what the component sends: such an error fails the job it belongs
   * to. Once the port has a connection of its own (added while running), the
   * graph handles its errors.
   */
  private watchErrors(node: GraphNode): void {
    const port = node.component.outPorts.ports[ERROR_PORT];
    if (!port || port.isAttached()) {
      return;
    }
    const socket = noflo.internalSocket.createSocket();
    port.attach(socket);
    socket.on('ip', (ip: IP) => {
      if (ip.type === 'data' && port.listAttached().length === 1) {
        this.jobs.nodeFailed(this.jobs.jobOf(ip.scope) ?? undefined, node.path, ip.data);
      }
    });
  }
}

/**
 * Send a job's packet: scoped to the job; or, for a control port, whose
 * packet is configuration kept for the jobs that follow, unscoped and
 * initial, as an IIP is, so that every job sees it. A function of its own:
 * no closure per job.
 */
function postJob(id: string, socket: Socket, control: boolean, data: unknown): void {
  socket.post(new noflo.IP('data', data, control ? { initial: true } : { scope: id }));
}

/** A node as a person knows it: `component C` for a one-component participant, else `node N (C)`. */
function describeNode(component: Component): string {
  const { nodeId, componentName } = component as { nodeId?: string | null; componentName?: string | null };
  if (!nodeId || nodeId === COMPONENT_NODE) {
    return `component ${componentName || nodeId || '(unnamed)'}`;
  }
  return componentName ? `node ${nodeId} (${componentName})` : `node ${nodeId}`;
}

function stringProperty(graph: Graph, key: string): string | undefined {
  const value: unknown = graph.properties[key];
  return typeof value === 'string' && value ? value : undefined;
}
