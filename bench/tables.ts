/**
 * The benchmark's tables and goal lines, from the figures of ./throughput and
 * ./startup.
 */
import type { StartupResult } from './startup';
import { pointName, type PointResult, type ProcessResult, type SoakResult, type ThroughputResults, type Variant } from './throughput';

/** Share of the floor's throughput ours must reach at every point (median of the rounds). */
const FLOOR_SHARE = 0.9;
/** Most CPU per message ours may use, as a multiple of the floor's, at every point. */
const CPU_FACTOR = 1.15;
/** 100 participants in one process start within this (s)... */
const MANY_START_SECONDS = 2;
/** ...and stay under this resident memory (MB). */
const MANY_RESIDENT_MB = 130;
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

/** Median of the per-round rates (msg/s): what the goals compare, steadier than the mean on a shared machine. */
export function medianRate(result: PointResult | undefined): number | undefined {
  if (!result || result.rates.length === 0) return undefined;
  const sorted = [...result.rates].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** CPU microseconds per answered message over the measured periods; undefined when not read. */
export function cpuPerMessage(result: PointResult | undefined): number | undefined {
  if (!result || result.cpuSeconds === undefined || result.answered === 0) return undefined;
  return (result.cpuSeconds * 1e6) / result.answered;
}

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
    const { ours, floor, original, qos0 } = of;
    const lossy = (v: PointResult | undefined): string => (v ? `${v.lost}/${v.duplicated}` : '-');
    return [
      name,
      fixed(ours?.perSecond, 0),
      fixed(floor?.perSecond, 0),
      fixed(original?.perSecond, 0),
      ratio(medianRate(ours), medianRate(floor)),
      ratio(medianRate(ours), medianRate(original)),
      fixed(qos0?.perSecond, 0),
      ratio(medianRate(qos0), medianRate(original)),
      `${fixed(cpuPerMessage(ours), 0)} / ${fixed(cpuPerMessage(floor), 0)} / ${fixed(cpuPerMessage(original), 0)}`,
      ratio(cpuPerMessage(ours), cpuPerMessage(floor)),
      `${fixed(ours?.p50, 2)} / ${fixed(floor?.p50, 2)} / ${fixed(original?.p50, 2)}`,
      `${fixed(ours?.p99, 2)} / ${fixed(floor?.p99, 2)} / ${fixed(original?.p99, 2)}`,
      `${lossy(ours)}, ${lossy(floor)}, ${lossy(original)}`,
    ];
  });
  return table(['point', 'ours/s', 'floor/s', 'original/s', 'ours/floor', 'ours/original', 'QoS 0/s', 'QoS 0/original', 'CPU µs/msg ours/floor/orig', 'CPU ours/floor', 'p50 ours/floor/orig', 'p99 ours/floor/orig', 'lost/dup ours, floor, orig'], rows);
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

