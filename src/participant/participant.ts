/**
 * A participant: a NoFlo graph bound to broker queues. Each message on an
 * inqueue is one job; its outputs are published as they come, and its input is
 * settled once, after those publishes are confirmed: ack when the job
 * completed, dead-letter with the reason when it completed on `error`, a node
 * failed or held its packet (see `../runtime/network.ts`), it threw, timed
 * out, or could not be read.
 */
import createDebug from 'debug';
import { EventEmitter } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { errorMessage } from '../errors';
import { FBP_PROTOCOL_VERSION } from '../fbp/messages';
import { fbpQueues, serveFbpProtocol } from '../fbp/queue-pair';
import type { WebSocketEndpoint } from '../fbp/websocket';
import { decodeWithin, reuseBody, type BodyLimits } from '../protocol/codec';
import { deadLetterQueueName, discoveryMessage, leaveMessage, plainDiscoveryMessage, type ParticipantAnnouncement, type ParticipantDefinition, type PortDefinition } from '../protocol/definition';
import { DISCOVERY_CONTROL_TOPIC, parseDiscoveryRequest } from '../protocol/discovery';
import type { ComponentLoader, GraphSource } from '../runtime/graph-source';
import { GraphNetwork, type JobSink } from '../runtime/network';
import type { Delivery, SendOptions, Subscription, Transport, TransportStats } from '../transport/transport';
import { buildDefinition, deadLetterPorts } from './definition';
import { readOnlyEndpoint, type EndpointSubject, type FbpEndpoint } from './fbp-endpoint';
import { DEFAULT_SLOW_JOB_MS, type ParticipantOptions } from './options';
import { prepareGraph, type PreparedGraph } from './prepare';
import { ParticipantTrace } from './trace';

const debug = createDebug('noflo-runtime-msgflo:participant');

const FAIL_UNROUTABLE: SendOptions = Object.freeze({ unroutable: 'fail' });
const ACK_UNROUTABLE: SendOptions = Object.freeze({ unroutable: 'ack' });

/** How long stopping waits for the NoFlo network's components to finish. */
const NETWORK_STOP_TIMEOUT_MS = 2000;

/** How many of the latest jobs the median duration is taken over. */
const RECENT_JOBS = 101;
/** Without `slowJob`, a job is slow once it has run this many times the median job (and {@link DEFAULT_SLOW_JOB_MS}). */
const SLOW_JOB_FACTOR = 10;
/** Unfinished jobs a drain-timeout warning names one by one. */
const JOBS_NAMED = 5;

/** How a job ended. */
export interface JobOutcome {
  readonly role: string;
  readonly port: string;
  readonly outcome: 'ack' | 'nack';
  /** Why it failed, when it did. */
  readonly reason?: string;
  /** How long it took, in ms, from delivery to settlement. */
  readonly duration: number;
  /** The job's id (the IP scope its packets carry in the graph), once it ran; none for a message that could not be read. */
  readonly id?: string;
  /** Failed by the job timeout (`jobTimeout`). */
  readonly timedOut?: true;
}

/** Lifecycle notifications of a {@link Participant}. */
export interface ParticipantEvents {
  job: [JobOutcome];
  /** Something went wrong outside any job (a publish, a discovery message). */
  warning: [Error];
  /** The broker connection was lost; the participant is reconnecting. */
  disconnected: [Error];
  /** The broker connection is back and the participant consumes again. */
  reconnected: [];
  /** A message arrived on an inport: a job starts. */
  received: [port: string];
  /** An output was published to an outport's queue (the broker has it). */
  published: [port: string];
  /** A discovery message was sent. */
  announced: [];
  /** Started: consuming, whether or not its first discovery message could be sent. */
  started: [];
  /** The broker stopped delivering to an inport's consumer on a live connection; it is being started again. */
  consumerLost: [port: string, reason: string];
  /** An inport's lost consumer consumes again. */
  consumerRestored: [port: string];
}

