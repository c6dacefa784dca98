/**
 * When a system graph's IIPs go out: the bookkeeping behind the coordinator's
 * two rules, with no I/O.
 *
 * - At a system start, each IIP is sent once, as soon as its role is ready
 *   (the coordinator decides what ready means: discovered, and bound to
 *   everything downstream).
 * - After that, a participant of the role that starts later (a restart, a
 *   new replica) is owed the role's IIPs once more. It started later when its
 *   definition's `started` is later than the time the role's IIPs were sent
 *   at the system start; a definition without `started` counts as started
 *   later when the participant is first heard of after that time. Replayed
 *   announcements of participants that kept running (a coordinator restart)
 *   carry their old `started`, and so owe nothing.
 */
import type { ParticipantDefinition } from '../protocol/definition';

/** An initial packet of a system graph, for an inport of a role. */
export interface Iip {
  /** The role (node) it is for. */
  readonly process: string;
  readonly port: string;
  readonly data: unknown;
}

/** One IIP of the system, and whether it went out at this system start. */
export interface ArmedIip {
  readonly iip: Iip;
  sent: boolean;
}

/** IIPs of one role to send now. */
export interface IipBatch {
  readonly role: string;
  readonly iips: readonly ArmedIip[];
  /** The participant whose start makes them go again; absent for the sending at the system start. */
  readonly participant?: ParticipantDefinition;
}

interface Owed {
  readonly participant: ParticipantDefinition;
  /** The IIPs still to send again for it. */
  readonly left: Set<ArmedIip>;
}

interface RoleState {
  /** When the role's IIPs were first sent at this system start. */
  readonly sentAt: number;
  /** Participants already accounted for (by id and start time). */
  readonly heard: Set<string>;
  readonly owed: Map<string, Owed>;
}

/** A participant as the resend rule tells them apart: a restart under the same id is another start. */
function startKey(definition: ParticipantDefinition): string {
  return `${definition.id}@${validStart(definition) ?? ''}`;
}

/** `started` when it is a usable time; other programs may send anything there. */
function validStart(definition: ParticipantDefinition): number | undefined {
  const started: unknown = definition.started;
  return typeof started === 'number' && Number.isFinite(started) ? started : undefined;
}

/** The IIPs of a system, and which of them are due for which role. */
export class InitialPackets {
  private armed: ArmedIip[] = [];
  private readonly roles = new Map<string, RoleState>();
  private known: readonly ParticipantDefinition[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Take the system's IIPs. `fresh` (a system start) sends every one of them
   * again; otherwise the list is compared with the one held, so IIPs kept
   * keep their state, new ones are sent once, and removed ones are not sent
   * (nor sent again) any more.
   */
  set(iips: readonly Iip[], fresh: boolean): void {
    if (fresh) {
      this.armed = iips.map((iip) => ({ iip, sent: false }));
      this.roles.clear();
      return;
    }
    const old = [...this.armed];
    this.armed = iips.map((iip) => {
      const index = old.findIndex((armed) => sameIip(armed.iip, iip));
      return index >= 0 ? (old.splice(index, 1)[0] as ArmedIip) : { iip, sent: false };
    });
    for (const state of this.roles.values()) {
      for (const [key, owed] of state.owed) {
        for (const removed of old) {
          owed.left.delete(removed);
        }
        if (owed.left.size === 0) {
          state.owed.delete(key);
        }
      }
    }
  }

  /** The IIPs held, in order. */
  list(): readonly ArmedIip[] {
    return this.armed;
  }

  /** How many IIPs wait to be sent (for the first time at this system start, or again). */
  pending(): number {
    let count = this.armed.filter((armed) => !armed.sent).length;
    for (const state of this.roles.values()) {
      for (const owed of state.owed.values()) {
        count += owed.left.size;
      }
    }
    return count;
  }

  /**
   * Take note of the participants known now (those that started after their
   * role's IIPs went out are owed them again), and return what is due for
   * the roles that are ready.
   */
  due(participants: readonly ParticipantDefinition[], ready: (role: string) => boolean): IipBatch[] {
    this.known = participants;
    for (const participant of participants) {
      const state = this.roles.get(participant.role);
      const key = startKey(participant);
      if (!state || state.heard.has(key)) {
        continue;
      }
      state.heard.add(key);
      const started = validStart(participant);
      if (started === undefined || started > state.sentAt) {
        const left = new Set(this.armed.filter((armed) => armed.sent && armed.iip.process === participant.role));
        if (left.size > 0) {
          state.owed.set(key, { participant, left });
        }
      }
    }
    const batches: IipBatch[] = [];
    const roles = new Set([...this.armed.filter((armed) => !armed.sent).map((armed) => armed.iip.process), ...[...this.roles].filter(([, state]) => state.owed.size > 0).map(([role]) => role)]);
    for (const role of roles) {
      if (!ready(role)) {
        continue;
      }
      const unsent = this.armed.filter((armed) => !armed.sent && armed.iip.process === role);
      if (unsent.length > 0) {
        batches.push({ role, iips: unsent });
      }
      for (const owed of this.roles.get(role)?.owed.values() ?? []) {
        batches.push({ role, iips: [...owed.left], participant: owed.participant });
      }
    }
    return batches;
  }

  /** One IIP of a batch went out. */
  delivered(batch: IipBatch, armed: ArmedIip): void {
    if (!batch.participant) {
      armed.sent = true;
      if (!this.roles.has(batch.role)) {
        // Whoever is known now was there when they went: owed nothing.
        const heard = new Set(this.known.filter((participant) => participant.role === batch.role).map(startKey));
        this.roles.set(batch.role, { sentAt: this.now(), heard, owed: new Map() });
      }
      return;
    }
    const state = this.roles.get(batch.role);
    const key = startKey(batch.participant);
    const owed = state?.owed.get(key);
    owed?.left.delete(armed);
    if (owed && owed.left.size === 0) {
      state?.owed.delete(key);
    }
  }
}

function sameIip(a: Iip, b: Iip): boolean {
  return a.process === b.process && a.port === b.port && JSON.stringify(a.data) === JSON.stringify(b.data);
}

/** IIPs of a role that went out, for the coordinator's `iips` event. */
export interface IipDelivery {
  readonly role: string;
  readonly sent: ReadonlyArray<{ readonly port: string; readonly queue: string; readonly data: unknown }>;
  /** The participant they were sent again for (it started after they first went out); absent at the system start. */
  readonly participant?: ParticipantDefinition;
}

/** A line for the log: `sent 1 IIP to a.IN`, or why a role's IIPs were sent again. */
export function describeIipDelivery(delivery: IipDelivery): string {
  const { participant } = delivery;
  if (participant) {
    const why = validStart(participant) === undefined ? `participant ${participant.id} appeared after they were sent` : `a new participant ${participant.id} started`;
    return `sent the IIPs of role ${delivery.role} again: ${why}`;
  }
  const count = delivery.sent.length;
  return `sent ${count} IIP${count === 1 ? '' : 's'} to ${[...new Set(delivery.sent.map((iip) => iip.queue))].join(', ')}`;
}
