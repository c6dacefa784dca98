/**
 * Readiness of a process's participants, for an orchestrator: ready once
 * every participant started (graph running, queues declared, consuming), and
 * as long as every inport of each has a live consumer: connected, not
 * cancelled by the broker, subscribed (MQTT), not paused. Asked of the
 * transports at each request, so a loss shows at once.
 */
import type { Participant } from '../participant/participant';

/** Whether a process is ready, and why not. */
export interface Readiness {
  readonly ready: boolean;
  /** What is missing, one item per problem; empty when ready. */
  readonly reasons: readonly string[];
}

/** Something that can tell whether it is ready (a coordinator, a host of participants). */
export type ReadinessCheck = () => Readiness;

interface Tracked {
  readonly participant: Participant;
  connected: boolean;
  lastError: string | undefined;
}

/** The readiness of the participants of one process. */
export class ParticipantHealth {
  private readonly tracked = new Map<Participant, Tracked>();
  private starting = true;
  private stopping = false;

  /**
   * @param requireParticipants - whether a process running none is not ready
   *   (a coordinator may host none)
   */
  constructor(private readonly requireParticipants = true) {}

  /** Follow a participant's connection from now on; call before it starts. */
  watch(participant: Participant): void {
    const entry: Tracked = { participant, connected: true, lastError: undefined };
    participant.on('disconnected', (err) => {
      entry.connected = false;
      entry.lastError = err.message;
    });
    participant.on('reconnected', () => {
      entry.connected = true;
      entry.lastError = undefined;
    });
    // Counted once started: one that fails to start is not part of the process.
    participant.once('started', () => this.tracked.set(participant, entry));
  }

  /** Every participant this process was asked for has started (or given up). */
  startedAll(): void {
    this.starting = false;
  }

  /** The process is shutting down: no longer ready. */
  stop(): void {
    this.stopping = true;
  }

  /** Stop following a participant that was removed. */
  forget(participant: Participant): void {
    this.tracked.delete(participant);
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.stopping) {
      reasons.push('shutting down');
    } else if (this.starting) {
      reasons.push('starting participants');
    } else if (this.tracked.size === 0 && this.requireParticipants) {
      reasons.push('no participant running');
    }
    for (const { participant, connected, lastError } of this.tracked.values()) {
      if (!connected) {
        reasons.push(`${participant.role}: not connected to ${participant.brokerUrl}${lastError ? ` (${lastError})` : ''}`);
      } else if (participant.isPaused) {
        reasons.push(`${participant.role}: paused, not consuming`);
      } else {
        for (const state of participant.inportStates()) {
          if (!state.active) {
            reasons.push(`${participant.role}.${state.port}: ${state.reason ?? 'not consuming'}`);
          }
        }
      }
    }
    return { ready: reasons.length === 0, reasons };
  }
}
