/**
 * What a transport says while it waits for its broker at start: at once after
 * the first failed pass over the broker's nodes, then every
 * {@link WAITING_NOTICE_INTERVAL_MS} while it keeps failing, so that a
 * program that cannot reach its broker says so instead of sitting silent for
 * the whole connect timeout.
 */
import { errorMessage } from '../errors';

/** The payload of a transport's `waiting` event. */
export interface WaitingNotice {
  /** The node tried last, password masked. */
  readonly url: string;
  /** Why it failed, short: a system error code (`ECONNREFUSED`) when there is one. */
  readonly reason: string;
  /** Time spent trying so far, in ms. */
  readonly elapsedMs: number;
  /** How long it tries in all, in ms (the connect timeout). */
  readonly timeoutMs: number;
}

/** How often the waiting is said again, in ms. */
export const WAITING_NOTICE_INTERVAL_MS = 5000;

/** Why a connection attempt failed, as short as it can be said. */
export function shortReason(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return code;
  }
  // Node's AggregateError (every address of a host name refused) has no message of its own.
  return errorMessage(err) || 'connection failed';
}

/** Throttles the notices of one start-up connection loop. */
export class WaitingNotices {
  private readonly started = Date.now();
  private lastAt: number | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly say: (notice: WaitingNotice) => void,
  ) {}

  /** A whole pass over the nodes failed, the last on `url` with `err`: said if it is time to. */
  failed(url: string, err: unknown): void {
    const now = Date.now();
    const elapsedMs = now - this.started;
    if (elapsedMs >= this.timeoutMs || (this.lastAt !== undefined && now - this.lastAt < WAITING_NOTICE_INTERVAL_MS)) {
      return;
    }
    this.lastAt = now;
    this.say({ url, reason: shortReason(err), elapsedMs, timeoutMs: this.timeoutMs });
  }
}
