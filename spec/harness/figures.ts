/**
 * Delivery figures of the fault-injection tests: recorded by each scenario,
 * printed as one table at the end of `npm test`.
 */
import { appendFileSync } from 'node:fs';

/** What one scenario sent and what came of it. */
export interface Figures {
  readonly scenario: string;
  readonly broker: 'amqp' | 'mqtt';
  readonly sent: number;
  /** Inputs answered on the outport, each counted once. */
  readonly answered: number;
  /** Inputs in the dead-letter queue, each counted once. */
  readonly deadLettered: number;
  /** Inputs neither answered nor dead-lettered. */
  readonly lost: number;
  /** Extra copies of outputs or dead letters (at-least-once redeliveries). */
  readonly duplicated: number;
}

/** The environment variable naming the file figures are appended to. */
export const FIGURES_FILE_VAR = 'NOFLO_MSGFLO_FIGURES';

/** Append a scenario's figures to the run's figures file, if the runner set one. */
export function recordFigures(figures: Figures): void {
  const file = process.env[FIGURES_FILE_VAR];
  if (file) {
    appendFileSync(file, `${JSON.stringify(figures)}\n`);
  }
}

/** The figures as an aligned text table. */
export function formatFigures(rows: readonly Figures[]): string {
  const header = ['scenario', 'broker', 'sent', 'answered', 'dead-lettered', 'lost', 'duplicated'];
  const cells = rows.map((r) => [r.scenario, r.broker, r.sent, r.answered, r.deadLettered, r.lost, r.duplicated].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (values: readonly string[]): string =>
    values.map((v, i) => (i < 2 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}
