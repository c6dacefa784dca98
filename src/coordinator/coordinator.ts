/**
 * The coordinator: knows every participant from discovery, and turns a
 * system graph (roles as nodes, edges between their ports) into broker
 * bindings. Bindings follow the participants: an edge whose roles appear
 * later (or come back after a restart) is bound then.
 */
import createDebug from 'debug';
import { EventEmitter } from 'node:events';
import { errorMessage, InvalidOptionError } from '../errors';
import { bindingKey, graphBindings, ROUND_ROBIN_COMPONENT, type Binding, type Edge, type SystemGraph } from '../protocol/bindings';
import type { ParticipantDefinition } from '../protocol/definition';
import { DISCOVERY_REQUEST_TOPIC, parseDiscoveryRequest, type RegistryAnswer } from '../protocol/discovery';
import { requestAnnouncements } from './discovery-request';
import type { Graph } from '../runtime/graph-source';
import type { ConsumerState, Subscription, Transport } from '../transport/transport';
import { ParticipantRegistry } from './registry';

const debug = createDebug('noflo-runtime-msgflo:coordinator');

/** Notifications of a {@link Coordinator}. */
export interface CoordinatorEvents {
  participant: [change: 'added' | 'updated' | 'removed', definition: ParticipantDefinition];
  bound: [Binding];
  unbound: [Binding];
  /** A packet on an exported outport of the system graph. */
  data: [port: string, data: unknown];
  /** A message on `fbp` that was not a valid discovery message. */
  invalid: [reason: string];
  /** Something failed that the coordinator carries on after (a binding, an IIP). */
  warning: [Error];
}

/** An exported port of the system graph: a node and one of its ports. */
interface Exported {
  readonly process: string;
  readonly port: string;
}

/** One tap on a queue and who is watching it. */
interface SharedTap {
  readonly handlers: Set<(data: unknown) => void>;
  readonly subscription: Promise<Subscription>;
}

/** Coordinator settings. */
export interface CoordinatorOptions {
  /** Forget participants not heard from for this long (default 60 s). */
  readonly timeoutMs?: number;
}

/** Wires the participants on one broker into a system. */
export class Coordinator extends EventEmitter<CoordinatorEvents> {
  readonly registry: ParticipantRegistry;
  private nodes = new Map<string, string>();
  private edges: Edge[] = [];
  private iips: Array<{ process: string; port: string; data: unknown }> = [];
  private exportedIn = new Map<string, Exported>();
  private exportedOut = new Map<string, Exported>();
  private readonly bound = new Map<string, Binding>();
  private readonly iipsSent = new Set<number>();
  private readonly outTaps = new Map<string, { queue: string; subscription: Subscription }>();
  /** Taps by queue, shared by everyone watching it (see {@link Coordinator.tap}). */
  private readonly taps = new Map<string, SharedTap>();
  private discovery: Subscription | undefined;
  private requests: Subscription | undefined;
  private readonly onTransportWarning = (err: Error): void => {
    this.emit('warning', err);
  };
  private work: Promise<void> = Promise.resolve();

  constructor(
    private readonly transport: Transport,
    options: CoordinatorOptions = {},
  ) {
    super();
    this.registry = new ParticipantRegistry(options.timeoutMs);
    for (const change of ['added', 'updated', 'removed'] as const) {
      this.registry.on(change, (definition) => {
        this.emit('participant', change, definition);
        if (change !== 'removed') {
          this.schedule();
        }
      });
    }
    const staleSaid = new Set<string>();
    this.registry.on('stale', (definition, ageMs) => {
      // Once per participant: after a restart, queued messages of participants
      // gone since are expected; a clock far off repeats every heartbeat.
      if (!staleSaid.has(definition.id)) {
        staleSaid.add(definition.id);
        this.warn(new Error(`ignored the announcement of ${definition.id} (${definition.role}): sent ${Math.round(ageMs / 1000)} s ago, longer than the ${Math.round(this.registry.timeoutMs / 1000)} s timeout (gone since, or its clock and this machine's are apart)`));
      }
    });
    this.registry.on('invalid', (reason) => {
      debug('ignored a message on fbp: %s', reason);
      this.emit('invalid', reason);
    });
  }

  /**
   * Connect, start listening to discovery, and ask the participants to
   * announce themselves now ({@link DISCOVERY_REQUEST_TOPIC}): ours answer at
   * once, others are learnt at their next heartbeat. From then on, answers
   * discovery requests that name an inbox with the participants it knows
   * (this is how `status` sees every participant while a coordinator takes
   * the `fbp` queue's messages).
   */
  async start(): Promise<void> {
    // Its connection is its own: what the transport works around (a binding
    // not made again after a reconnection, its consumer of fbp) is its to say.
    this.transport.on('warning', this.onTransportWarning);
    await this.transport.connect();
    this.discovery = await this.transport.consumeDiscovery((message) => this.registry.handle(message));
    this.registry.start();
    try {
      this.requests = await this.transport.tap(DISCOVERY_REQUEST_TOPIC, (message) => this.answerRequest(message));
      await requestAnnouncements(this.transport);
    } catch (err) {
      this.warn(new Error(`participants not asked to announce themselves (learnt at their next heartbeat instead): ${errorMessage(err)}`));
    }
  }

