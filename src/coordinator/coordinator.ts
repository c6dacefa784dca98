/**
 * The coordinator: knows every participant from discovery, and turns a
 * system graph (roles as nodes, edges between their ports) into broker
 * bindings. Bindings follow the participants: an edge whose roles appear
 * later (or come back after a restart) is bound then. The graph's IIPs go to
 * their roles' inqueues once per system start, each as soon as its role and
 * every role downstream of it are discovered and bound, and again to a role
 * whose participant starts later (see ./initials).
 */
import createDebug from 'debug';
import { EventEmitter } from 'node:events';
import { errorMessage, InvalidOptionError } from '../errors';
import { bindingKey, downstreamOf, graphBindings, ROUND_ROBIN_COMPONENT, type Binding, type Edge, type EdgeOutcome, type SystemGraph } from '../protocol/bindings';
import type { ParticipantDefinition } from '../protocol/definition';
import { DISCOVERY_CONTROL_TOPIC, parseDiscoveryRequest, parseFbpMessage, type RegistryAnswer } from '../protocol/discovery';
import { requestAnnouncements } from './discovery-request';
import type { Graph } from '../runtime/graph-source';
import type { ConsumerState, Subscription, Transport } from '../transport/transport';
import { failureKey, type SystemFailure } from './failures';
import { InitialPackets, type ArmedIip, type Iip, type IipDelivery } from './initials';
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
  /** Something failed that the coordinator carries on after. */
  warning: [Error];
  /**
   * A part of the system could not be made (an edge, a binding, an IIP); said
   * once, when it first fails. Tried again at each reconciliation; see
   * {@link Coordinator.failures}.
   */
  failed: [SystemFailure];
  /** IIPs of a role went out: at the system start, or again for a participant that started later. */
  iips: [IipDelivery];
  /**
   * An IIP is about to be sent to `queue`, the inqueue of `role`'s `port`:
   * before anything it causes can come back (see `iips` for once the broker
   * took it).
   */
  iip: [role: string, port: string, queue: string, data: unknown];
}

/** Roles of the system graph no participant of which was discovered in time. */
export class MissingRolesError extends InvalidOptionError {
  /** The roles missing, each with the component the graph gives it. */
  readonly missing: ReadonlyArray<{ readonly role: string; readonly component: string }>;

  constructor(missing: ReadonlyArray<{ readonly role: string; readonly component: string }>, timeoutMs: number) {
    super(`no participant of role ${missing.map((m) => `"${m.role}"`).join(', ')} (${missing.map((m) => m.component).join(', ')}) was discovered within ${timeoutMs / 1000} s`);
    this.missing = missing;
  }
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

/**
 * How long after its discovery request a coordinator waits for our
 * participants to answer before it forgets those known only from older
 * announcements (ms). They answer in milliseconds; one that misses the
 * window is known again at its next heartbeat.
 */
export const CONFIRM_MS = 1500;

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
  private readonly initials = new InitialPackets();
  private exportedIn = new Map<string, Exported>();
  private exportedOut = new Map<string, Exported>();
  private readonly bound = new Map<string, Binding>();
  /** What could not be made at the last reconciliation, by {@link failureKey}. */
  private failed = new Map<string, SystemFailure>();
  /** IIPs the broker refused, until sent or gone (they are not tried while their role is not ready). */
  private readonly refusedIips = new Map<ArmedIip, SystemFailure>();
  private readonly outTaps = new Map<string, { queue: string; subscription: Subscription }>();
  /** Taps by queue, shared by everyone watching it (see {@link Coordinator.tap}). */
  private readonly taps = new Map<string, SharedTap>();
  private discovery: Subscription | undefined;
  private control: Subscription | undefined;
  private confirmTimer: NodeJS.Timeout | undefined;
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
   * announce themselves now ({@link DISCOVERY_CONTROL_TOPIC}): ours answer at
   * once, others are learnt at their next heartbeat. Announcements of ours
   * (they say when they were sent) that waited in `fbp` from before the
   * request, of participants that then do not answer within {@link
   * CONFIRM_MS}, are of participants gone meanwhile: forgotten. From then on,
   * forgets participants that say they leave, and answers discovery requests
   * that name an inbox with the participants it knows (this is how `status`
   * sees every participant while a coordinator takes the `fbp` queue's
   * messages).
   */
  async start(): Promise<void> {
    // Its connection is its own: what the transport works around (a binding
    // not made again after a reconnection, its consumer of fbp) is its to say.
    this.transport.on('warning', this.onTransportWarning);
    await this.transport.connect();
    this.discovery = await this.transport.consumeDiscovery((message) => this.registry.handle(message));
    this.registry.start();
    try {
      this.control = await this.transport.tap(DISCOVERY_CONTROL_TOPIC, (message) => this.onControl(message));
      const asked = Date.now();
      await requestAnnouncements(this.transport);
      this.confirmTimer = setTimeout(() => this.registry.prune(asked), CONFIRM_MS);
      this.confirmTimer.unref();
    } catch (err) {
      this.warn(new Error(`participants not asked to announce themselves (learnt at their next heartbeat instead): ${errorMessage(err)}`));
    }
  }

