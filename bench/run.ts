/**
 * `npm run bench`: benchmarks on a private RabbitMQ and Mosquitto, started
 * like the tests start theirs. Prints tables with ratios against references
 * measured in the same run, and writes the figures as JSON (`--json FILE`,
 * default `bench-results.json`).
 *
 *   npm run bench                                   # everything
 *   npm run bench -- --throughput-only --quick      # every point, briefly
 *   npm run bench -- --throughput-only --points amqp:p1:f1:100 --seconds 3
 *   npm run bench -- --throughput-only --points amqp:p50:f50:100 --variants ours --soak 1000000
 *   npm run bench -- --startup-only --counts 1,10
 *   npm run bench -- --check                        # exit 1 when a goal is missed
 */
import { writeFile } from 'node:fs/promises';
import { startMosquitto, startRabbitMQ, type BrokerHandle } from '../spec/harness/brokers';
import { benchStartup, type StartupResult } from './startup';
import { benchThroughput, DEFAULT_POINTS, parsePoints, VARIANTS, type Point, type Protocol, type ThroughputResults, type Variant } from './throughput';
import { goals, missed, processTable, soakTable, startupGoals, startupTable, throughputTable } from './tables';

interface Args {
  counts: number[];
  json: string;
  startup: boolean;
  throughput: boolean;
  points: Point[];
  variants: Variant[];
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  memoryMessages: number;
  soak: number;
  profileDir: string | undefined;
  check: boolean;
}

