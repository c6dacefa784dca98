/**
 * Throughput and latency of one `core/Repeat` participant, side by side:
 * ours (the command line), the floor (a bare amqplib / mqtt.js repeater with
 * the same delivery guarantees) and the original 0.11.3, each in a process of
 * its own, driven by the load generator of ./load. Also start-up time to the
 * first discovery message, resident memory after a number of messages, and
 * (`soak`) memory over a long run.
 */
import * as amqp from 'amqplib';
import * as mqtt from 'mqtt';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectWire, drive, merge, waitForAnswer, type LoadResult } from './load';
import { installOriginal } from './original';
import { cpuSeconds, residentBytes, spawnNode, stopAll, type Child } from './processes';

export type Protocol = 'amqp' | 'mqtt';
/** `qos0`: ours with `--mqtt-qos 0`, at the original's guarantees (MQTT points only). */
export type Variant = 'ours' | 'floor' | 'original' | 'qos0';
export const VARIANTS: readonly Variant[] = ['ours', 'floor', 'original', 'qos0'];

/** One measured configuration. */
export interface Point {
  readonly protocol: Protocol;
  readonly prefetch: number;
  readonly inFlight: number;
  /** Payload bytes. */
  readonly size: number;
}

/** The points of a full run. */
export const DEFAULT_POINTS = 'amqp:p1:f1:100,amqp:p1:f1:10k,amqp:p1:f50:100,amqp:p50:f50:100,amqp:p50:f50:10k,mqtt:p1:f1:100,mqtt:p1:f1:10k,mqtt:p1:f50:100,mqtt:p50:f50:100,mqtt:p50:f50:10k';

/** Parse `amqp:p1:f1:100,mqtt:p50:f50:10k` (protocol, prefetch, in flight, payload bytes with an optional k). */
export function parsePoints(text: string): Point[] {
  return text.split(',').map((spec) => {
    const match = /^(amqp|mqtt):p(\d+):f(\d+):(\d+)(k?)$/.exec(spec.trim());
    if (!match) {
      throw new Error(`invalid point "${spec}": write protocol:pPREFETCH:fINFLIGHT:BYTES, e.g. amqp:p50:f50:10k`);
    }
    const [, protocol, prefetch, inFlight, size, kilo] = match;
    return { protocol: protocol as Protocol, prefetch: Number(prefetch), inFlight: Number(inFlight), size: Number(size) * (kilo ? 1024 : 1) };
  });
}

/** A point's name as in the tables. */
export function pointName(point: Point): string {
  const size = point.size % 1024 === 0 ? `${point.size / 1024} KB` : `${point.size} B`;
  return `${point.protocol} prefetch ${point.prefetch}, ${point.inFlight} in flight, ${size}`;
}

export interface PointResult extends LoadResult {
  readonly point: Point;
  readonly variant: Variant;
}

/** Figures of one participant process. */
export interface ProcessResult {
  readonly protocol: Protocol;
  readonly variant: Variant;
  readonly prefetch: number;
  /** Spawn to the first discovery message; undefined for the floor, which announces nothing. */
  readonly discoverySeconds: number | undefined;
  /** Spawn to the first answer. */
  readonly answerSeconds: number;
  /** Resident memory after `memoryMessages` messages (when measured in this process). */
  readonly residentMegabytes: number | undefined;
  readonly memoryMessages: number | undefined;
}

export interface SoakResult {
  readonly protocol: Protocol;
  readonly variant: Variant;
  readonly messages: number;
  /** Resident memory (MB) after each tenth of the messages. */
  readonly samples: ReadonlyArray<{ readonly answered: number; readonly residentMegabytes: number }>;
  readonly lost: number;
  readonly duplicated: number;
  readonly perSecond: number;
}

export interface ThroughputOptions {
  readonly points: readonly Point[];
  readonly variants: readonly Variant[];
  readonly seconds: number;
  /** Turns each variant takes at a point; `seconds` is split between them. */
  readonly rounds: number;
  readonly warmupSeconds: number;
  /** Messages before reading resident memory; 0 to skip. */
  readonly memoryMessages: number;
  /** Messages of the long run (ours only); 0 to skip. */
  readonly soak: number;
  /** Write CPU profiles of the participants of ours and of the floor here. */
  readonly profileDir: string | undefined;
}

export interface ThroughputResults {
  readonly points: PointResult[];
  readonly processes: ProcessResult[];
  readonly soak: SoakResult[];
}

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'noflo-runtime-msgflo');
const START_TIMEOUT_MS = 60_000;
/** Sent before measuring in rounds after the first, to fill the pipeline again. */
const ROUND_WARMUP_MS = 200;
/** A bound on the memory run, for slow variants. */
const MEMORY_RUN_MS = 120_000;

