/**
 * The NoFlo side of a participant: a running network whose exported ports
 * carry jobs. A job's packet enters wrapped in a bracket whose data is the
 * job's id (WIRE: "NoFlo mapping"); outputs inside that bracket belong to the
 * job, and the bracket closing on an outport completes it. A job whose
 * components send nothing forwards no bracket at all, so when every component
 * of the network is idle, every job still open is complete too. (NoFlo's own
 * network `end` event cannot tell: it fires once, on the first idle moment.)
 */
import createDebug from 'debug';
import type { Flowtrace } from 'flowtrace';
import noflo from 'noflo';
import { AsyncLocalStorage } from 'node:async_hooks';
import { GraphLoadError, errorMessage } from '../errors';
import type { PortDefinition } from '../protocol/definition';
import { COMPONENT_NODE, type ComponentLoader, type Graph, type GraphSource } from './graph-source';

const debug = createDebug('noflo-runtime-msgflo:network');

type Network = Awaited<ReturnType<typeof noflo.createNetwork>>;
type Component = InstanceType<typeof noflo.Component>;
type Socket = ReturnType<typeof noflo.internalSocket.createSocket>;
type IP = InstanceType<typeof noflo.IP>;

/** The outport whose output fails a job. */
export const ERROR_PORT = 'error';

/** Where a network's outputs and job outcomes go. `J` is the caller's job handle. */
export interface JobSink<J> {
  /** Data left the network on an exported outport; `job` is undefined for data outside any job. */
  output(port: string, data: unknown, job: J | undefined): void;
  /** A job completed; `error` is set when it completed on the error port. */
  complete(job: J, error: string | undefined): void;
}

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
    throw new GraphLoadError(`cannot load component "${name}": ${errorMessage(cause)}`, { cause });
  }
  const result = { inports: Object.keys(instance.inPorts.ports).map((id) => declared(id)), outports: Object.keys(instance.outPorts.ports).map((id) => declared(id)) };
  await instance.shutdown().catch((err: unknown) => debug('shutting down the instance of %s made for its ports: %s', name, errorMessage(err)));
  return result;
}

/** A job in the network; also what the code running for it sees (see {@link jobContext}). */
interface OpenJob<J> {
  readonly id: string;
  readonly network: GraphNetwork<unknown>;
  /**
   * The caller's job; dropped once the job is done, since the context can
   * outlive it (a timer a component starts keeps it) and should not keep the
   * message it carried.
   */
  handle: J | undefined;
  error: string | undefined;
  /** Given up on (timed out, failed by an exception): its later outputs are dropped. */
  cancelled: boolean;
  /** Component work the job started, to release it when the job is given up. */
  activations: Activation[] | undefined;
}

/**
 * The job whose processing the current code runs for. A component's timers
 * and promises inherit it, so an exception they throw, caught by the
 * process-wide handler, can fail that job alone (see {@link failCurrentJob}),
 * and the component activations it causes can be told apart.
 */
const jobContext = new AsyncLocalStorage<OpenJob<unknown>>();

/** The part of a NoFlo process context that activation tracking touches. */
interface ProcessContext {
  activated: boolean;
  deactivated: boolean;
  result: { __resolved?: boolean };
}

interface Activation {
  readonly component: Component;
  readonly context: ProcessContext;
}

/**
 * Fail the job the current asynchronous context belongs to, if any; for
 * `uncaughtException` and `unhandledRejection` handlers. Returns whether a
 * job was found.
 */
export function failCurrentJob(error: unknown): boolean {
  const job = jobContext.getStore();
  if (!job) {
    return false;
  }
  job.network.fail(job.id, errorMessage(error));
  return true;
}

/** Options for {@link GraphNetwork.start}. */
export interface NetworkOptions {
  readonly loader: ComponentLoader;
  readonly basedir: string;
  /** Initial packets by exported inport, sent after start instead of the graph's own. */
  readonly iips?: Readonly<Record<string, unknown>>;
  /** Record the network's packets and events here. */
  readonly flowtrace?: Flowtrace | undefined;
}