/** The goals, met or missed, as measured in this run; a missed one's line says MISSED (see `missed`). */
export function goals(results: ThroughputResults): string[] {
  const lines: string[] = [];
  const groups = byPoint(results.points);
  const compared = groups.filter(({ of }) => of.ours && of.floor);
  if (compared.length > 0) {
    const below = compared.filter(({ of }) => (medianRate(of.ours) ?? 0) < FLOOR_SHARE * (medianRate(of.floor) ?? 0));
    lines.push(
      `goal: at least ${FLOOR_SHARE.toFixed(2)} of the floor's throughput at every point (median of rounds): ${below.length === 0 ? 'met' : `MISSED at ${below.map(({ name, of }) => `${name} (${ratio(medianRate(of.ours), medianRate(of.floor))})`).join('; ')}`}`,
    );
    const costly = compared.filter(({ of }) => {
      const ours = cpuPerMessage(of.ours);
      const floor = cpuPerMessage(of.floor);
      return ours !== undefined && floor !== undefined && ours > CPU_FACTOR * floor;
    });
    lines.push(
      `goal: CPU per message at most ${CPU_FACTOR.toFixed(2)}x the floor's at every point: ${costly.length === 0 ? 'met' : `MISSED at ${costly.map(({ name, of }) => `${name} (${ratio(cpuPerMessage(of.ours), cpuPerMessage(of.floor))}x)`).join('; ')}`}`,
    );
  }
  const single = results.points.find((r) => r.variant === 'ours' && r.point.protocol === 'amqp' && r.point.prefetch === 1 && r.point.inFlight === 1 && r.point.size <= 100);
  if (single) {
    lines.push(`goal: AMQP, prefetch 1, one at a time, median latency under ${MEDIAN_LATENCY_MS} ms: ${single.p50.toFixed(2)} ms, ${single.p50 < MEDIAN_LATENCY_MS ? 'met' : 'MISSED'}`);
  }
  for (const { name, of } of groups.filter(({ of }) => of.ours?.point.protocol === 'amqp' && of.ours.point.prefetch >= 50 && of.original)) {
    const factor = (medianRate(of.ours) ?? 0) / (medianRate(of.original) ?? 1);
    lines.push(`goal: ${name}: at least ${ORIGINAL_FACTOR}x the original: ${factor.toFixed(2)}x, ${factor >= ORIGINAL_FACTOR ? 'met' : 'MISSED'}`);
  }
  const lossy = groups.filter(({ of }) => of.qos0 && of.original);
  if (lossy.length > 0) {
    const slower = lossy.filter(({ of }) => (medianRate(of.qos0) ?? 0) < (medianRate(of.original) ?? 0));
    lines.push(
      `goal: with --mqtt-qos 0, at least the original's throughput at every MQTT point: ${slower.length === 0 ? 'met' : `MISSED at ${slower.map(({ name, of }) => `${name} (${ratio(medianRate(of.qos0), medianRate(of.original))})`).join('; ')}`}`,
    );
  }
  lines.push(...processGoals(results.processes));
  // QoS 0 may lose messages by design; its losses show in the table.
  const faulty = results.points.filter((r) => r.variant !== 'qos0' && (r.lost > 0 || r.duplicated > 0));
  lines.push(`goal: no message lost or duplicated (QoS 0 aside): ${faulty.length === 0 ? 'met' : `MISSED: ${faulty.map((r) => `${r.variant} at ${pointName(r.point)}: ${r.lost} lost, ${r.duplicated} duplicated`).join('; ')}`}`);
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

/** One participant process against the original's: resident memory after the same messages, start-up to the first discovery message. */
function processGoals(processes: readonly ProcessResult[]): string[] {
  const lines: string[] = [];
  for (const protocol of ['amqp', 'mqtt'] as const) {
    const of = (variant: Variant): ProcessResult[] => processes.filter((p) => p.protocol === protocol && p.variant === variant);
    const oursMemory = of('ours').find((p) => p.residentMegabytes !== undefined);
    const originalMemory = of('original').find((p) => p.residentMegabytes !== undefined && p.prefetch === oursMemory?.prefetch);
    if (oursMemory?.residentMegabytes !== undefined && originalMemory?.residentMegabytes !== undefined) {
      const met = oursMemory.residentMegabytes <= originalMemory.residentMegabytes;
      lines.push(
        `goal: ${protocol}, one participant no heavier than the original after ${oursMemory.memoryMessages ?? 0} messages: ${oursMemory.residentMegabytes.toFixed(0)} MB against ${originalMemory.residentMegabytes.toFixed(0)} MB, ${met ? 'met' : 'MISSED'}`,
      );
    }
    // The fastest start of each, over the processes started (one per prefetch).
    const fastest = (list: ProcessResult[]): number | undefined => {
      const times = list.flatMap((p) => (p.discoverySeconds === undefined ? [] : [p.discoverySeconds]));
      return times.length === 0 ? undefined : Math.min(...times);
    };
    const ours = fastest(of('ours'));
    const original = fastest(of('original'));
    if (ours !== undefined && original !== undefined) {
      lines.push(`goal: ${protocol}, start-up to the first discovery message no slower than the original's: ${ours.toFixed(2)} s against ${original.toFixed(2)} s, ${ours <= original ? 'met' : 'MISSED'}`);
    }
  }
  return lines;
}

/** Whether any goal line says it was missed. */
export function missed(lines: readonly string[]): string[] {
  return lines.filter((line) => /\bMISSED\b/.test(line));
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
  if (!ours) {
    return [];
  }
  const lines = [
    `goal: 100 participants in one process start within ${MANY_START_SECONDS} s: ${ours.startupSeconds.toFixed(2)} s, ${ours.startupSeconds <= MANY_START_SECONDS ? 'met' : 'MISSED'}`,
    `goal: 100 participants in one process under ${MANY_RESIDENT_MB} MB: ${ours.residentMegabytes.toFixed(0)} MB, ${ours.residentMegabytes < MANY_RESIDENT_MB ? 'met' : 'MISSED'}`,
    `goal: every one answering: ${ours.answered}/100, ${ours.answered === 100 ? 'met' : 'MISSED'}`,
  ];
  if (original) {
    const share = ours.residentMegabytes / original.residentMegabytes;
    lines.push(`goal: under a tenth of the memory of 100 original processes: ${share.toFixed(3)}, ${share < 0.1 ? 'met' : 'MISSED'}`);
  }
  return lines;
}
