/**
 * A live picture of a coordinated system: the roles discovered with their
 * ports, the bindings between them, the dead-letter queues, and counts that
 * move. Where each count comes from:
 * - edge rates: a private tap on each bound source outqueue (both brokers);
 * - failed jobs per role: a tap on each inqueue's dead-letter exchange or
 *   topic `dead-<queue>`, where every failed message is published (both);
 * - dead-lettered (kept) and queue backlog: queue depths, asked of the
 *   transport ({@link Transport.queueDepth}: AMQP and `memory://`; MQTT has
 *   no queues to ask about);
 * - jobs in flight: each participant's own `/metrics`, when it announces one
 *   (participants run with `--http-port`).
 * Taps count from when the view started, not since the participants did.
 */
import createDebug from 'debug';
import { EventEmitter } from 'node:events';
import type { Coordinator } from '../coordinator/coordinator';
import { errorMessage } from '../errors';
import { bindingKey, roleEdges } from '../protocol/bindings';
import { deadLetterQueueName, type ParticipantDefinition } from '../protocol/definition';
import { isUnavailable, type QueueDepth, type Subscription, type Transport } from '../transport/transport';
import { queueDepths } from './queue-depths';

const debug = createDebug('noflo-runtime-msgflo:ops:view');

/** Rates are averaged over this many ticks. */
const RATE_WINDOW_TICKS = 5;
const SCRAPE_TIMEOUT_MS = 800;

/** A port of a role, with its queue's depth where the broker tells. */
export interface PortView {
  readonly id: string;
  readonly queue: string;
  /** Messages waiting (AMQP inqueues); null when unknown. */
  readonly depth: number | null;
}

/** A role: its participants, ports and counts. */
export interface RoleView {
  readonly role: string;
  readonly component: string;
  /** Whether the role is a node of the system graph: a participant discovered on the broker may play a role the graph does not have. */
  readonly inGraph: boolean;
  readonly participants: readonly string[];
  readonly inports: readonly PortView[];
  readonly outports: readonly PortView[];
  /** Jobs in flight, from the participants' metrics; null when none serves metrics. */
  readonly inFlight: number | null;
  /** Failed messages seen on its dead-letter exchanges/topics since the view started. */
  readonly failed: number;
  /** Whether all its dead-letter exchanges/topics are tapped yet: until then, failures are not all counted. */
  readonly counting: boolean;
  /** Messages kept in its dead-letter queues (AMQP); null when unknown. */
  readonly deadLettered: number | null;
}

/** A binding between two roles' ports. */
export interface EdgeView {
  readonly id: string;
  readonly type: 'pubsub' | 'roundrobin';
  readonly src: { readonly role: string; readonly port: string; readonly queue: string };
  readonly tgt: { readonly role: string; readonly port: string; readonly queue: string };
  /** Messages per second on the source queue, over the last few seconds. */
  readonly rate: number;
  /** Messages seen on it since the view started. */
  readonly total: number;
  /** Whether its source queue is tapped yet: until then, messages on it are not counted. */
  readonly counting: boolean;
}

/**
 * A connection the system graph asks for to or from a role not discovered
 * yet: not bound, drawn to that role's "not discovered" node, so that what
 * is missing shows where it belongs.
 */
export interface PendingEdgeView {
  /** `type src.role.port tgt.role.port`: stable while the graph stays. */
  readonly id: string;
  readonly type: 'pubsub' | 'roundrobin';
  readonly src: { readonly role: string; readonly port: string };
  readonly tgt: { readonly role: string; readonly port: string };
}

/** A dead-letter queue (or topic) of an inport. */
export interface DeadLetterView {
  readonly queue: string;
  readonly role: string;
  readonly port: string;
  /** Messages kept (AMQP); null when unknown. */
  readonly depth: number | null;
  readonly failed: number;
}

/** Everything the page draws. */
export interface SystemSnapshot {
  readonly broker: string;
  readonly protocol: string;
  /** Changes when roles, ports, edges or dead-letter queues do: the page lays out again. */
  readonly shape: string;
  readonly roles: readonly RoleView[];
  readonly edges: readonly EdgeView[];
  readonly deadLetters: readonly DeadLetterView[];
  /** Roles of the system graph not discovered yet. */
  readonly missing: readonly string[];
  /** The graph's connections to or from those roles, not bound until they are. */
  readonly pending: readonly PendingEdgeView[];
  readonly time: string;
}

interface Tap {
  readonly subscription: Promise<Subscription | undefined>;
  /** Set once the tap is in place: from then on, every message on the queue is counted. */
  live: boolean;
  count: number;
  history: number[];
}

