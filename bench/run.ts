/**
 * `npm run bench`: benchmarks on a private RabbitMQ, started like the tests
 * start theirs. Prints tables with ratios against references measured in the
 * same run, and writes the figures as JSON (`--json FILE`, default
 * `bench-results.json`).
 *
 *   npm run bench -- --counts 1,10
 */
import { writeFile } from 'node:fs/promises';
import { startRabbitMQ } from '../spec/harness/brokers';
import { benchStartup, type StartupResult } from './startup';

interface Args {
  counts: number[];
  json: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { counts: [1, 10, 100], json: 'bench-results.json' };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--counts' && value) {
      args.counts = value.split(',').map(Number);
      i += 1;
    } else if (flag === '--json' && value) {
      args.json = value;
      i += 1;
    } else {
      throw new Error(`unknown argument "${flag}"; use --counts 1,10,100 and --json FILE`);
    }
  }
  if (args.counts.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`invalid --counts "${args.counts.join(',')}": whole numbers of at least 1`);
  }
  return args;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function startupTable(results: readonly StartupResult[]): string {
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

function goals(results: readonly StartupResult[]): string[] {
  const ours = results.find((r) => r.participants === 100 && r.variant === 'ours, one process');
  const original = results.find((r) => r.participants === 100 && r.variant.startsWith('original'));
  if (!ours || !original) {
    return [];
  }
  const ratio = ours.residentMegabytes / original.residentMegabytes;
  return [
    `goal: 100 participants in one process start within 5 s: ${ours.startupSeconds.toFixed(2)} s, ${ours.startupSeconds < 5 ? 'met' : 'MISSED'}`,
    `goal: under a tenth of the memory of 100 original processes: ${ratio.toFixed(3)}, ${ratio < 0.1 ? 'met' : 'MISSED'}`,
    `goal: every one answering: ${ours.answered}/100, ${ours.answered === 100 ? 'met' : 'MISSED'}`,
  ];
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  log('starting RabbitMQ on loopback...');
  const rabbit = await startRabbitMQ();
  try {
    log(`start-up and memory of ${args.counts.join(', ')} core/Repeat participants:`);
    const startup = await benchStartup(rabbit.url, args.counts, log);
    process.stdout.write(`\nMany participants: start-up (spawn to every participant answering) and resident memory\n${startupTable(startup)}\n`);
    for (const line of goals(startup)) {
      process.stdout.write(`${line}\n`);
    }
    await writeFile(args.json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, startup }, null, 2)}\n`);
    process.stdout.write(`\nfigures written to ${args.json}\n`);
  } finally {
    await rabbit.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
