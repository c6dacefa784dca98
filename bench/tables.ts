/**
 * The benchmark's tables and goal lines, from the figures of ./throughput and
 * ./startup.
 */
import type { StartupResult } from './startup';
import { pointName, type PointResult, type ProcessResult, type SoakResult, type ThroughputResults, type Variant } from './throughput';

/** Share of the floor's throughput ours must reach at every point. */
const FLOOR_SHARE = 0.8;
/** Median latency ours must stay under on AMQP, prefetch 1, one in flight (ms). */
const MEDIAN_LATENCY_MS = 1;
/** How many times the original's throughput ours must reach on AMQP at prefetch 50. */
const ORIGINAL_FACTOR = 5;
/** Growth of resident memory over a long run, from its first tenth to its end, taken as bounded. */
const SOAK_GROWTH = 1.2;

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const fixed = (n: number | undefined, digits: number): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b === 0 ? '-' : (a / b).toFixed(2));

/** Results grouped by point, in the order measured. */
function byPoint(points: readonly PointResult[]): Array<{ name: string; of: Partial<Record<Variant, PointResult>> }> {
  const groups = new Map<string, Partial<Record<Variant, PointResult>>>();
  for (const result of points) {
    const name = pointName(result.point);
    const group = groups.get(name) ?? {};
    group[result.variant] = result;
    groups.set(name, group);
  }
  return [...groups].map(([name, of]) => ({ name, of }));
}

export function throughputTable(points: readonly PointResult[]): string {
  const rows = byPoint(points).map(({ name, of }) => {
    const { ours, floor, original } = of;
    const lossy = (v: PointResult | undefined): string => (v ? `${v.lost}/${v.duplicated}` : '-');
    return [
      name,
      fixed(ours?.perSecond, 0),
      fixed(floor?.perSecond, 0),
      fixed(original?.perSecond, 0),
      ratio(ours?.perSecond, floor?.perSecond),
      ratio(ours?.perSecond, original?.perSecond),
      `${fixed(ours?.p50, 2)} / ${fixed(floor?.p50, 2)} / ${fixed(original?.p50, 2)}`,
      `${fixed(ours?.p99, 2)} / ${fixed(floor?.p99, 2)} / ${fixed(original?.p99, 2)}`,
      `${lossy(ours)}, ${lossy(floor)}, ${lossy(original)}`,
    ];
  });
  return table(['point', 'ours/s', 'floor/s', 'original/s', 'ours/floor', 'ours/original', 'p50 ours/floor/orig', 'p99 ours/floor/orig', 'lost/dup ours, floor, orig'], rows);
}

export function processTable(processes: readonly ProcessResult[]): string {
  const rows = processes.map((p) => [
    `${p.protocol} ${p.variant}`,
    String(p.prefetch),
    fixed(p.discoverySeconds, 2),
    fixed(p.answerSeconds, 2),
    p.residentMegabytes === undefined ? '-' : `${p.residentMegabytes.toFixed(0)} MB after ${p.memoryMessages ?? 0}`,
  ]);
  return table(['process', 'prefetch', 'to discovery s', 'to answer s', 'resident memory'], rows);
}

export function soakTable(soak: readonly SoakResult[]): string {
  const rows = soak.flatMap((s) => s.samples.map((sample) => [`${s.protocol} ${s.variant}`, String(sample.answered), sample.residentMegabytes.toFixed(0)]));
  return table(['participant', 'messages', 'RSS MB'], rows);
}