/** Whether an inport is being consumed (see {@link Participant.inportStates}). */
export interface InportState {
  readonly port: string;
  readonly queue: string;
  readonly active: boolean;
  /** Why not, when not active. */
  readonly reason?: string;
}

interface Job {
  readonly port: string;
  readonly delivery: Delivery;
  readonly started: number;
  /** The input, when its body is JSON text of a string: an output equal to it is sent as that body. */
  input: string | undefined;
  /** The id the network knows the job by, once it runs. */
  id: string | undefined;
  publishes: Array<Promise<void>> | undefined;
  network: GraphNetwork<Job> | undefined;
  timer: NodeJS.Timeout | undefined;
  settling: boolean;
  /** Failed by the job timeout. */
  timedOut: boolean;
  /** Said to be slow already (said once). */
  slowSaid: boolean;
}

/** A running NoFlo graph on a broker. */
export class Participant extends EventEmitter<ParticipantEvents> {
  private readonly options: ParticipantOptions;
  private readonly transport: Transport;
  private readonly limits: BodyLimits;
  private loader: ComponentLoader | undefined;
  private source: GraphSource | undefined;
  private network: GraphNetwork<Job> | undefined;
  private currentDefinition: ParticipantDefinition | undefined;
  /** Where each visible outport publishes, and what an unroutable output means there: one lookup per output. */
  private readonly outQueues = new Map<string, { readonly queue: string; readonly send: SendOptions }>();
  private readonly subscriptions: Subscription[] = [];
  /** The inports' consumers (not the protocol endpoint's), which pause() cancels. */
  private consumers: Array<{ readonly port: string; readonly queue: string; readonly subscription: Subscription }> = [];
  /** Queue name → inport, for the transport's notifications. */
  private readonly inQueues = new Map<string, string>();
  private paused = false;
  private readonly inFlight = new Set<Job>();
  private discoveryTimer: NodeJS.Timeout | undefined;
  /** Looks for jobs in flight longer than the slow-job threshold. */
  private slowJobTimer: NodeJS.Timeout | undefined;
  /** Durations (ms) of the latest {@link RECENT_JOBS} jobs, a ring written at {@link settledCount}. */
  private readonly durations: number[] = [];
  private settledCount = 0;
  private drained: (() => void) | undefined;
  private stopping = false;
  private webSocket: WebSocketEndpoint | undefined;
  private endpoint: FbpEndpoint | undefined;
  private readonly ownDiscoveryTimer: boolean;
  private readonly discoveryFields: Readonly<Record<string, string>>;
  private readonly deadLettering = new Set<string>();
  private readonly onDisconnected = (err: Error): void => {
    this.emit('disconnected', err);
  };
  private readonly onReconnected = (): void => {
    this.emit('reconnected');
    this.announce().catch((err: unknown) => this.warn(err));
  };
  private readonly onConsumerLost = (queue: string, reason: string): void => {
    const port = this.inQueues.get(queue);
    if (port !== undefined) {
      this.emit('consumerLost', port, reason);
      this.warn(new Error(`inport ${port}: ${reason}; consuming again`));
    }
  };
  private readonly onConsumerRestored = (queue: string): void => {
    const port = this.inQueues.get(queue);
    if (port !== undefined) {
      this.emit('consumerRestored', port);
    }
  };
  private readonly onTransportWarning = (err: Error, queue?: string): void => {
    // A shared connection (a host's, which also announces its participants
    // itself) tells every participant on it: each says only its own queues'.
    if (queue === undefined ? this.ownDiscoveryTimer : this.inQueues.has(queue) || [...this.outQueues.values()].some((out) => out.queue === queue)) {
      this.warn(err);
    }
  };
  private readonly trace: ParticipantTrace;
  private readonly sink: JobSink<Job> = {
    output: (port, data, job) => this.output(port, data, job),
    complete: (job, error) => this.complete(job, error),
  };

