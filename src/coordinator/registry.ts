/**
 * The participants a coordinator knows, fed by discovery messages: added,
 * updated, and removed when not heard from within the timeout. Malformed
 * messages are reported and ignored.
 */
import { EventEmitter } from 'node:events';
import type { ParticipantDefinition } from '../protocol/definition';
import { parseDiscovery } from '../protocol/discovery';

/** Notifications of a {@link ParticipantRegistry}. */
export interface RegistryEvents {
  added: [ParticipantDefinition];
  updated: [ParticipantDefinition];
  removed: [ParticipantDefinition];
  /** A message on `fbp` that is not a valid discovery message, and why. */
  invalid: [reason: string];
}

interface Known {
  definition: ParticipantDefinition;
  lastSeen: number;
}

/** Participants by id, as discovery reports them. */
export class ParticipantRegistry extends EventEmitter<RegistryEvents> {
  private readonly known = new Map<string, Known>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param timeoutMs - forget a participant not heard from for this long;
   *   participants announce themselves every period / 2.2, so the default,
   *   one discovery period (60 s), tolerates one lost announcement
   */
  constructor(
    readonly timeoutMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /** Take a decoded message from the `fbp` queue. */
  handle(message: unknown): void {
    const parsed = parseDiscovery(message);
    if (!parsed.ok) {
      this.emit('invalid', parsed.reason);
      return;
    }
    const { definition } = parsed;
    const known = this.known.get(definition.id);
    this.known.set(definition.id, { definition, lastSeen: this.now() });
    if (!known) {
      this.emit('added', definition);
    } else if (JSON.stringify(known.definition) !== JSON.stringify(definition)) {
      this.emit('updated', definition);
    }
  }

  /** Forget participants not heard from within the timeout. */
  expire(): void {
    const limit = this.now() - this.timeoutMs;
    for (const [id, known] of this.known) {
      if (known.lastSeen < limit) {
        this.known.delete(id);
        this.emit('removed', known.definition);
      }
    }
  }

  /** Forget a participant known to be gone (stopped by us), at once. */
  forget(id: string): void {
    const known = this.known.get(id);
    if (known) {
      this.known.delete(id);
      this.emit('removed', known.definition);
    }
  }

  /** Check for expired participants periodically, until {@link ParticipantRegistry.stop}. */
  start(): void {
    this.timer ??= setInterval(() => this.expire(), Math.max(100, this.timeoutMs / 4));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Every participant known. */
  list(): ParticipantDefinition[] {
    return [...this.known.values()].map((k) => k.definition);
  }

  /** One participant of a role (the most recently heard from), if any. */
  byRole(role: string): ParticipantDefinition | undefined {
    let found: Known | undefined;
    for (const known of this.known.values()) {
      if (known.definition.role === role && (!found || known.lastSeen > found.lastSeen)) {
        found = known;
      }
    }
    return found?.definition;
  }
}