/** The issue's goals, met or missed, as measured in this run. */
export function goals(results: ThroughputResults): string[] {
  const lines: string[] = [];
  const groups = byPoint(results.points);
  const belowFloor = groups.filter(({ of }) => of.ours && of.floor && of.ours.perSecond < FLOOR_SHARE * of.floor.perSecond);
  const compared = groups.filter(({ of }) => of.ours && of.floor);
  if (compared.length > 0) {
    lines.push(
      `goal: at least ${FLOOR_SHARE * 100}% of the floor's throughput at every point: ${belowFloor.length === 0 ? 'met' : `MISSED at ${belowFloor.map(({ name, of }) => `${name} (${ratio(of.ours?.perSecond, of.floor?.perSecond)})`).join('; ')}`}`,
    );
  }
  const single = results.points.find((r) => r.variant === 'ours' && r.point.protocol === 'amqp' && r.point.prefetch === 1 && r.point.inFlight === 1 && r.point.size <= 100);
  if (single) {
    lines.push(`goal: AMQP, prefetch 1, one at a time, median latency under ${MEDIAN_LATENCY_MS} ms: ${single.p50.toFixed(2)} ms, ${single.p50 < MEDIAN_LATENCY_MS ? 'met' : 'MISSED'}`);
  }
  for (const { name, of } of groups.filter(({ of }) => of.ours?.point.protocol === 'amqp' && of.ours.point.prefetch >= 50 && of.original)) {
    const factor = (of.ours?.perSecond ?? 0) / (of.original?.perSecond ?? 1);
    lines.push(`goal: ${name}: at least ${ORIGINAL_FACTOR}x the original: ${factor.toFixed(2)}x, ${factor >= ORIGINAL_FACTOR ? 'met' : 'MISSED'}`);
  }
  const faulty = results.points.filter((r) => r.lost > 0 || r.duplicated > 0);
  lines.push(`goal: no message lost or duplicated: ${faulty.length === 0 ? 'met' : `MISSED: ${faulty.map((r) => `${r.variant} at ${pointName(r.point)}: ${r.lost} lost, ${r.duplicated} duplicated`).join('; ')}`}`);
  for (const s of results.soak) {
    // Resident memory saws up and down with garbage collection: compare the
    // lows (after a collection) of the first and the last third of the run.
    const third = Math.max(1, Math.floor(s.samples.length / 3));
    const early = s.samples.slice(0, third);
    const late = s.samples.slice(-third);
    const low = (samples: typeof s.samples): number => Math.min(...samples.map((sample) => sample.residentMegabytes));
    const last = s.samples[s.samples.length - 1];
    if (early.length > 0 && last) {
      const growth = low(late) / low(early);
      lines.push(
        `goal: ${s.protocol}, ${s.messages} messages, memory bounded: lowest ${low(early).toFixed(0)} MB in the first third, ${low(late).toFixed(0)} MB in the last (x${growth.toFixed(2)}; ${last.residentMegabytes.toFixed(0)} MB at the end), ${growth <= SOAK_GROWTH && s.lost === 0 && s.duplicated === 0 ? 'met' : 'MISSED'}`,
      );
    }
  }
  return lines;
}

export function startupTable(results: readonly StartupResult[]): string {
  const rows = results.map((r) => {
    const original = results.find((o) => o.participants === r.participants && o.variant.startsWith('original'));
    return [
      r.variant,
      String(r.participants),
      String(r.processes),
      r.startupSeconds.toFixed(2),
      r.residentMegabytes.toFixed(0),
      original ? (r.startupSeconds / original.startupSeconds).toFixed(3) : '',
      original ? (r.residentMegabytes / original.residentMegabytes).toFixed(3) : '',
      `${r.answered}/${r.participants}`,
    ];
  });
  return table(['variant', 'participants', 'processes', 'start-up s', 'RSS MB', 'time/original', 'RSS/original', 'answered'], rows);
}

export function startupGoals(results: readonly StartupResult[]): string[] {
  const ours = results.find((r) => r.participants === 100 && r.variant === 'ours, one process');
  const original = results.find((r) => r.participants === 100 && r.variant.startsWith('original'));
  if (!ours || !original) {
    return [];
  }
  const share = ours.residentMegabytes / original.residentMegabytes;
  return [
    `goal: 100 participants in one process start within 5 s: ${ours.startupSeconds.toFixed(2)} s, ${ours.startupSeconds < 5 ? 'met' : 'MISSED'}`,
    `goal: under a tenth of the memory of 100 original processes: ${share.toFixed(3)}, ${share < 0.1 ? 'met' : 'MISSED'}`,
    `goal: every one answering: ${ours.answered}/100, ${ours.answered === 100 ? 'met' : 'MISSED'}`,
  ];
}