  /**
   * @param deps - a component loader to share, or the graph prepared
   *   already with it (see ./prepare); `discoveryTimer: false` when
   *   the caller re-announces the participant itself (a host of many);
   *   `discoveryFields` are added to the definition announced (e.g. where its
   *   metrics are served)
   */
  constructor(
    options: ParticipantOptions,
    transport: Transport,
    deps: { loader?: ComponentLoader; prepared?: PreparedGraph; discoveryTimer?: boolean; discoveryFields?: Readonly<Record<string, string>> } = {},
  ) {
    super();
    this.options = options;
    this.transport = transport;
    this.loader = deps.prepared?.loader ?? deps.loader;
    this.source = deps.prepared?.source;
    this.ownDiscoveryTimer = deps.discoveryTimer ?? true;
    this.discoveryFields = deps.discoveryFields ?? {};
    this.limits = { maxBytes: options.maxMessageSize, maxDepth: options.maxDepth };
    this.trace = new ParticipantTrace({ label: options.name, runtime: 'noflo-runtime-msgflo', type: 'noflo-nodejs' }, options.trace);
  }

  /** The definition announced on discovery; set once started. */
  get definition(): ParticipantDefinition {
    if (!this.currentDefinition) {
      throw new Error(`participant "${this.options.name}" is not started`);
    }
    return this.currentDefinition;
  }

  /** Where the FBP protocol WebSocket listens, with `protocolPort`. */
  get protocolAddress(): string | undefined {
    return this.webSocket?.address;
  }

  /** Whether the FBP protocol endpoints serve the full protocol rather than the read-only set. */
  get protocolFull(): boolean {
    return this.options.protocolFull;
  }

  /** The broker's URL, without password. */
  get brokerUrl(): string {
    return this.transport.displayUrl;
  }

  /** The broker node connected to now (of the list given), without password; undefined while disconnected. */
  get connectedTo(): string | undefined {
    return this.transport.connectedTo;
  }

  /** The broker connection's counters: unroutable outputs, reconnects. */
  get stats(): Readonly<TransportStats> {
    return this.transport.stats;
  }

  /** The role it plays (`--name`). */
  get role(): string {
    return this.options.name;
  }

  /** Whether failed messages of inport `port` are kept in a dead-letter queue of ours (`--deadletter`). */
  keepsDeadLetters(port: string): boolean {
    return this.deadLettering.has(port);
  }

  /**
   * Whether each inport is being consumed now, and why not: not connected,
   * the broker cancelled the consumer, the MQTT session was lost, paused.
   * Empty before start and after stop.
   */
  inportStates(): InportState[] {
    if (this.paused) {
      return [...this.inQueues].map(([queue, port]) => ({ port, queue, active: false, reason: 'paused, not consuming' }));
    }
    return this.consumers.map(({ port, queue, subscription }) => {
      const state = subscription.state();
      return state.active ? { port, queue, active: true } : { port, queue, active: false, reason: state.reason ?? 'not consuming' };
    });
  }

  /** Jobs currently in flight. */
  get jobsInFlight(): number {
    return this.inFlight.size;
  }