type Spawner = (role: string, prefetch: number) => Child;

/** Run the points on the brokers at `urls`. */
export async function benchThroughput(urls: Readonly<Record<Protocol, string | undefined>>, options: ThroughputOptions, log: (line: string) => void): Promise<ThroughputResults> {
  const original = options.variants.includes('original') ? await installOriginal() : undefined;
  const profile = (role: string): string[] => (options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir, '--cpu-prof-name', `${role}.cpuprofile`] : []);
  const spawners: Record<Variant, Spawner> = {
    ours: (role, prefetch) => {
      const url = urls[protocolOf(role)] as string;
      return spawnNode(BIN, ['--name', role, '--graph', 'core/Repeat', '--broker', url, '--prefetch', String(prefetch)], { cwd: REPO, nodeArgs: profile(role) });
    },
    qos0: (role, prefetch) => {
      const url = urls[protocolOf(role)] as string;
      return spawnNode(BIN, ['--name', role, '--graph', 'core/Repeat', '--broker', url, '--prefetch', String(prefetch), '--mqtt-qos', '0'], { cwd: REPO });
    },
    floor: (role, prefetch) => {
      const protocol = protocolOf(role);
      return spawnNode(path.join(__dirname, `repeater-${protocol}.js`), [urls[protocol] as string, role, String(prefetch)], { cwd: REPO, nodeArgs: profile(role) });
    },
    original: (role, prefetch) => {
      if (!original) {
        throw new Error('the original is not installed');
      }
      const url = urls[protocolOf(role)] as string;
      return spawnNode(original.bin, ['--name', role, '--graph', 'core/Repeat', '--broker', url, '--prefetch', String(prefetch)], { cwd: original.dir });
    },
  };

  const results: ThroughputResults = { points: [], processes: [], soak: [] };
  for (const protocol of ['amqp', 'mqtt'] as const) {
    const points = options.points.filter((p) => p.protocol === protocol);
    if (points.length === 0) {
      continue;
    }
    const prefetches = [...new Set(points.map((p) => p.prefetch))].sort((a, b) => a - b);
    const memoryPrefetch = prefetches[prefetches.length - 1];
    // Every variant's process is started, then each point is measured in
    // rounds that take turns between them, so that a change in the load of
    // the (shared) machine falls on all of them alike.
    for (const prefetch of prefetches) {
      const url = urls[protocol] as string;
      const running: Array<{ variant: Variant; started: Started }> = [];
      try {
        // QoS 0 is an MQTT option: AMQP has no such variant.
        for (const variant of options.variants.filter((v) => protocol === 'mqtt' || v !== 'qos0')) {
          const role = `${protocol}-${variant}-p${prefetch}-${Date.now().toString(36)}`;
          log(`  ${protocol} ${variant}, prefetch ${prefetch}: starting`);
          const started = await startParticipant(protocol, url, role, () => spawners[variant](role, prefetch));
          running.push({ variant, started });
          let residentMegabytes: number | undefined;
          let memoryMessages: number | undefined;
          if (prefetch === memoryPrefetch && options.memoryMessages > 0) {
            const run = await drive(started.wire, { inFlight: prefetch, size: 100, warmupMs: 0, messages: options.memoryMessages, measureMs: MEMORY_RUN_MS, drainMs: 10_000 });
            residentMegabytes = residentBytes(started.child.pid ?? 0) / 2 ** 20;
            memoryMessages = run.answered;
            log(`    resident memory after ${run.answered} messages: ${residentMegabytes.toFixed(0)} MB`);
          }
          results.processes.push({ protocol, variant, prefetch, discoverySeconds: started.discoverySeconds, answerSeconds: started.answerSeconds, residentMegabytes, memoryMessages });
        }
        for (const point of points.filter((p) => p.prefetch === prefetch)) {
          const runs = new Map<Variant, LoadResult[]>(running.map(({ variant }) => [variant, []]));
          for (let round = 0; round < options.rounds; round += 1) {
            for (const { variant, started } of running) {
              const run = await drive(started.wire, {
                inFlight: point.inFlight,
                size: point.size,
                warmupMs: round === 0 ? options.warmupSeconds * 1000 : ROUND_WARMUP_MS,
                measureMs: (options.seconds * 1000) / options.rounds,
                drainMs: 15_000,
                cpuSeconds: () => cpuSeconds(started.child.pid ?? 0),
              });
              runs.get(variant)?.push(run);
              if (started.child.exitCode !== null) {
                throw new Error(`${variant} exited during the run:\n${started.child.output}`);
              }
            }
          }
          for (const [variant, variantRuns] of runs) {
            const result = merge(variantRuns);
            results.points.push({ ...result, latencies: [], point, variant });
            const cpu = result.cpuSeconds === undefined || result.answered === 0 ? '' : `, ${((result.cpuSeconds * 1e6) / result.answered).toFixed(0)} µs CPU/msg`;
            log(`    ${variant}, ${pointName(point)}: ${result.perSecond.toFixed(0)} msg/s${cpu}, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, lost ${result.lost}, duplicated ${result.duplicated}`);
          }
        }
      } finally {
        for (const { started } of running) {
          await started.wire.close();
        }
        await stopAll(running.map(({ started }) => started.child));
      }
    }
    if (options.soak > 0 && options.variants.includes('ours')) {
      results.soak.push(await soak(protocol, urls[protocol] as string, options.soak, spawners.ours, log));
    }
  }
  return results;
}