  /** A message on the control topic: a participant leaving, or a request to answer. */
  private onControl(message: unknown): void {
    if (parseFbpMessage(message).kind === 'leave') {
      this.registry.handle(message);
      return;
    }
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
    clearTimeout(this.confirmTimer);
    await this.control?.cancel();
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
   * discovered, its IIPs are sent to their roles' inqueues (a system start:
   * see {@link Coordinator.setIips}), its exported ports can be sent to
   * ({@link Coordinator.send}) and read (`data`). With `initials: false`
   * the graph's IIPs are left out and the IIPs given to `setIips` stay.
   */
  async load(graph: Graph, options: { initials?: boolean } = {}): Promise<void> {
    this.nodes = new Map(graph.nodes.map((node) => [node.id, node.component]));
    this.edges = graph.edges.map((edge) => ({ src: { process: edge.from.node, port: edge.from.port }, tgt: { process: edge.to.node, port: edge.to.port } }));
    this.exportedIn = new Map(Object.entries(graph.inports).map(([name, target]) => [name, { process: target.process, port: target.port }]));
    this.exportedOut = new Map(Object.entries(graph.outports).map(([name, target]) => [name, { process: target.process, port: target.port }]));
    if (options.initials !== false) {
      this.initials.set(graph.initializers.map((iip) => ({ process: iip.to.node, port: iip.to.port, data: iip.from.data as unknown })), true);
    }
    await this.schedule();
  }

  /**
   * Set the system's IIPs (by role). `fresh` is a system start: each is sent
   * once more, as soon as its role and every role downstream of it are
   * discovered and bound. Otherwise the IIPs already held keep their state:
   * only new ones are sent, and removed ones are no longer sent again to
   * participants that start later. An empty list stops all sending.
   */
  async setIips(iips: readonly Iip[], options: { fresh?: boolean } = {}): Promise<void> {
    this.initials.set(iips, options.fresh === true);
    await this.schedule();
  }

  /** How many IIPs wait to be sent (their role, or a role downstream, not discovered or bound yet). */
  pendingIips(): number {
    return this.initials.pending();
  }