const USAGE = `options:
  --throughput-only        skip the many-participants start-up benchmark
  --startup-only           only the many-participants start-up benchmark
  --counts 1,10,100        participants for the start-up benchmark
  --points LIST            throughput points, protocol:pPREFETCH:fINFLIGHT:BYTES[k], comma-separated
                           (default ${DEFAULT_POINTS})
  --variants ours,floor,original,qos0   (qos0: ours with --mqtt-qos 0, MQTT points only)
  --seconds N              measured seconds per point and variant (default 5)
  --rounds N               turns the variants take at each point, the seconds split between them (default 5)
  --warmup N               seconds sent before measuring each point (default 1)
  --memory-messages N      messages before reading resident memory (default 10000; 0 skips)
  --soak N                 also send N messages through ours at prefetch 50, memory read every tenth
  --quick                  --seconds 1 --rounds 1 --warmup 0.5 --memory-messages 2000
  --profile DIR            write CPU profiles of the processes of ours and of the floor to DIR
  --json FILE              where to write the figures (default bench-results.json)
  --check                  exit 1 when a goal printed is missed (goals compare medians of the rounds)`;

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    counts: [1, 10, 100],
    json: 'bench-results.json',
    startup: true,
    throughput: true,
    points: parsePoints(DEFAULT_POINTS),
    variants: [...VARIANTS],
    seconds: 5,
    rounds: 5,
    warmupSeconds: 1,
    memoryMessages: 10_000,
    soak: 0,
    profileDir: undefined,
    check: false,
  };
  const number = (flag: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n < min) {
      throw new Error(`invalid ${flag} "${value ?? ''}": a number of at least ${min}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    const takes = (): string => {
      if (value === undefined) {
        throw new Error(`${flag} needs a value\n${USAGE}`);
      }
      i += 1;
      return value;
    };
    switch (flag) {
      case '--counts':
        args.counts = takes().split(',').map(Number);
        break;
      case '--json':
        args.json = takes();
        break;
      case '--throughput-only':
        args.startup = false;
        break;
      case '--startup-only':
        args.throughput = false;
        break;
      case '--points':
        args.points = parsePoints(takes());
        break;
      case '--variants': {
        const variants = takes().split(',');
        const unknown = variants.find((v) => !(VARIANTS as readonly string[]).includes(v));
        if (unknown !== undefined) {
          throw new Error(`unknown variant "${unknown}": use ${VARIANTS.join(', ')}`);
        }
        args.variants = variants as Variant[];
        break;
      }
      case '--seconds':
        args.seconds = number(flag, takes(), 0.1);
        break;
      case '--rounds':
        args.rounds = Math.round(number(flag, takes(), 1));
        break;
      case '--warmup':
        args.warmupSeconds = number(flag, takes(), 0);
        break;
      case '--memory-messages':
        args.memoryMessages = number(flag, takes(), 0);
        break;
      case '--soak':
        args.soak = number(flag, takes(), 0);
        break;
      case '--quick':
        args.seconds = 1;
        args.rounds = 1;
        args.warmupSeconds = 0.5;
        args.memoryMessages = 2000;
        break;
      case '--profile':
        args.profileDir = takes();
        break;
      case '--check':
        args.check = true;
        break;
      default:
        throw new Error(`unknown argument "${flag}"\n${USAGE}`);
    }
  }
  if (args.counts.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`invalid --counts "${args.counts.join(',')}": whole numbers of at least 1`);
  }
  return args;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const protocols = new Set<Protocol>(args.throughput ? args.points.map((p) => p.protocol) : []);
  if (args.startup) {
    protocols.add('amqp');
  }
  const brokers: Partial<Record<Protocol, BrokerHandle>> = {};
  let startup: StartupResult[] = [];
  let throughput: ThroughputResults | undefined;
  const goalLines: string[] = [];
  try {
    if (protocols.has('amqp')) {
      log('starting RabbitMQ on loopback...');
      brokers.amqp = await startRabbitMQ();
    }
    if (protocols.has('mqtt')) {
      log('starting Mosquitto on loopback...');
      // Nagle's algorithm off, as RabbitMQ has it: otherwise Mosquitto holds
      // every packet that follows an unacknowledged one, 40 ms per message
      // at one in flight, whatever the client.
      brokers.mqtt = await startMosquitto({ tcpNoDelay: true });
    }
    if (args.throughput) {
      log('throughput and latency of one core/Repeat participant:');
      throughput = await benchThroughput({ amqp: brokers.amqp?.url, mqtt: brokers.mqtt?.url }, args, log);
      process.stdout.write(`\nOne core/Repeat participant: messages per second and latency (ms), ours beside the floor (bare client) and the original 0.11.3\n${throughputTable(throughput.points)}\n`);
      process.stdout.write(`\nStart-up (spawn to first discovery message, to first answer) and resident memory\n${processTable(throughput.processes)}\n`);
      if (throughput.soak.length > 0) {
        process.stdout.write(`\nLong run: resident memory of ours\n${soakTable(throughput.soak)}\n`);
      }
      const throughputGoals = goals(throughput);
      goalLines.push(...throughputGoals);
      process.stdout.write(`\n${throughputGoals.join('\n')}\n`);
    }
    if (args.startup && brokers.amqp) {
      log(`start-up and memory of ${args.counts.join(', ')} core/Repeat participants:`);
      startup = await benchStartup(brokers.amqp.url, args.counts, log);
      process.stdout.write(`\nMany participants: start-up (spawn to every participant answering) and resident memory\n${startupTable(startup)}\n`);
      for (const line of startupGoals(startup)) {
        goalLines.push(line);
        process.stdout.write(`${line}\n`);
      }
    }
    await writeFile(args.json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, options: { ...args, points: args.points }, throughput, startup }, null, 2)}\n`);
    process.stdout.write(`\nfigures written to ${args.json}\n`);
  } finally {
    await Promise.all(Object.values(brokers).map((broker) => broker.stop()));
  }
  const misses = missed(goalLines);
  if (args.check) {
    process.stdout.write(misses.length === 0 ? `check: all ${goalLines.length} goals met\n` : `check: ${misses.length} of ${goalLines.length} goals missed\n`);
    return misses.length === 0 ? 0 : 1;
  }
  return 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
