/**
 * Many participants in one process. Each is an independent node of the
 * system, with its own role, graph, queues, prefetch and dead-lettering, and
 * every message still passes through the broker. What is safe to share is
 * shared: one connection per broker URL (each participant consumes on
 * channels of its own, so prefetch and delivery tags stay its own), one
 * component loader per project directory, one discovery timer.
 */
import createDebug from 'debug';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { InvalidOptionError, MsgfloError, ErrorCode, errorMessage } from '../errors';
import type { ParticipantDefinition } from '../protocol/definition';
import { readTls } from '../participant/connection';
import { normalizeOptions, type ParticipantInput, type ParticipantOptions } from '../participant/options';
import { Participant, type JobOutcome } from '../participant/participant';
import { createComponentLoader, type ComponentLoader } from '../runtime/graph-source';
import { createTransport } from '../transport';
import type { TransportOptions } from '../transport/options';
import type { WaitingNotice } from '../transport/waiting';
import { TransportPool } from './pool';

const debug = createDebug('noflo-runtime-msgflo:host');

/** A participant that could not start, by name. */
export class ParticipantStartError extends MsgfloError {
  /** The role that failed. */
  readonly role: string;

  constructor(role: string, graph: string, cause: unknown) {
    super(cause instanceof MsgfloError ? cause.code : ErrorCode.GraphLoad, `participant "${role}" (${graph}): ${errorMessage(cause)}`, { cause });
    this.role = role;
  }
}

/** Notifications of a {@link Host}, each naming the participant's role. */
export interface HostEvents {
  /** A participant was made and is about to start: listen to its own events here. */
  added: [Participant];
  /** A participant started. */
  started: [Participant];
  job: [JobOutcome];
  warning: [role: string, error: Error];
  /** Listing project `basedir` (once, for all its participants) left something out: a malformed graph file. */
  projectWarning: [basedir: string, error: Error];
  /** At start, a broker connection shared by participants cannot be made yet and is being tried again (see the transport's `waiting`). */
  waiting: [notice: WaitingNotice];
  disconnected: [role: string, error: Error];
  reconnected: [role: string];
  /** An inport whose consumer the broker had dropped consumes again. */
  consumerRestored: [role: string, port: string];
}

/** A process's participants. */
export class Host extends EventEmitter<HostEvents> {
  // Said once per shared connection, not once per participant on it.
  private readonly pool = new TransportPool((url, options) => {
    const transport = createTransport(url, options);
    transport.on('waiting', (notice) => this.emit('waiting', notice));
    return transport;
  });
  private readonly loaders = new Map<string, Promise<ComponentLoader>>();
  private readonly running = new Map<string, { participant: Participant; options: ParticipantOptions }>();
  private timer: NodeJS.Timeout | undefined;
  private timerPeriod = Infinity;
  private discoveryFields: Readonly<Record<string, string>> = {};

  /**
   * @param defaults - options every participant gets unless it says otherwise
   *   (broker, basedir, TLS files, ...)
   */
  constructor(
    private readonly defaults: Partial<ParticipantInput> = {},
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    super();
  }

  /** Fields added to the discovery definition of every participant started from now on. */
  announceWith(fields: Readonly<Record<string, string>>): void {
    this.discoveryFields = fields;
  }