/** Send `messages` through our participant at prefetch 50, reading its memory every tenth. */
async function soak(protocol: Protocol, url: string, messages: number, spawn: Spawner, log: (line: string) => void): Promise<SoakResult> {
  const role = `${protocol}-soak-${Date.now().toString(36)}`;
  const prefetch = 50;
  log(`  ${protocol} ours, ${messages} messages at prefetch ${prefetch}`);
  const started = await startParticipant(protocol, url, role, () => spawn(role, prefetch));
  try {
    const samples: Array<{ answered: number; residentMegabytes: number }> = [];
    const every = Math.max(1, Math.floor(messages / 10));
    const run = await drive(started.wire, {
      inFlight: prefetch,
      size: 100,
      warmupMs: 0,
      messages,
      drainMs: 15_000,
      progress: {
        every,
        call: (answered) => {
          const residentMegabytes = residentBytes(started.child.pid ?? 0) / 2 ** 20;
          samples.push({ answered, residentMegabytes });
          log(`    ${answered} messages: ${residentMegabytes.toFixed(0)} MB`);
        },
      },
    });
    return { protocol, variant: 'ours', messages: run.answered, samples, lost: run.lost, duplicated: run.duplicated, perSecond: run.perSecond };
  } finally {
    await started.wire.close();
    await stopAll([started.child]);
  }
}

interface Started {
  readonly child: Child;
  readonly wire: Awaited<ReturnType<typeof connectWire>>;
  readonly discoverySeconds: number | undefined;
  readonly answerSeconds: number;
}

/** Spawn a participant and wait until it answers, timing its discovery message on the way. */
async function startParticipant(protocol: Protocol, url: string, role: string, spawn: () => Child): Promise<Started> {
  const discovery = await watchDiscovery(protocol, url, role);
  const wire = await connectWire(protocol, url, role);
  const spawned = performance.now();
  const child = spawn();
  try {
    const answered = await waitForAnswer(wire, START_TIMEOUT_MS);
    // The answer came; a discovery message, if any, came before it or is about to.
    const discoveredAt = await Promise.race([discovery.arrived, new Promise<undefined>((resolve) => setTimeout(resolve, 2000, undefined))]);
    return {
      child,
      wire,
      discoverySeconds: discoveredAt === undefined ? undefined : (discoveredAt - spawned) / 1000,
      answerSeconds: (answered - spawned) / 1000,
    };
  } catch (err) {
    await wire.close();
    await stopAll([child]);
    throw new Error(`${role}: ${(err as Error).message}\n${child.output}`);
  } finally {
    await discovery.close();
  }
}

/** Resolve with the time the first discovery message of `role` arrives. */
async function watchDiscovery(protocol: Protocol, url: string, role: string): Promise<{ arrived: Promise<number>; close: () => Promise<void> }> {
  let arrive: (at: number) => void = () => undefined;
  const arrived = new Promise<number>((resolve) => {
    arrive = resolve;
  });
  const needle = `"role":"${role}"`;
  if (protocol === 'amqp') {
    const model = await amqp.connect(url);
    const channel = await model.createChannel();
    await channel.assertQueue('fbp');
    await channel.consume('fbp', (message) => {
      if (message?.content.toString('utf8').includes(needle)) {
        arrive(performance.now());
      }
    }, { noAck: true });
    return { arrived, close: () => model.close() };
  }
  const client = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  client.on('message', (_topic, payload) => {
    if (payload.toString('utf8').includes(needle)) {
      arrive(performance.now());
    }
  });
  await client.subscribeAsync('fbp', { qos: 1 });
  return { arrived, close: () => client.endAsync() };
}

function protocolOf(role: string): Protocol {
  return role.startsWith('mqtt') ? 'mqtt' : 'amqp';
}