  /**
   * Load and start the graph, declare the queues, start consuming and send the
   * first discovery message. Resolves with the definition.
   */
  async start(): Promise<ParticipantDefinition> {
    const { options } = this;
    if (!this.source) {
      const prepared = await prepareGraph(options, { loader: this.loader, onWarning: (message) => this.warn(new Error(message)) });
      this.loader = prepared.loader;
      this.source = prepared.source;
    }
    const network = await this.startNetwork();
    let definition: ParticipantDefinition;
    let deadLetters: PortDefinition[];
    try {
      definition = buildDefinition(network, options);
      deadLetters = deadLetterPorts(definition, options.deadletter);
    } catch (err) {
      await this.shutdownNetwork(network).catch((stopErr: unknown) => debug('stopping the refused graph: %s', errorMessage(stopErr)));
      throw err;
    }
    this.warnIfIdle(definition);
    const fbp = fbpQueues(definition.id);
    Object.assign(definition, { type: 'noflo-nodejs', version: FBP_PROTOCOL_VERSION, inqueue: fbp.receive, outqueue: fbp.send, started: Date.now() }, this.discoveryFields);
    for (const port of deadLetters) {
      this.deadLettering.add(port.id);
    }
    if (options.dedicatedNetwork) {
      // That one only told us the ports; each job gets a network of its own.
      await this.shutdownNetwork(network);
    } else {
      this.network = network;
    }
    this.currentDefinition = definition;

    this.transport.on('disconnected', this.onDisconnected);
    this.transport.on('reconnected', this.onReconnected);
    this.transport.on('consumerLost', this.onConsumerLost);
    this.transport.on('consumerRestored', this.onConsumerRestored);
    this.transport.on('warning', this.onTransportWarning);
    await this.transport.connect();
    if (this.transport.protocol === 'amqp' && this.transport.nodeCount > 1 && options.queueType === 'classic') {
      this.warn(
        new Error(
          `inqueues of "${options.name}" are classic queues on a broker of ${this.transport.nodeCount} nodes: each lives on one node and is unavailable (its messages too) while that node is down; use --queue-type quorum`,
        ),
      );
    }
    for (const port of definition.outports) {
      if (port.queue) {
        const unroutable = options.outports[port.id]?.unroutable ?? options.onUnroutable;
        this.outQueues.set(port.id, { queue: port.queue, send: unroutable === 'fail' ? FAIL_UNROUTABLE : ACK_UNROUTABLE });
        await this.transport.createQueue('outqueue', port.queue);
      }
    }
    const queueOptions = { queueType: options.queueType, deliveryLimit: options.deliveryLimit };
    for (const port of definition.inports) {
      if (port.queue) {
        this.inQueues.set(port.queue, port.id);
        await this.transport.createQueue('inqueue', port.queue, queueOptions);
      }
    }
    for (const port of deadLetters) {
      await this.transport.createQueue('inqueue', deadLetterQueueName(port.queue as string), queueOptions);
    }
    await this.consume(definition);
    // A job that never ends (a component that never calls output.done())
    // shows nowhere else: no output, no failure, a role that does nothing.
    this.slowJobTimer = setInterval(() => this.saySlowJobs(), slowJobCheckPeriod(options.slowJob));
    this.slowJobTimer.unref();
    const self = this;
    const subject: EndpointSubject = {
      definition,
      graph: (this.source as GraphSource).graph,
      get running() {
        return !self.stopping && !self.paused;
      },
      trace: this.trace,
    };
    // The full FBP runtime (noflo-runtime-base) only with protocolFull: the read-only endpoint does without it.
    const endpoint = options.protocolFull
      ? (await import('./fbp-full')).createFullEndpoint({
          id: definition.id,
          label: definition.label ?? definition.role,
          name: definition.component,
          graph: subject.graph,
          graphKey: this.source?.key,
          network: this.network?.nofloNetwork,
          basedir: options.basedir,
          loader: this.loader as ComponentLoader,
          trace: this.trace,
        })
      : readOnlyEndpoint(subject, this.network?.nofloNetwork);
    this.endpoint = endpoint;
    this.subscriptions.push(await serveFbpProtocol(this.transport, definition.id, endpoint));
    if (options.protocolPort !== undefined) {
      // The WebSocket server (ws) only when a protocol port is asked for.
      const { serveFbpWebSocket } = await import('../fbp/websocket');
      this.webSocket = await serveFbpWebSocket('127.0.0.1', options.protocolPort, endpoint);
    }
    // Listening first: a coordinator that hears this first announcement, and
    // asked for announcements meanwhile, must get an answer (see Coordinator.start).
    await this.answerDiscoveryRequests();
    // Discovery never holds back work: a failure is said, and the next message tries again.
    await this.announce().catch((err: unknown) => this.warn(new Error(`discovery message not sent (sent again in ${Math.round(options.discoveryPeriod / 2.2)} s): ${errorMessage(err)}`)));
    if (this.ownDiscoveryTimer) {
      this.discoveryTimer = setInterval(() => {
        this.announce().catch((err: unknown) => this.warn(err));
      }, (options.discoveryPeriod * 1000) / 2.2);
      this.discoveryTimer.unref();
    }
    debug('participant %s started', definition.id);
    this.emit('started');
    return definition;
  }

