/**
 * A participant: a NoFlo graph bound to broker queues. Each message on an
 * inqueue is one job; its outputs are published as they come, and its input is
 * settled once, after those publishes are confirmed: ack when the job
 * completed, nack (to the dead-letter queue) when it completed on `error`.
 */
import createDebug from 'debug';
import { Flowtrace } from 'flowtrace';
import { EventEmitter } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { errorMessage } from '../errors';
import { deadLetterQueueName, discoveryMessage, type ParticipantDefinition } from '../protocol/definition';
import { createComponentLoader, resolveGraph, type ComponentLoader, type GraphSource } from '../runtime/graph-source';
import { GraphNetwork, type JobSink } from '../runtime/network';
import type { Delivery, Subscription, Transport } from '../transport/transport';
import { buildDefinition, deadLetterPorts } from './definition';
import type { ParticipantOptions } from './options';

const debug = createDebug('noflo-runtime-msgflo:participant');

/** How a job ended. */
export interface JobOutcome {
  readonly role: string;
  readonly port: string;
  readonly outcome: 'ack' | 'nack';
  /** Why it failed, when it did. */
  readonly reason?: string;
}

/** Lifecycle notifications of a {@link Participant}. */
export interface ParticipantEvents {
  job: [JobOutcome];
  /** Something went wrong outside any job (a publish, a discovery message). */
  warning: [Error];
}

interface Job {
  readonly port: string;
  readonly delivery: Delivery;
  publishes: Array<Promise<void>> | undefined;
  network: GraphNetwork<Job> | undefined;
}

/** A running NoFlo graph on a broker. */
export class Participant extends EventEmitter<ParticipantEvents> {
  private readonly options: ParticipantOptions;
  private readonly transport: Transport;
  private loader: ComponentLoader | undefined;
  private source: GraphSource | undefined;
  private network: GraphNetwork<Job> | undefined;
  private currentDefinition: ParticipantDefinition | undefined;
  private readonly outQueues = new Map<string, string>();
  private readonly subscriptions: Subscription[] = [];
  private readonly inFlight = new Set<Job>();
  private discoveryTimer: NodeJS.Timeout | undefined;
  private drained: (() => void) | undefined;
  private readonly flowtrace: Flowtrace | undefined;
  private readonly sink: JobSink<Job> = {
    output: (port, data, job) => this.output(port, data, job),
    complete: (job, error) => this.complete(job, error),
  };

  constructor(options: ParticipantOptions, transport: Transport, deps: { loader?: ComponentLoader } = {}) {
    super();
    this.options = options;
    this.transport = transport;
    this.loader = deps.loader;
    if (options.trace) {
      this.flowtrace = new Flowtrace({ label: options.name, runtime: 'noflo-runtime-msgflo', type: 'noflo-nodejs' });
    }
  }

  /**
   * Write the Flowtrace recorded so far (with `trace` on) to `file` as JSON.
   * Throws when tracing is off.
   */
  async writeTrace(file: string): Promise<void> {
    if (!this.flowtrace) {
      throw new Error(`participant "${this.options.name}" does not trace: start it with --trace`);
    }
    await writeFile(file, JSON.stringify(this.flowtrace.toJSON(), null, 2));
  }