/** Notifications of a {@link SystemView}. */
export interface SystemViewEvents {
  update: [SystemSnapshot];
}

/** Follows a coordinator and its broker, and tells what it sees every tick. */
export class SystemView extends EventEmitter<SystemViewEvents> {
  private readonly taps = new Map<string, Tap>();
  private depths = new Map<string, QueueDepth | undefined>();
  private inFlight = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private current: SystemSnapshot;
  private ticking = false;
  /** Whether the transport tells queue depths: until it answers that it cannot (MQTT), it is asked every tick. */
  private depthsAvailable = true;

  /**
   * @param transport - the coordinator's: tapped for rates and failures, and asked for queue depths
   * @param intervalMs - how often the picture is made again, in ms
   */
  constructor(
    private readonly coordinator: Coordinator,
    private readonly transport: Transport,
    private readonly intervalMs = 1000,
  ) {
    super();
    this.current = this.build();
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const taps = [...this.taps.values()];
    this.taps.clear();
    for (const tap of taps) {
      const subscription = await tap.subscription;
      await subscription?.cancel().catch((err: unknown) => debug('cancel: %s', errorMessage(err)));
      await subscription?.close().catch((err: unknown) => debug('close: %s', errorMessage(err)));
    }
  }

  /** The latest picture. */
  snapshot(): SystemSnapshot {
    return this.current;
  }

  private async tick(): Promise<void> {
    if (this.ticking) {
      return; // A slow broker or participant: skip a beat rather than pile up.
    }
    this.ticking = true;
    try {
      this.updateTaps();
      for (const tap of this.taps.values()) {
        tap.history.push(tap.count);
        if (tap.history.length > RATE_WINDOW_TICKS + 1) {
          tap.history.shift();
        }
      }
      const definitions = this.coordinator.registry.list();
      if (this.depthsAvailable) {
        await this.readDepths(definitions);
      }
      this.inFlight = await scrapeInFlight(definitions);
      this.current = this.build();
      this.emit('update', this.current);
    } finally {
      this.ticking = false;
    }
  }

  /** The depths of every inqueue and its dead-letter queue; none when the broker cannot tell. */
  private async readDepths(definitions: readonly ParticipantDefinition[]): Promise<void> {
    const queues = definitions.flatMap((d) => d.inports.flatMap((p) => (p.queue ? [p.queue, deadLetterQueueName(p.queue)] : [])));
    try {
      const depths = await queueDepths(this.transport, new Set(queues));
      if (isUnavailable(depths)) {
        this.depthsAvailable = false;
        debug('queue depths not available: %s', depths.reason);
        this.depths = new Map();
      } else {
        this.depths = depths;
      }
    } catch (err) {
      // Disconnected, or a slow broker: no depths this tick, asked again the next.
      debug('queue depths: %s', errorMessage(err));
      this.depths = new Map();
    }
  }

  /** Tap what is new: bound source outqueues and every inqueue's dead letters. */
  private updateTaps(): void {
    const wanted = new Set<string>();
    for (const binding of this.coordinator.bindings()) {
      wanted.add(binding.src);
    }
    for (const definition of this.coordinator.registry.list()) {
      for (const port of definition.inports) {
        if (port.queue) {
          wanted.add(deadLetterQueueName(port.queue));
        }
      }
    }
    for (const queue of wanted) {
      if (!this.taps.has(queue)) {
        const tap: Tap = { live: false, count: 0, history: [], subscription: Promise.resolve(undefined) };
        Object.assign(tap, {
          subscription: this.coordinator.tap(queue, () => (tap.count += 1)).then(
            (subscription) => {
              tap.live = true;
              return subscription;
            },
            (err: unknown) => {
              debug('cannot tap %s: %s', queue, errorMessage(err));
              this.taps.delete(queue); // Tried again next tick.
              return undefined;
            },
          ),
        });
        this.taps.set(queue, tap);
      }
    }
  }

  private rate(queue: string): number {
    const history = this.taps.get(queue)?.history ?? [];
    if (history.length < 2) {
      return 0;
    }
    const first = history[0] as number;
    const last = history[history.length - 1] as number;
    return (last - first) / (((history.length - 1) * this.intervalMs) / 1000);
  }