  /**
   * Stop consuming, let in-flight jobs finish (up to `timeout` ms, by default
   * the drain timeout option), stop the graph and close the connection. Jobs
   * still running then are left unsettled: the broker delivers them again.
   */
  async stop(timeout = this.options.drainTimeout): Promise<void> {
    this.stopping = true;
    clearInterval(this.discoveryTimer);
    clearInterval(this.slowJobTimer);
    if (this.currentDefinition) {
      // Said first: from now on it takes no new job, so coordinators need not count it.
      await this.transport
        .broadcast(DISCOVERY_CONTROL_TOPIC, leaveMessage(this.currentDefinition))
        .catch((err: unknown) => debug('leave message not sent: %s', errorMessage(err)));
    }
    await this.webSocket?.close();
    await this.endpoint?.close();
    const subscriptions = [...this.consumers.splice(0).map((c) => c.subscription), ...this.subscriptions.splice(0)];
    await this.cancelAndDrain(subscriptions, timeout);
    for (const job of this.inFlight) {
      clearTimeout(job.timer);
    }
    const network = this.network;
    this.network = undefined;
    if (network) {
      // NoFlo waits for every component to finish its work; a hung one (a
      // timed-out job) never does, and must not hold the shutdown.
      const stopped = await Promise.race([
        this.shutdownNetwork(network).then(() => true),
        new Promise<false>((resolve) => setTimeout(resolve, NETWORK_STOP_TIMEOUT_MS, false).unref()),
      ]);
      if (!stopped) {
        this.warn(new Error(`the graph did not stop within ${NETWORK_STOP_TIMEOUT_MS} ms (a component still busy); closing anyway`));
      }
    }
    this.transport.off('disconnected', this.onDisconnected);
    this.transport.off('reconnected', this.onReconnected);
    this.transport.off('consumerLost', this.onConsumerLost);
    this.transport.off('consumerRestored', this.onConsumerRestored);
    this.transport.off('warning', this.onTransportWarning);
    await this.transport.close();
  }

  /** Whether consumption is paused ({@link Participant.pause}). */
  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Stop taking messages: they wait in the queues until {@link
   * Participant.resume}. Jobs in flight finish first (up to the drain
   * timeout; those still running then go back to the broker).
   */
  async pause(): Promise<void> {
    if (this.paused || this.stopping) {
      return;
    }
    this.paused = true;
    await this.cancelAndDrain(this.consumers.splice(0).map((c) => c.subscription), this.options.drainTimeout);
  }

  /** Take messages again after {@link Participant.pause}. */
  async resume(): Promise<void> {
    if (!this.paused || this.stopping) {
      return;
    }
    this.paused = false;
    await this.consume(this.definition);
  }

  private async consume(definition: ParticipantDefinition): Promise<void> {
    const subscribeOptions = { prefetch: this.options.prefetch, session: this.options.clientId };
    for (const port of definition.inports) {
      if (port.queue) {
        const id = port.id;
        const subscription = await this.transport.subscribe(port.queue, (delivery) => this.receive(id, delivery), subscribeOptions);
        this.consumers.push({ port: id, queue: port.queue, subscription });
      }
    }
  }