  /**
   * What could not be made at the last reconciliation, and why: edges naming
   * a port their role does not have, bindings the broker refused, IIPs not
   * sent. Each is tried again at the next reconciliation, and is gone from
   * here once it succeeds.
   */
  failures(): SystemFailure[] {
    return [...this.failed.values()];
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

  /** The system graph applied (by {@link Coordinator.load} and edits since): its nodes (role → component) and edges. */
  systemGraph(): SystemGraph {
    return { nodes: new Map(this.nodes), edges: [...this.edges] };
  }

  /** The bindings made so far. */
  bindings(): Binding[] {
    return [...this.bound.values()];
  }

  /** Resolve once the reconciliations asked for so far (by discovery, edits, IIPs) are done. */
  async settled(): Promise<void> {
    for (let work = this.work; ; work = this.work) {
      await work;
      if (work === this.work) {
        return;
      }
    }
  }

  /**
   * Resolve once every role of the graph is discovered and the
   * reconciliation that followed is done (bindings made, IIPs sent, or their
   * {@link Coordinator.failures} recorded); reject with a
   * {@link MissingRolesError} after `timeoutMs`.
   */
  async waitForSystem(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // A participant heard meanwhile has a reconciliation of its own queued: wait for that one too.
      await this.settled();
      const missing = this.missingRoles();
      if (missing.length === 0) {
        return;
      }
      if (Date.now() > deadline) {
        throw new MissingRolesError(missing.map((role) => ({ role, component: this.nodes.get(role) ?? '?' })), timeoutMs);
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
    const { bindings, edges } = graphBindings(system, definitions);
    const failures: SystemFailure[] = [];
    for (const outcome of edges) {
      if (outcome.problem !== undefined) {
        failures.push({ kind: 'edge', edge: outcome.edge, reason: outcome.problem });
      }
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
          const from = edges.filter((outcome) => outcome.binding && bindingKey(outcome.binding) === key).map((outcome) => outcome.edge);
          failures.push({ kind: 'binding', binding, edges: from, reason: errorMessage(err) });
        }
      }
    }
    const outcomes = new Map(edges.map((outcome) => [outcome.edge, outcome]));
    await this.sendIips(definitions, (role) => this.readyForIips(role, system, definitions, outcomes), failures);
    this.record(failures);
    await this.tapExportedOutports(definitions);
  }

  /**
   * An IIP to `role` goes once the role and every role downstream of it are
   * discovered and the edges between them bound: what it causes then reaches
   * every role it is meant to (a participant may answer before the bindings
   * behind it are made, and that output would be lost).
   */
  private readyForIips(role: string, system: SystemGraph, definitions: ReadonlyMap<string, ParticipantDefinition>, outcomes: ReadonlyMap<Edge, EdgeOutcome>): boolean {
    const { roles, edges } = downstreamOf(system, role);
    return (
      [...roles].every((r) => definitions.has(r)) &&
      edges.every((edge) => {
        const binding = outcomes.get(edge)?.binding;
        return binding !== undefined && this.bound.has(bindingKey(binding));
      })
    );
  }

  private async sendIips(definitions: ReadonlyMap<string, ParticipantDefinition>, ready: (role: string) => boolean, failures: SystemFailure[]): Promise<void> {
    const held = new Set(this.initials.list());
    for (const armed of this.refusedIips.keys()) {
      if (!held.has(armed)) {
        this.refusedIips.delete(armed);
      }
    }
    const queueOf = (iip: Iip): string | undefined => definitions.get(iip.process)?.inports.find((p) => p.id === iip.port)?.queue;
    for (const armed of held) {
      const definition = definitions.get(armed.iip.process);
      if (!armed.sent && definition && !queueOf(armed.iip)) {
        failures.push({ kind: 'iip', iip: armed.iip, reason: `role "${armed.iip.process}" (${definition.component}) has no inport "${armed.iip.port}" with a queue` });
      }
    }
    for (const batch of this.initials.due(this.registry.list(), ready)) {
      const sent: Array<{ port: string; queue: string; data: unknown }> = [];
      for (const armed of batch.iips) {
        const queue = queueOf(armed.iip);
        if (!queue) {
          continue; // Said above, as a failure.
        }
        try {
          this.emit('iip', batch.role, armed.iip.port, queue, armed.iip.data);
          await this.transport.send('inqueue', queue, armed.iip.data);
          this.initials.delivered(batch, armed);
          this.refusedIips.delete(armed);
          sent.push({ port: armed.iip.port, queue, data: armed.iip.data });
        } catch (err) {
          this.refusedIips.set(armed, { kind: 'iip', iip: armed.iip, reason: errorMessage(err) });
        }
      }
      if (sent.length > 0) {
        this.emit('iips', batch.participant ? { role: batch.role, sent, participant: batch.participant } : { role: batch.role, sent });
      }
    }
    failures.push(...this.refusedIips.values());
  }

  /** Keep what failed at this reconciliation, saying what failed anew. */
  private record(failures: readonly SystemFailure[]): void {
    const previous = this.failed;
    this.failed = new Map(failures.map((failure) => [failureKey(failure), failure]));
    for (const [key, failure] of this.failed) {
      if (previous.get(key)?.reason !== failure.reason) {
        debug('%s: %s', key, failure.reason);
        this.emit('failed', failure);
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