  private answerRequest(message: unknown): void {
    const request = parseDiscoveryRequest(message);
    if (request?.replyTo === undefined) {
      return; // Not a request, or one for participants only.
    }
    const answer: RegistryAnswer = { protocol: 'discovery', command: 'registry', payload: { participants: this.registry.entries() } };
    this.transport.reply(request.replyTo, answer).catch((err: unknown) => debug('discovery request not answered: %s', errorMessage(err)));
  }

  /**
   * Whether discovery messages reach the coordinator now (its consumer of
   * `fbp` is live), and why not; inactive before start.
   */
  discoveryState(): ConsumerState {
    return this.discovery?.state() ?? { active: false, reason: 'not started' };
  }

  /** Stop listening; the bindings made stay on AMQP (MQTT forwarding stops). */
  async stop(): Promise<void> {
    this.registry.stop();
    this.transport.off('warning', this.onTransportWarning);
    await this.work;
    await this.requests?.cancel();
    await this.discovery?.cancel();
    this.outTaps.clear();
    for (const tap of this.taps.values()) {
      tap.handlers.clear();
      await tap.subscription.then((subscription) => subscription.cancel()).catch(() => undefined);
    }
    this.taps.clear();
    await this.transport.close();
  }

  /**
   * Apply a system graph: its edges become bindings as their roles are
   * discovered, its IIPs are sent to their roles' inqueues, its exported
   * ports can be sent to ({@link Coordinator.send}) and read (`data`).
   */
  async load(graph: Graph, options: { initials?: boolean } = {}): Promise<void> {
    this.nodes = new Map(graph.nodes.map((node) => [node.id, node.component]));
    this.edges = graph.edges.map((edge) => ({ src: { process: edge.from.node, port: edge.from.port }, tgt: { process: edge.to.node, port: edge.to.port } }));
    this.iips = options.initials === false ? [] : graph.initializers.map((iip) => ({ process: iip.to.node, port: iip.to.port, data: iip.from.data as unknown }));
    this.exportedIn = new Map(Object.entries(graph.inports).map(([name, target]) => [name, { process: target.process, port: target.port }]));
    this.exportedOut = new Map(Object.entries(graph.outports).map(([name, target]) => [name, { process: target.process, port: target.port }]));
    this.iipsSent.clear();
    await this.schedule();
  }

  /** Add an edge at run time; bound as soon as both roles are known. */
  async addEdge(edge: Edge): Promise<void> {
    this.edges.push(edge);
    await this.schedule();
  }

  /** Remove an edge at run time, and its binding. */
  async removeEdge(edge: Edge): Promise<void> {
    const same = (e: Edge): boolean => e.src.process === edge.src.process && e.src.port === edge.src.port && e.tgt.process === edge.tgt.process && e.tgt.port === edge.tgt.port;
    this.edges = this.edges.filter((e) => !same(e));
    await this.schedule();
  }

  /** The roles of the graph that must be discovered (every node but round-robin markers). */
  roles(): string[] {
    return [...this.nodes].filter(([, component]) => component !== ROUND_ROBIN_COMPONENT).map(([node]) => node);
  }

  /** Roles of the graph not discovered yet. */
  missingRoles(): string[] {
    return this.roles().filter((role) => !this.registry.byRole(role));
  }

  /** The bindings made so far. */
  bindings(): Binding[] {
    return [...this.bound.values()];
  }