  /** Cancel `subscriptions`, wait up to `timeout` ms for the jobs in flight, then release them. */
  private async cancelAndDrain(subscriptions: readonly Subscription[], timeout: number): Promise<void> {
    for (const subscription of subscriptions) {
      await subscription.cancel().catch((err: unknown) => debug('cancel failed: %s', errorMessage(err)));
    }
    if (this.inFlight.size > 0) {
      debug('waiting for %d jobs', this.inFlight.size);
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeout);
        this.drained = () => {
          clearTimeout(timer);
          this.drained = undefined;
          resolve(true);
        };
      });
      if (!drained && this.inFlight.size > 0) {
        this.warn(new Error(`drain timeout (${formatDuration(timeout)}) passed with ${this.describeUnfinished()}; the broker delivers them again`));
      }
    }
    for (const subscription of subscriptions) {
      await subscription.close().catch((err: unknown) => debug('closing a subscription failed: %s', errorMessage(err)));
    }
  }

  /**
   * Write the Flowtrace recorded so far (with `trace` on, or since an FBP
   * client's `trace:start`) to `file` as JSON. Throws when nothing was ever
   * traced.
   */
  async writeTrace(file: string): Promise<void> {
    const trace = this.trace.recorded;
    if (!trace) {
      throw new Error(`participant "${this.options.name}" has traced nothing: start it with --trace, or send trace:start over its FBP protocol`);
    }
    await writeFile(file, JSON.stringify(trace.toJSON(), null, 2));
  }

  /** Whether a Flowtrace is being recorded now (`trace`, or an FBP client's `trace:start`). */
  get tracing(): boolean {
    return this.trace.recording;
  }

  private async startNetwork(): Promise<GraphNetwork<Job>> {
    const network = await GraphNetwork.start<Job>(this.source as GraphSource, {
      loader: this.loader as ComponentLoader,
      basedir: this.options.basedir,
      iips: this.options.iips,
      flowtrace: this.trace.active,
      configurationWaitMs: this.options.configWait,
    });
    network.attach(this.sink);
    // Tracing may have been turned on or off while it started.
    this.trace.follow(network);
    return network;
  }

  private async shutdownNetwork(network: GraphNetwork<Job>): Promise<void> {
    this.trace.unfollow(network);
    await network.shutdown();
  }

  /** Send the discovery message (again). */
  async announce(): Promise<void> {
    if (this.stopping) {
      return; // It has said it leaves.
    }
    // Stale once the next one is due; by then a newer one stands in the queue.
    await this.transport.announce(this.announcement(), this.options.discoveryPeriod * 1000);
    this.emit('announced');
  }

  /**
   * The discovery message, sent now: with the keys of ours, or only the
   * seven every participant sends (`discovery.extra` false).
   */
  private announcement(): ParticipantAnnouncement {
    return this.options.discovery.extra ? discoveryMessage(this.definition, Date.now()) : plainDiscoveryMessage(this.definition);
  }

  /**
   * Answer discovery requests ({@link DISCOVERY_CONTROL_TOPIC}): announce on
   * `fbp` now, or send the announcement to the inbox the request names.
   * A failure to listen is said; discovery goes on at the heartbeat.
   */
  private async answerDiscoveryRequests(): Promise<void> {
    const answer = (message: unknown): void => {
      const request = parseDiscoveryRequest(message);
      if (!request || this.stopping) {
        return;
      }
      const sent = request.replyTo === undefined ? this.announce() : this.transport.reply(request.replyTo, this.announcement());
      sent.catch((err: unknown) => debug('discovery request not answered: %s', errorMessage(err)));
    };
    try {
      this.subscriptions.push(await this.transport.tap(DISCOVERY_CONTROL_TOPIC, answer));
    } catch (err) {
      this.warn(new Error(`discovery requests will not be answered (announcing every ${Math.round(this.options.discoveryPeriod / 2.2)} s still): ${errorMessage(err)}`));
    }
  }

  private receive(port: string, delivery: Delivery): void {
    if (this.stopping || this.paused) {
      // Delivered while consumption was being cancelled: left unsettled, the
      // broker gives it to the next consumer once we disconnect.
      return;
    }
    const job: Job = {
      port,
      delivery,
      started: Date.now(),
      input: undefined,
      id: undefined,
      publishes: undefined,
      network: undefined,
      timer: undefined,
      settling: false,
      timedOut: false,
      slowSaid: false,
    };
    this.inFlight.add(job);
    this.emit('received', port);
    const decoded = decodeWithin(delivery.body, this.limits);
    if (!decoded.ok) {
      this.complete(job, decoded.reason);
      return;
    }
    if (decoded.jsonString) {
      job.input = decoded.data as string;
    }
    if (this.options.jobTimeout !== undefined) {
      job.timer = setTimeout(() => this.timeout(job), this.options.jobTimeout);
    }
    if (this.network) {
      this.run(this.network, job, decoded.data);
      return;
    }
    this.startNetwork().then(
      (network) => {
        if (job.settling) {
          void this.shutdownNetwork(network); // Timed out while the network started.
          return;
        }
        job.network = network;
        this.run(network, job, decoded.data);
      },
      (err: unknown) => this.complete(job, `cannot start a network for the job: ${errorMessage(err)}`),
    );
  }

  private run(network: GraphNetwork<Job>, job: Job, data: unknown): void {
    try {
      job.id = network.run(job.port, data, job);
    } catch (err) {
      this.complete(job, errorMessage(err));
    }
  }

  private timeout(job: Job): void {
    job.timedOut = true;
    // Most often a component that never calls output.done(): nothing else keeps a job from ending.
    const holders = this.holders(job);
    const reason = `job timed out after ${this.options.jobTimeout} ms: no component finished it (one that never calls output.done()?)${holders.length > 0 ? `; held by ${holders.join(', ')}` : ''}`;
    const network = job.network ?? this.network;
    if (network && job.id !== undefined) {
      network.fail(job.id, reason);
    } else {
      this.complete(job, reason);
    }
  }

  /** The nodes still working on a job, as {@link GraphNetwork.holders} names them. */
  private holders(job: Job): string[] {
    const network = job.network ?? this.network;
    return network && job.id !== undefined ? network.holders(job.id) : [];
  }

  /** How long a job runs before it is said to be slow, in ms, and why that long. */
  private slowJobThreshold(): { ms: number; why: string } {
    if (this.options.slowJob !== undefined) {
      return { ms: this.options.slowJob, why: `--slow-job ${formatDuration(this.options.slowJob)}` };
    }
    const sorted = this.durations.slice().sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    return { ms: Math.max(DEFAULT_SLOW_JOB_MS, SLOW_JOB_FACTOR * median), why: sorted.length > 0 ? `the median job takes ${formatDuration(median)}` : 'no job finished yet' };
  }

  /** Warn, once per job, of the jobs in flight longer than the slow-job threshold. */
  private saySlowJobs(): void {
    if (this.inFlight.size === 0) {
      return;
    }
    const now = Date.now();
    const threshold = this.slowJobThreshold();
    for (const job of this.inFlight) {
      if (now - job.started < threshold.ms) {
        break; // Jobs are kept in the order they came: the rest are younger.
      }
      if (job.slowSaid || job.settling) {
        continue;
      }
      job.slowSaid = true;
      const holders = this.holders(job);
      this.warn(
        new Error(
          `job on inport ${job.port} still running after ${formatDuration(now - job.started)} (${threshold.why})${holders.length > 0 ? `, held by ${holders.join(', ')}` : ''}: slow, or stalled by a component that never calls output.done()`,
        ),
      );
    }
  }

  /** The jobs in flight, for a warning: how many, and the oldest by port, age and the nodes holding them. */
  private describeUnfinished(): string {
    const now = Date.now();
    const jobs = [...this.inFlight];
    const named = jobs.slice(0, JOBS_NAMED).map((job) => {
      const holders = this.holders(job);
      return `inport ${job.port}, ${formatDuration(now - job.started)} old${holders.length > 0 ? `, held by ${holders.join(', ')}` : ''}`;
    });
    const more = jobs.length > JOBS_NAMED ? `; and ${jobs.length - JOBS_NAMED} more` : '';
    return `${jobs.length} ${jobs.length === 1 ? 'job' : 'jobs'} unfinished (${named.join('; ')}${more})`;
  }

  private output(port: string, data: unknown, job: Job | undefined): void {
    const out = this.outQueues.get(port);
    if (out === undefined) {
      return; // Hidden port.
    }
    const published = this.transport.send('outqueue', out.queue, job ? reuseBody(data, job.input, job.delivery.body) : data, out.send);
    if (this.listenerCount('published') > 0) {
      published.then(() => this.emit('published', port), () => undefined); // Failures are reported below.
    }
    if (job) {
      (job.publishes ??= []).push(published);
    } else {
      published.catch((err: unknown) => this.warn(err));
    }
  }

  private complete(job: Job, error: string | undefined): void {
    if (job.settling) {
      return;
    }
    job.settling = true;
    clearTimeout(job.timer);
    if (job.network) {
      const network = job.network;
      job.network = undefined;
      this.shutdownNetwork(network).catch((err: unknown) => this.warn(err));
    }
    const publishes = job.publishes;
    if (!publishes) {
      void this.settle(job, error);
      return;
    }
    if (publishes.length === 1) {
      // The usual case, without the bookkeeping of allSettled.
      (publishes[0] as Promise<void>).then(
        () => this.settle(job, error),
        (err: unknown) => this.settle(job, error ?? `output not published: ${errorMessage(err)}`),
      );
      return;
    }
    void Promise.allSettled(publishes).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      return this.settle(job, error ?? (failed ? `output not published: ${errorMessage(failed.reason)}` : undefined));
    });
  }

  private async settle(job: Job, error: string | undefined): Promise<void> {
    try {
      if (error === undefined) {
        await job.delivery.ack();
      } else {
        debug('job on %s failed: %s', job.port, error);
        await job.delivery.nack(error);
      }
    } catch (err) {
      this.warn(err);
    }
    this.inFlight.delete(job);
    const duration = Date.now() - job.started;
    this.durations[this.settledCount % RECENT_JOBS] = duration;
    this.settledCount += 1;
    const outcome: JobOutcome = {
      role: this.options.name,
      port: job.port,
      duration,
      ...(job.id === undefined ? {} : { id: job.id }),
      ...(error === undefined ? { outcome: 'ack' as const } : { outcome: 'nack' as const, reason: error }),
      ...(job.timedOut ? { timedOut: true as const } : {}),
    };
    this.emit('job', outcome);
    if (this.inFlight.size === 0) {
      this.drained?.();
    }
  }

  /** A participant without a single queue can take no job and send nothing: worth a word, not a refusal. */
  private warnIfIdle(definition: ParticipantDefinition): void {
    const ports = [...definition.inports, ...definition.outports];
    if (ports.some((port) => port.queue)) {
      return;
    }
    const label = this.source?.label ?? this.options.graph;
    const what = ports.length === 0 ? `graph "${label}" exports no ports` : `every port of graph "${label}" is hidden`;
    this.warn(new Error(`${what}: participant "${this.options.name}" has no queue to take jobs from or send results to, and can do nothing`));
  }

  private warn(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    debug('warning: %s', error.message);
    if (this.listenerCount('warning') > 0) {
      this.emit('warning', error);
    }
  }
}

/** How often to look for slow jobs: often enough for a threshold set low, once a second at most. */
function slowJobCheckPeriod(slowJob: number | undefined): number {
  return slowJob === undefined ? 1000 : Math.min(1000, Math.max(25, Math.round(slowJob / 4)));
}

/** A duration for a person: `12 ms`, `1.5 s`, `42 s`. */
function formatDuration(ms: number): string {
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
