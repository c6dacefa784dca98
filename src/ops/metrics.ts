/**
 * Prometheus metrics of the participants of a process: what each role's ports
 * received, how its jobs ended and how long they took, what it published,
 * and the counters of its broker connections.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobOutcome, Participant } from '../participant/participant';
import type { TransportStats } from '../transport/transport';

/** Seconds: jobs range from sub-millisecond to minutes. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Metric names, for documentation and tests. */
export const METRIC_NAMES = {
  received: 'msgflo_messages_received_total',
  acked: 'msgflo_jobs_acked_total',
  nacked: 'msgflo_jobs_nacked_total',
  deadLettered: 'msgflo_jobs_deadlettered_total',
  timedOut: 'msgflo_jobs_timed_out_total',
  duration: 'msgflo_job_duration_seconds',
  inFlight: 'msgflo_jobs_in_flight',
  published: 'msgflo_outputs_published_total',
  unroutable: 'msgflo_outputs_unroutable_total',
  reconnects: 'msgflo_broker_reconnects_total',
  announced: 'msgflo_discovery_messages_sent_total',
  consumersActive: 'msgflo_consumers_active',
  consumerRestarts: 'msgflo_consumer_restarts_total',
  deadLettersDropped: 'msgflo_deadletters_dropped_total',
  sessionTakeovers: 'msgflo_mqtt_session_takeovers_total',
} as const;

/** A registry fed by the participants it watches. */
export class ParticipantMetrics {
  /** Everything this process exposes on `/metrics`, default process metrics included. */
  readonly registry: Registry;
  private readonly participants = new Set<Participant>();
  /**
   * Counts by role and port, as plain numbers: read into the counters only
   * when scraped, so a job costs a few increments rather than a label hash
   * per counter.
   */
  private readonly inCounts = new Map<string, Map<string, InportCounts>>();
  private readonly outCounts = new Map<string, Map<string, { published: number }>>();
  private readonly duration: Histogram<'role' | 'port' | 'outcome'>;
  private readonly announced: Counter<'role'>;