  /** Start a participant; throws {@link ParticipantStartError} naming it when it cannot start. */
  async add(input: ParticipantInput): Promise<Participant> {
    const merged = { ...this.defaults, ...input };
    const sameRole = [...this.running.values()].filter(({ options }) => options.name === merged.name).length;
    if (sameRole > 0 && !input.clientId) {
      // MQTT sessions are per client id: a second participant of a role needs
      // its own, and the same one after a restart (same order, same id).
      merged.clientId = `msgflo-${merged.name}-${sameRole + 1}`;
    }
    let options: ParticipantOptions;
    try {
      options = normalizeOptions(merged, this.env);
      if (!options.broker) {
        throw new InvalidOptionError('no broker: give a broker URL (amqp://, mqtt://) or set MSGFLO_BROKER');
      }
    } catch (err) {
      throw new ParticipantStartError(merged.name || '(no name)', merged.graph || '(no graph)', err);
    }
    const participant = new Participant(options, this.pool.lease(options.broker as string, this.transportOptions(options)), {
      loader: await this.loader(options),
      discoveryTimer: false,
      discoveryFields: this.discoveryFields,
    });
    this.emit('added', participant);
    const role = options.name;
    participant.on('job', (outcome) => this.emit('job', outcome));
    participant.on('warning', (err) => this.emit('warning', role, err));
    participant.on('disconnected', (err) => this.emit('disconnected', role, err));
    participant.on('reconnected', () => this.emit('reconnected', role));
    participant.on('consumerRestored', (port) => this.emit('consumerRestored', role, port));
    try {
      await participant.start();
    } catch (err) {
      await participant.stop(0).catch((stopErr: unknown) => debug('cleanup of %s: %s', role, errorMessage(stopErr)));
      throw new ParticipantStartError(role, options.graph, err);
    }
    this.running.set(participant.definition.id, { participant, options });
    this.emit('started', participant);
    this.schedule(options.discoveryPeriod);
    debug('hosting %s', participant.definition.id);
    return participant;
  }

  /**
   * Stop a participant, by id or by role (every participant of that role):
   * it stops consuming, finishes its jobs and is no longer announced.
   * Resolves with how many were removed.
   */
  async remove(idOrRole: string): Promise<number> {
    const matches = [...this.running].filter(([id, { options }]) => id === idOrRole || options.name === idOrRole);
    for (const [id] of matches) {
      this.running.delete(id);
    }
    await Promise.all(matches.map(([, { participant }]) => participant.stop()));
    return matches.length;
  }

  /** The definitions of the participants running. */
  list(): ParticipantDefinition[] {
    return [...this.running.values()].map(({ participant }) => participant.definition);
  }

  /** The participants running. */
  get participants(): Participant[] {
    return [...this.running.values()].map(({ participant }) => participant);
  }

  /** Stop every participant, each finishing its jobs first. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map(({ participant }) => participant.stop()));
  }

  private transportOptions(options: ParticipantOptions): TransportOptions {
    const result: TransportOptions = { connectTimeoutMs: options.connectTimeout };
    if (options.mqttQos === 0) {
      result.mqttQos = 0;
    }
    const tls = readTls(options.tls);
    if (tls) {
      result.tls = tls;
    }
    return result;
  }

  /**
   * Have the participants of project `basedir` (with `cache` as given) use
   * `loader`, one made already (to plan a system graph, say), rather than
   * list the project again (and say its warnings twice).
   */
  shareLoader(basedir: string, cache: boolean, loader: ComponentLoader): void {
    this.loaders.set(`${path.resolve(basedir)}\n${cache}`, Promise.resolve(loader));
  }

  private loader(options: ParticipantOptions): Promise<ComponentLoader> {
    const key = `${options.basedir}\n${options.cache}`;
    let loader = this.loaders.get(key);
    if (!loader) {
      const onWarning = (message: string): void => {
        this.emit('projectWarning', options.basedir, new Error(message));
      };
      loader = createComponentLoader(options.basedir, { cache: options.cache, onWarning });
      loader.catch(() => this.loaders.delete(key));
      this.loaders.set(key, loader);
    }
    return loader;
  }

  /** One timer announces everyone, as often as the shortest discovery period asks. */
  private schedule(period: number): void {
    if (period >= this.timerPeriod) {
      return;
    }
    clearInterval(this.timer);
    this.timerPeriod = period;
    this.timer = setInterval(() => {
      for (const { participant, options } of this.running.values()) {
        participant.announce().catch((err: unknown) => this.emit('warning', options.name, err instanceof Error ? err : new Error(String(err))));
      }
    }, (period * 1000) / 2.2);
    this.timer.unref();
  }
}