  /** Resolve once every role of the graph is discovered and bound; reject naming the missing ones after `timeoutMs`. */
  async waitForSystem(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.work;
      const missing = this.missingRoles();
      if (missing.length === 0) {
        return;
      }
      if (Date.now() > deadline) {
        throw new InvalidOptionError(`no participant of role ${missing.map((r) => `"${r}"`).join(', ')} (${missing.map((r) => this.nodes.get(r)).join(', ')}) was discovered within ${timeoutMs / 1000} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Send a packet to a role's inport; throws naming what is missing when the role or port is not known. */
  async sendTo(role: string, port: string, data: unknown): Promise<void> {
    const definition = this.registry.byRole(role);
    if (!definition) {
      throw new InvalidOptionError(`no participant of role "${role}" is known yet`);
    }
    const queue = definition.inports.find((p) => p.id === port)?.queue;
    if (!queue) {
      throw new InvalidOptionError(`role "${role}" has no inport "${port}" (it has: ${definition.inports.map((p) => p.id).join(', ') || 'none'})`);
    }
    await this.transport.send('inqueue', queue, data);
  }

  /**
   * Receive what is published on the outqueue `queue` (see {@link
   * Transport.tap}). Everyone watching one queue through this coordinator
   * (exported outports, FBP clients, the system page) shares one tap, so each
   * message crosses the broker to us once.
   */
  async tap(queue: string, handler: (data: unknown) => void): Promise<Subscription> {
    let shared = this.taps.get(queue);
    if (!shared) {
      const handlers = new Set<(data: unknown) => void>();
      const created: SharedTap = {
        handlers,
        subscription: this.transport.tap(queue, (data) => {
          for (const each of handlers) {
            each(data);
          }
        }),
      };
      this.taps.set(queue, created);
      created.subscription.catch(() => this.taps.get(queue) === created && this.taps.delete(queue));
      shared = created;
    }
    const tap = shared;
    tap.handlers.add(handler);
    try {
      await tap.subscription;
    } catch (err) {
      tap.handlers.delete(handler);
      throw err;
    }
    let released = false;
    const release = async (): Promise<void> => {
      if (released) {
        return;
      }
      released = true;
      tap.handlers.delete(handler);
      if (tap.handlers.size === 0 && this.taps.get(queue) === tap) {
        this.taps.delete(queue);
        const subscription = await tap.subscription;
        await subscription.cancel();
        await subscription.close();
      }
    };
    return { cancel: release, close: release, state: () => (released ? { active: false, reason: 'released' } : { active: true }) };
  }

  /** Send a packet to an exported inport of the system graph. */
  async send(port: string, data: unknown): Promise<void> {
    const target = this.exportedIn.get(port);
    if (!target) {
      throw new InvalidOptionError(`the system graph has no exported inport "${port}" (it has: ${[...this.exportedIn.keys()].join(', ') || 'none'})`);
    }
    const queue = this.registry.byRole(target.process)?.inports.find((p) => p.id === target.port)?.queue;
    if (!queue) {
      throw new InvalidOptionError(`exported inport "${port}": no participant of role "${target.process}" with an inport "${target.port}" is known yet`);
    }
    await this.transport.send('inqueue', queue, data);
  }

  /** Reconcile once the current reconciliation is done; resolves after it. */
  private schedule(): Promise<void> {
    this.work = this.work.then(() => this.reconcile()).catch((err: unknown) => this.warn(err));
    return this.work;
  }

  private async reconcile(): Promise<void> {
    const definitions = new Map<string, ParticipantDefinition>();
    for (const role of this.roles()) {
      const definition = this.registry.byRole(role);
      if (definition) {
        definitions.set(role, definition);
      }
    }
    const system: SystemGraph = { nodes: this.nodes, edges: this.edges };
    const { bindings, problems } = graphBindings(system, definitions);
    for (const problem of problems) {
      this.warn(new Error(problem));
    }
    const wanted = new Map(bindings.map((b) => [bindingKey(b), b]));
    for (const [key, binding] of this.bound) {
      if (!wanted.has(key)) {
        await this.transport.removeBinding(binding);
        this.bound.delete(key);
        this.emit('unbound', binding);
      }
    }
    for (const [key, binding] of wanted) {
      if (!this.bound.has(key)) {
        try {
          await this.transport.addBinding(binding);
          this.bound.set(key, binding);
          this.emit('bound', binding);
        } catch (err) {
          this.warn(err);
        }
      }
    }
    await this.sendIips(definitions);
    await this.tapExportedOutports(definitions);
  }

  private async sendIips(definitions: ReadonlyMap<string, ParticipantDefinition>): Promise<void> {
    for (const [index, iip] of this.iips.entries()) {
      const queue = definitions.get(iip.process)?.inports.find((p) => p.id === iip.port)?.queue;
      if (queue && !this.iipsSent.has(index)) {
        this.iipsSent.add(index);
        await this.transport.send('inqueue', queue, iip.data);
      }
    }
  }

  private async tapExportedOutports(definitions: ReadonlyMap<string, ParticipantDefinition>): Promise<void> {
    const wanted = new Map<string, string>();
    for (const [name, source] of this.exportedOut) {
      const queue = definitions.get(source.process)?.outports.find((p) => p.id === source.port)?.queue;
      if (queue) {
        wanted.set(name, queue);
      }
    }
    for (const [name, tap] of this.outTaps) {
      if (wanted.get(name) !== tap.queue) {
        this.outTaps.delete(name);
        await tap.subscription.cancel();
        await tap.subscription.close();
      }
    }
    for (const [name, queue] of wanted) {
      if (!this.outTaps.has(name)) {
        this.outTaps.set(name, { queue, subscription: await this.tap(queue, (data) => this.emit('data', name, data)) });
      }
    }
  }

  private warn(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    debug('%s', error.message);
    if (this.listenerCount('warning') > 0) {
      this.emit('warning', error);
    }
  }
}