  constructor(registry = new Registry()) {
    this.registry = registry;
    collectDefaultMetrics({ register: registry });
    const registers = [registry];
    const perPort = <K extends string>(name: string, help: string, counts: Map<string, Map<string, Record<K, number>>>, field: K): void => {
      new Counter({
        name,
        help,
        labelNames: ['role', 'port'],
        registers,
        collect() {
          this.reset();
          for (const [role, ports] of counts) {
            for (const [port, count] of ports) {
              this.inc({ role, port }, count[field]);
            }
          }
        },
      });
    };
    perPort(METRIC_NAMES.received, 'Messages received on an inport (each one a job)', this.inCounts, 'received');
    perPort(METRIC_NAMES.acked, 'Jobs completed and acknowledged', this.inCounts, 'acked');
    perPort(METRIC_NAMES.nacked, 'Jobs failed (error output, exception, timeout, unreadable message)', this.inCounts, 'nacked');
    perPort(METRIC_NAMES.deadLettered, 'Failed jobs whose message was kept in the dead-letter queue (--deadletter ports)', this.inCounts, 'deadLettered');
    perPort(METRIC_NAMES.timedOut, 'Jobs failed by --job-timeout', this.inCounts, 'timedOut');
    perPort(METRIC_NAMES.published, 'Outputs the broker confirmed, by outport', this.outCounts, 'published');
    this.duration = new Histogram({
      name: METRIC_NAMES.duration,
      help: 'Job duration from delivery to settlement, in seconds',
      labelNames: ['role', 'port', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.announced = new Counter({ name: METRIC_NAMES.announced, help: 'Discovery messages sent', labelNames: ['role'], registers });
    const participants = this.participants;
    new Gauge({
      name: METRIC_NAMES.inFlight,
      help: 'Jobs received and not yet settled',
      labelNames: ['role'],
      registers,
      collect() {
        this.reset();
        for (const participant of participants) {
          this.inc({ role: participant.role }, participant.jobsInFlight);
        }
      },
    });
    const connectionCounter = (name: string, help: string, field: keyof TransportStats): void => {
      new Counter({
        name,
        help,
        labelNames: ['broker'],
        registers,
        collect() {
          this.reset();
          for (const [broker, stats] of connections(participants)) {
            this.inc({ broker }, stats[field]);
          }
        },
      });
    };
    connectionCounter(METRIC_NAMES.unroutable, 'Outputs the broker could route to no queue (AMQP; MQTT cannot tell)', 'unroutable');
    connectionCounter(METRIC_NAMES.reconnects, 'Broker connections re-established after a loss', 'reconnects');
    connectionCounter(METRIC_NAMES.consumerRestarts, 'Consumers started again after the broker stopped delivering to them on a live connection (consumer cancelled, MQTT session lost)', 'consumerRestarts');
    connectionCounter(METRIC_NAMES.deadLettersDropped, 'Failed messages not kept: their dead-letter exchange had no queue bound (AMQP)', 'deadLettersDropped');
    connectionCounter(METRIC_NAMES.sessionTakeovers, 'MQTT connections closed by another client connecting with their client id (two processes with one --client-id)', 'sessionTakeovers');
    new Gauge({
      name: METRIC_NAMES.consumersActive,
      help: 'Whether an inport has a live consumer (1) or not (0: not connected, cancelled by the broker, not subscribed, paused)',
      labelNames: ['role', 'port'],
      registers,
      collect() {
        this.reset();
        for (const participant of participants) {
          for (const state of participant.inportStates()) {
            this.set({ role: participant.role, port: state.port }, state.active ? 1 : 0);
          }
        }
      },
    });
  }

  /** Count what `participant` does from now on; call before it starts. */
  watch(participant: Participant): void {
    this.participants.add(participant);
    participant.on('received', (port) => (this.inport(participant.role, port).received += 1));
    participant.on('published', (port) => (this.outport(participant.role, port).published += 1));
    participant.on('announced', () => this.announced.inc({ role: participant.role }));
    participant.on('job', (outcome) => this.job(participant, outcome));
  }

  /** Show zeros for every port of a started participant, so that rates and exact checks need no first event. */
  started(participant: Participant): void {
    const role = participant.role;
    const { inports, outports } = participant.definition;
    for (const port of inports.filter((p) => p.queue)) {
      this.inport(role, port.id);
    }
    for (const port of outports.filter((p) => p.queue)) {
      this.outport(role, port.id);
    }
    this.announced.inc({ role }, 0);
  }

  /** Stop counting for a participant that stopped (its counts stay). */
  forget(participant: Participant): void {
    this.participants.delete(participant);
  }

  /** The metrics in Prometheus text format. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  private job(participant: Participant, outcome: JobOutcome): void {
    const counts = this.inport(outcome.role, outcome.port);
    if (outcome.outcome === 'ack') {
      counts.acked += 1;
    } else {
      counts.nacked += 1;
      if (participant.keepsDeadLetters(outcome.port)) {
        counts.deadLettered += 1;
      }
      if (outcome.timedOut) {
        counts.timedOut += 1;
      }
    }
    this.duration.observe({ role: outcome.role, port: outcome.port, outcome: outcome.outcome }, outcome.duration / 1000);
  }

  private inport(role: string, port: string): InportCounts {
    return entry(this.inCounts, role, port, () => ({ received: 0, acked: 0, nacked: 0, deadLettered: 0, timedOut: 0 }));
  }

  private outport(role: string, port: string): { published: number } {
    return entry(this.outCounts, role, port, () => ({ published: 0 }));
  }
}

/** What happened to the messages of one inport of a role. */
interface InportCounts {
  received: number;
  acked: number;
  nacked: number;
  deadLettered: number;
  timedOut: number;
}

/** The counts of `role`'s `port` in `counts`, made by `create` the first time. */
function entry<C>(counts: Map<string, Map<string, C>>, role: string, port: string, create: () => C): C {
  let ports = counts.get(role);
  if (!ports) {
    ports = new Map();
    counts.set(role, ports);
  }
  let count = ports.get(port);
  if (!count) {
    count = create();
    ports.set(port, count);
  }
  return count;
}

/** The connections of `participants` (shared ones once), by broker URL. */
function connections(participants: Iterable<Participant>): Map<string, TransportStats> {
  const seen = new Set<Readonly<TransportStats>>();
  const sums = new Map<string, TransportStats>();
  for (const participant of participants) {
    const stats = participant.stats;
    if (seen.has(stats)) {
      continue;
    }
    seen.add(stats);
    const sum = sums.get(participant.brokerUrl) ?? { unroutable: 0, reconnects: 0, consumerRestarts: 0, deadLettersDropped: 0, sessionTakeovers: 0 };
    sum.unroutable += stats.unroutable;
    sum.reconnects += stats.reconnects;
    sum.consumerRestarts += stats.consumerRestarts;
    sum.deadLettersDropped += stats.deadLettersDropped;
    sum.sessionTakeovers += stats.sessionTakeovers;
    sums.set(participant.brokerUrl, sum);
  }
  return sums;
}