  private build(): SystemSnapshot {
    const definitions = this.coordinator.registry.list();
    const byRole = new Map<string, ParticipantDefinition[]>();
    for (const definition of definitions) {
      byRole.set(definition.role, [...(byRole.get(definition.role) ?? []), definition]);
    }
    const depthOf = (queue: string): number | null => this.depths.get(queue)?.messages ?? null;
    const failedOf = (queue: string): number => this.taps.get(deadLetterQueueName(queue))?.count ?? 0;
    const live = (queue: string): boolean => this.taps.get(queue)?.live ?? false;
    const portOwner = new Map<string, { role: string; port: string }>();
    const roles: RoleView[] = [];
    const deadLetters: DeadLetterView[] = [];
    const graphRoles = new Set(this.coordinator.roles());
    for (const [role, members] of [...byRole].sort(([a], [b]) => a.localeCompare(b))) {
      const first = members[0] as ParticipantDefinition;
      const inports = first.inports.filter((p) => p.queue).map((p) => ({ id: p.id, queue: p.queue as string, depth: depthOf(p.queue as string) }));
      const outports = first.outports.filter((p) => p.queue).map((p) => ({ id: p.id, queue: p.queue as string, depth: null }));
      for (const port of [...inports, ...outports]) {
        portOwner.set(port.queue, { role, port: port.id });
      }
      let kept: number | null = null;
      for (const port of inports) {
        const dead = deadLetterQueueName(port.queue);
        const depth = this.depths.get(dead);
        const failed = failedOf(port.queue);
        if (depth || failed > 0) {
          deadLetters.push({ queue: dead, role, port: port.id, depth: depth?.messages ?? null, failed });
        }
        if (depth) {
          kept = (kept ?? 0) + depth.messages;
        }
      }
      roles.push({
        role,
        component: first.component,
        inGraph: graphRoles.has(role),
        participants: members.map((m) => m.id).sort(),
        inports,
        outports,
        inFlight: this.inFlight.get(role) ?? null,
        failed: inports.reduce((sum, p) => sum + failedOf(p.queue), 0),
        counting: inports.every((p) => live(deadLetterQueueName(p.queue))),
        deadLettered: kept,
      });
    }
    const edges: EdgeView[] = [];
    for (const binding of this.coordinator.bindings()) {
      const src = portOwner.get(binding.src);
      const tgt = portOwner.get(binding.tgt);
      if (src && tgt) {
        edges.push({
          id: bindingKey(binding),
          type: binding.type,
          src: { ...src, queue: binding.src },
          tgt: { ...tgt, queue: binding.tgt },
          rate: Math.round(this.rate(binding.src) * 100) / 100,
          total: this.taps.get(binding.src)?.count ?? 0,
          counting: live(binding.src),
        });
      }
    }
    const missing = this.coordinator.missingRoles();
    const pending = pendingEdges(this.coordinator, new Set(missing));
    const shape = JSON.stringify([
      roles.map((r) => [r.role, r.inGraph, r.inports.map((p) => p.id), r.outports.map((p) => p.id)]),
      edges.map((e) => e.id).sort(),
      deadLetters.map((d) => d.queue),
      missing,
      pending.map((e) => e.id),
    ]);
    return {
      broker: this.transport.displayUrl,
      protocol: this.transport.protocol,
      shape,
      roles,
      edges,
      deadLetters,
      missing,
      pending,
      time: new Date().toISOString(),
    };
  }
}

/** The system graph's connections to or from a role in `missing`, once each. */
function pendingEdges(coordinator: Coordinator, missing: ReadonlySet<string>): PendingEdgeView[] {
  const byId = new Map<string, PendingEdgeView>();
  for (const edge of roleEdges(coordinator.systemGraph())) {
    if (missing.has(edge.src.role) || missing.has(edge.tgt.role)) {
      const id = `${edge.type} ${edge.src.role}.${edge.src.port} ${edge.tgt.role}.${edge.tgt.port}`;
      byId.set(id, { id, ...edge });
    }
  }
  return [...byId.values()];
}

/**
 * Jobs in flight by role, from the metrics addresses the participants
 * announce; each address is read once, as a process hosting many
 * participants serves them all on one.
 */
async function scrapeInFlight(definitions: readonly ParticipantDefinition[]): Promise<Map<string, number>> {
  const urls = new Set<string>();
  for (const definition of definitions) {
    const url = (definition as ParticipantDefinition & { metrics?: unknown }).metrics;
    // Only plain HTTP metrics addresses: a discovery message must not make us fetch anything else.
    if (typeof url === 'string' && /^http:\/\/[^/?#]+\/metrics$/.test(url)) {
      urls.add(url);
    }
  }
  const result = new Map<string, number>();
  await Promise.all(
    [...urls].map(async (url) => {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
        for (const match of (await response.text()).matchAll(/^msgflo_jobs_in_flight\{role="((?:[^"\\]|\\.)*)"\} (\S+)$/gm)) {
          const role = match[1] as string;
          result.set(role, (result.get(role) ?? 0) + Number(match[2]));
        }
      } catch (err) {
        debug('no metrics from %s: %s', url, errorMessage(err));
      }
    }),
  );
  return result;
}