/** A started NoFlo network with its exported ports wired for jobs. */
export class GraphNetwork<J> {
  readonly inports: readonly ExportedPort[];
  readonly outports: readonly ExportedPort[];
  readonly label: string | undefined;
  readonly icon: string | undefined;
  private readonly inSockets = new Map<string, Socket>();
  private readonly jobs = new Map<string, OpenJob<J>>();
  private sink: JobSink<J> | undefined;
  private nextJob = 0;
  private idleCheck: NodeJS.Immediate | undefined;
  /** A job's packets are being sent: {@link GraphNetwork.run} looks for idleness once they are. */
  private posting = false;
  private readonly jobPrefix = `msgflo-job-${Math.random().toString(36).slice(2, 8)}-`;

  private constructor(
    private readonly network: Network,
    source: GraphSource,
    private readonly traced: boolean,
  ) {
    const graph = source.graph;
    const main = source.singleComponent ? this.component(COMPONENT_NODE) : undefined;
    this.label = main ? main.description || undefined : stringProperty(graph, 'description');
    this.icon = main ? main.getIcon() || undefined : stringProperty(graph, 'icon');
    this.inports = this.exports(source, 'inports');
    this.outports = this.exports(source, 'outports');
    for (const port of this.outports) {
      this.listen(port.definition.id);
    }
    for (const process of Object.values(this.network.processes)) {
      if (process.component) {
        this.track(process.component);
      }
    }
    this.network.on('process-error', (event: { id?: string; error?: unknown }) => {
      debug('process %s failed: %s', event.id, errorMessage(event.error));
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
      throw new GraphLoadError(`cannot start graph "${source.label}": ${errorMessage(cause)}`, { cause });
    }
    const instance = new GraphNetwork<J>(network, source, options.flowtrace !== undefined);
    const inportNames = instance.inports.map((p) => p.definition.id);
    for (const [port, data] of Object.entries(iips)) {
      if (!inportNames.includes(port)) {
        await instance.shutdown();
        throw new GraphLoadError(`IIP for "${port}": the graph has no inport of that name (it has: ${inportNames.join(', ') || 'none'})`);
      }
      instance.socket(port).post(new noflo.IP('data', data));
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
    const socket = this.socket(port);
    this.nextJob += 1;
    const id = this.jobPrefix + this.nextJob;
    const open: OpenJob<J> = { id, network: this as GraphNetwork<unknown>, handle: job, error: undefined, cancelled: false, activations: undefined };
    this.jobs.set(id, open);
    this.posting = true;
    try {
      jobContext.run(open, postJob, socket, id, data);
    } finally {
      this.posting = false;
    }
    // Once, rather than on each deactivation during the posting (most jobs
    // are complete by now); and a packet that starts no work (one for a
    // control port, kept until data arrives elsewhere) brings no
    // deactivation to notice at all.
    this.scheduleIdleCheck();
    return id;
  }

  /**
   * Complete a job now, as failed with `reason`, whatever its components are
   * still doing; outputs it sends later are dropped.
   */
  fail(id: string, reason: string): void {
    const job = this.jobs.get(id);
    if (!job || job.cancelled) {
      return;
    }
    job.cancelled = true;
    const handle = job.handle as J;
    job.handle = undefined;
    this.sink?.complete(handle, reason);
    this.release(job);
  }

  /**
   * The nodes still working on a job, as `node N (C)`: those it
   * activated that have not finished. A component that never calls
   * `output.done()` stays here for good. Empty for a job not known (done,
   * given up) or whose work has all finished.
   */
  holders(id: string): string[] {
    const names = new Set<string>();
    for (const { component, context } of this.jobs.get(id)?.activations ?? []) {
      if (context.activated && !context.deactivated) {
        names.add(describeNode(component));
      }
    }
    return [...names];
  }

  /** Stop the network's components. */
  async shutdown(): Promise<void> {
    clearImmediate(this.idleCheck);
    await this.network.stop();
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

  private socket(port: string): Socket {
    let socket = this.inSockets.get(port);
    if (!socket) {
      if (!this.inports.some((p) => p.definition.id === port)) {
        throw new GraphLoadError(`the graph has no inport "${port}"`);
      }
      const target = this.target('inports', port);
      socket = noflo.internalSocket.createSocket();
      const inPort = this.component(target.process).inPorts.ports[target.port];
      if (!inPort) {
        throw new GraphLoadError(`the graph has no inport "${port}"`);
      }
      inPort.attach(socket);
      this.trace(socket, 'to', target.process, target.port);
      this.inSockets.set(port, socket);
    }
    return socket;
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
   * Make a socket of ours show in the Flowtrace like an edge of the graph,
   * its other end outside (`DATA -> IN node()`). Only when tracing: it costs
   * an event per packet.
   */
  private trace(socket: Socket, end: 'from' | 'to', node: string, port: string): void {
    const process = this.network.getNode(node);
    if (!this.traced || !process) {
      return;
    }
    socket[end] = { process, port };
    this.network.subscribeSocket(socket);
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
    // Brackets open on this port: the outermost one that is a job id owns the data.
    const open: string[] = [];
    socket.on('ip', (ip: IP) => {
      switch (ip.type) {
        case 'openBracket':
          open.push(ip.data);
          return;
        case 'closeBracket':
          open.pop();
          if (typeof ip.data === 'string' && this.jobs.has(ip.data)) {
            this.finish(ip.data);
          }
          return;
        default:
          this.deliver(port, ip.data, open);
      }
    });
  }

  private deliver(port: string, data: unknown, open: readonly string[]): void {
    let job: OpenJob<J> | undefined;
    for (const bracket of open) {
      job = this.jobs.get(bracket);
      if (job) {
        break;
      }
    }
    if (job?.cancelled) {
      return;
    }
    if (job && port === ERROR_PORT && job.error === undefined) {
      job.error = errorMessage(data);
    }
    this.sink?.output(port, data, job?.handle);
  }

  private finish(id: string): void {
    const job = this.jobs.get(id);
    if (!job) {
      return;
    }
    this.jobs.delete(id);
    job.activations = undefined;
    const handle = job.handle;
    job.handle = undefined;
    if (!job.cancelled && handle !== undefined) {
      this.sink?.complete(handle, job.error);
    }
  }

  /**
   * Watch a component's activations. NoFlo keeps a component's results in
   * order: one that never finishes (a job that hung or threw in a timer)
   * holds back the results of every job after it, and keeps the component
   * busy for good. Knowing which job started which activation lets
   * {@link GraphNetwork.fail} release the given-up job's work.
   */
  private track(component: Component): void {
    const activate = component.activate.bind(component);
    component.activate = (context: ProcessContext) => {
      activate(context);
      const job = jobContext.getStore();
      if (job && job.network === (this as GraphNetwork<unknown>) && this.jobs.get(job.id) === job) {
        (job.activations ??= []).push({ component, context });
      }
    };
    component.on('deactivate', (load: number) => {
      if (load === 0 && !this.posting) {
        this.scheduleIdleCheck();
      }
    });
  }

  /** Mark a given-up job's unfinished work done, so the results queued behind it flow. */
  private release(job: OpenJob<J>): void {
    const activations = job.activations ?? [];
    job.activations = undefined;
    for (const { component, context } of activations) {
      if (context.activated && !context.deactivated) {
        context.result.__resolved = true;
        component.deactivate(context);
      }
    }
  }

  private scheduleIdleCheck(): void {
    if (this.jobs.size === 0 || this.idleCheck) {
      return;
    }
    // After the current send chain: a packet in transit activates its receiver first.
    this.idleCheck = setImmediate(() => {
      this.idleCheck = undefined;
      if (this.idle()) {
        this.completeAll();
      }
    });
  }

  /**
   * Whether no component has work in progress. Not `network.isRunning()`:
   * that answers false for good once the network has been idle.
   */
  private idle(): boolean {
    for (const process of Object.values(this.network.processes)) {
      if (process.component && process.component.load > 0) {
        return false;
      }
    }
    return true;
  }

  private completeAll(): void {
    for (const id of [...this.jobs.keys()]) {
      debug('network idle: job %s completed without output', id);
      this.finish(id);
    }
  }
}

/** A job's packets, its bracket around its data (a function of its own: no closure per job). */
function postJob(socket: Socket, id: string, data: unknown): void {
  socket.post(new noflo.IP('openBracket', id));
  socket.post(new noflo.IP('data', data));
  socket.post(new noflo.IP('closeBracket', id));
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
