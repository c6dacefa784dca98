/**
 * One JSON line per job outcome, for log pipelines.
 */
import type { JobOutcome } from '../participant/participant';
import { scrubCredentials } from './redact';

/** How the command line logs: human lines, or JSON lines. */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The JSON log line (without newline) for a job outcome. */
export function jobLogLine(outcome: JobOutcome, now = new Date()): string {
  return JSON.stringify({
    time: now.toISOString(),
    event: 'job',
    role: outcome.role,
    port: outcome.port,
    job: outcome.id ?? null,
    outcome: outcome.outcome,
    duration_ms: outcome.duration,
    ...(outcome.reason === undefined ? {} : { reason: scrubCredentials(outcome.reason) }),
  });
}