  /** The definition announced on discovery; set once started. */
  get definition(): ParticipantDefinition {
    if (!this.currentDefinition) {
      throw new Error(`participant "${this.options.name}" is not started`);
    }
    return this.currentDefinition;
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
    this.loader ??= await createComponentLoader(options.basedir, { cache: options.cache });
    this.source = await resolveGraph(options.graph, this.loader, options.basedir);
    const network = await this.startNetwork();
    const definition = buildDefinition(network, options);
    const deadLetters = deadLetterPorts(definition, options.deadletter);
    if (options.dedicatedNetwork) {
      // That one only told us the ports; each job gets a network of its own.
      await network.shutdown();
    } else {
      this.network = network;
    }
    this.currentDefinition = definition;

    await this.transport.connect();
    for (const port of definition.outports) {
      if (port.queue) {
        this.outQueues.set(port.id, port.queue);
        await this.transport.createQueue('outqueue', port.queue);
      }
    }
    for (const port of definition.inports) {
      if (port.queue) {
        await this.transport.createQueue('inqueue', port.queue);
      }
    }
    for (const port of deadLetters) {
      await this.transport.createQueue('inqueue', deadLetterQueueName(port.queue as string));
    }
    for (const port of definition.inports) {
      if (port.queue) {
        const id = port.id;
        this.subscriptions.push(await this.transport.subscribe(port.queue, (delivery) => this.receive(id, delivery), { prefetch: options.prefetch }));
      }
    }
    await this.announce();
    this.discoveryTimer = setInterval(() => {
      this.announce().catch((err: unknown) => this.warn(err));
    }, (options.discoveryPeriod * 1000) / 2.2);
    this.discoveryTimer.unref();
    debug('participant %s started', definition.id);
    return definition;
  }

  /**
   * Stop consuming, let in-flight jobs finish (up to `timeout` ms), stop the
   * graph and close the connection.
   */
  async stop(timeout = 30_000): Promise<void> {
    clearInterval(this.discoveryTimer);
    for (const subscription of this.subscriptions.splice(0)) {
      await subscription.cancel().catch((err: unknown) => debug('cancel failed: %s', errorMessage(err)));
    }
    if (this.inFlight.size > 0) {
      debug('waiting for %d jobs', this.inFlight.size);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeout);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await this.network?.shutdown();
    this.network = undefined;
    await this.transport.close();
  }

  private async startNetwork(): Promise<GraphNetwork<Job>> {
    const network = await GraphNetwork.start<Job>(this.source as GraphSource, {
      loader: this.loader as ComponentLoader,
      basedir: this.options.basedir,
      iips: this.options.iips,
      flowtrace: this.flowtrace,
    });
    network.attach(this.sink);
    return network;
  }

  private async announce(): Promise<void> {
    await this.transport.announce(discoveryMessage(this.definition));
  }

  private receive(port: string, delivery: Delivery): void {
    const job: Job = { port, delivery, publishes: undefined, network: undefined };
    this.inFlight.add(job);
    if (this.network) {
      this.network.run(port, delivery.data, job);
      return;
    }
    this.startNetwork().then(
      (network) => {
        job.network = network;
        network.run(port, delivery.data, job);
      },
      (err: unknown) => this.complete(job, `cannot start a network for the job: ${errorMessage(err)}`),
    );
  }

  private output(port: string, data: unknown, job: Job | undefined): void {
    const queue = this.outQueues.get(port);
    if (queue === undefined) {
      return; // Hidden port.
    }
    const published = this.transport.send('outqueue', queue, data);
    if (job) {
      (job.publishes ??= []).push(published);
    } else {
      published.catch((err: unknown) => this.warn(err));
    }
  }

  private complete(job: Job, error: string | undefined): void {
    if (job.network) {
      const network = job.network;
      job.network = undefined;
      network.shutdown().catch((err: unknown) => this.warn(err));
    }
    if (!job.publishes) {
      this.settle(job, error);
      return;
    }
    Promise.allSettled(job.publishes).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      this.settle(job, error ?? (failed ? `output not published: ${errorMessage(failed.reason)}` : undefined));
    });
  }

  private settle(job: Job, error: string | undefined): void {
    if (!this.inFlight.delete(job)) {
      return; // Already settled.
    }
    if (error === undefined) {
      job.delivery.ack();
      this.emit('job', { role: this.options.name, port: job.port, outcome: 'ack' });
    } else {
      debug('job on %s failed: %s', job.port, error);
      job.delivery.nack();
      this.emit('job', { role: this.options.name, port: job.port, outcome: 'nack', reason: error });
    }
    if (this.inFlight.size === 0) {
      this.drained?.();
    }
  }

  private warn(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    debug('warning: %s', error.message);
    if (this.listenerCount('warning') > 0) {
      this.emit('warning', error);
    }
  }
}
