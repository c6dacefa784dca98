/**
 * The participants a coordinator knows, fed by discovery messages: added,
 * updated, and removed when not heard from within the timeout, or at once
 * when they say they leave. Malformed messages are reported and ignored.
 *
 * Live participants only: messages wait in the `fbp` queue while no
 * coordinator reads it, and a coordinator that starts gets them all. An
 * announcement read in the first timeout after the registry starts, that
 * says when it was sent, counts from then, not from when it was read, so a
 * participant gone meanwhile is forgotten when it would have been had the
 * coordinator been running. (Later ones count from when they are read, so
 * clocks set a little apart do not make participants come and go.) One
 * already older than the timeout is ignored ({@link RegistryEvents.stale});
 * one of a participant that has left is ignored. A coordinator also asks
 * the participants to announce themselves when it starts, and forgets those
 * of ours that do not ({@link ParticipantRegistry.prune}).
 */
import { EventEmitter } from 'node:events';
import type { ParticipantDefinition } from '../protocol/definition';
import { parseFbpMessage } from '../protocol/discovery';

/** Notifications of a {@link ParticipantRegistry}. */
export interface RegistryEvents {
  added: [ParticipantDefinition];
  updated: [ParticipantDefinition];
  removed: [ParticipantDefinition];
  /** A message on `fbp` that is not a valid discovery message, and why. */
  invalid: [reason: string];
  /**
   * An announcement ignored because it was sent longer than the timeout ago
   * (by this machine's clock): a participant gone since, or clocks set apart.
   */
  stale: [definition: ParticipantDefinition, ageMs: number];
}

interface Known {
  definition: ParticipantDefinition;
  lastSeen: number;
  /** When its latest announcement says it was sent (ours say; others' do not). */
  sent: number | undefined;
}

/** Participants by id, as discovery reports them. */
export class ParticipantRegistry extends EventEmitter<RegistryEvents> {
  private readonly known = new Map<string, Known>();
  /** Participants that said they leave, and when: their older announcements, still queued, are ignored. */
  private readonly left = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Since when messages are read: until a timeout later, queued ones may be old. */
  private startedAt: number;

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
    this.startedAt = now();
  }

  /** Take a decoded message from the `fbp` queue. */
  handle(message: unknown): void {
    const parsed = parseFbpMessage(message);
    const now = this.now();
    switch (parsed.kind) {
      case 'invalid':
        this.emit('invalid', parsed.reason);
        return;
      case 'leave':
        this.left.set(parsed.id, Math.min(now, parsed.time ?? now));
        this.forget(parsed.id);
        return;
      case 'participant': {
        const sent = Math.min(now, parsed.time ?? now);
        const leftAt = this.left.get(parsed.definition.id);
        if (leftAt !== undefined && (parsed.time === undefined || parsed.time <= leftAt)) {
          return;
        }
        if (now - sent > this.timeoutMs) {
          this.emit('stale', parsed.definition, now - sent);
          return;
        }
        this.learn(parsed.definition, now - this.startedAt < this.timeoutMs ? sent : now, parsed.time);
      }
    }
  }

  /**
   * Know `definition` as last heard from at `lastSeen` (ms since the epoch;
   * an older time than the one known is kept as is).
   */
  learn(definition: ParticipantDefinition, lastSeen: number, sent?: number): void {
    const known = this.known.get(definition.id);
    this.known.set(definition.id, { definition, lastSeen: Math.max(lastSeen, known?.lastSeen ?? -Infinity), sent: sent === undefined ? known?.sent : Math.max(sent, known?.sent ?? -Infinity) });
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
    for (const [id, at] of this.left) {
      if (at < limit) {
        this.left.delete(id);
      }
    }
  }

  /**
   * Forget the participants whose latest announcement says it was sent
   * before `time` (ms since the epoch): asked at `time` to announce
   * themselves, ours answer at once, so one that did not is gone.
   * Participants whose announcements say no time (other MsgFlo programs)
   * are kept.
   */
  prune(time: number): void {
    for (const [id, known] of this.known) {
      if (known.sent !== undefined && known.sent < time) {
        this.forget(id);
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
    if (!this.timer) {
      this.startedAt = this.now();
    }
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

  /** Every participant known, with when it was last heard from (ms since the epoch). */
  entries(): Array<{ definition: ParticipantDefinition; lastSeen: number }> {
    return [...this.known.values()].map((k) => ({ definition: k.definition, lastSeen: k.lastSeen }));
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
