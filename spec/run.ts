/**
 * Test runner behind `npm test` (compiled to dist/spec/run.js).
 *
 * Starts a private RabbitMQ, Mosquitto and 3-node RabbitMQ cluster once, in
 * parallel, and passes them to the tests: URLs in NOFLO_MSGFLO_TEST_AMQP /
 * NOFLO_MSGFLO_TEST_MQTT / NOFLO_MSGFLO_TEST_AMQP_CLUSTER (comma-separated, one
 * per node), and the cluster's node control in
 * NOFLO_MSGFLO_TEST_AMQP_CLUSTER_CONTROL (see ./harness/cluster). An
 * already-set URL variable wins, and that broker is not started. Each broker
 * is started only if a selected test file uses it (see `uses` in ./harness/needs): a run
 * of unit tests needs none, and three more RabbitMQ nodes are not worth
 * booting for a run that never connects to them. Then it runs `node --test` over the compiled test files
 * one file at a time, prints a one-line summary, stops the brokers, and exits
 * with the test run's exit code.
 *
 * Usage: node dist/spec/run.js [node --test options] [test files or dirs]
 *   - no file arguments: every dist/spec/**\/*.test.js
 *   - spec/foo.test.ts is mapped to dist/spec/foo.test.js
 *   - TEST_REPORTER=spec picks another reporter than the default `dot`
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startMosquitto, startRabbitMQ, type BrokerHandle } from './harness/brokers';
import { serveClusterControl, startRabbitMQCluster } from './harness/cluster';
import { AMQP_CLUSTER_CONTROL_VAR, AMQP_CLUSTER_URLS_VAR, AMQP_URL_VAR, MQTT_URL_VAR } from './harness/env';
import { FIGURES_FILE_VAR, formatFigures, type Figures } from './harness/figures';
import { AMQP_USE, CLUSTER_USE, MQTT_USE, uses } from './harness/needs';

/** dist/spec, where this file runs from. */
const SPEC_DIR = __dirname;
/** dist/ */
const DIST_DIR = path.resolve(__dirname, '..');
const TEST_FILE = /\.test\.js$/;

/** A broker (or cluster) the runner started: what the tests get, and how to stop it. */
interface Started {
  /** Value of the spec's URL variable. */
  readonly url: string;
  /** More variables for the tests. */
  readonly env?: Record<string, string>;
  stop(): Promise<void>;
}

interface BrokerSpec {
  readonly name: string;
  readonly variable: string;
  readonly start: () => Promise<Started>;
  /** Whether the selected test files need it. */
  readonly neededBy: (files: readonly string[]) => boolean;
}

/** A single broker: its URL, stopped by its handle. */
const single = (start: () => Promise<BrokerHandle>) => async (): Promise<Started> => {
  const handle = await start();
  return { url: handle.url, stop: () => handle.stop() };
};

/** The cluster, with its node control served to the test processes. */
async function startCluster(): Promise<Started> {
  const cluster = await startRabbitMQCluster();
  const control = await serveClusterControl(cluster).catch(async (err: unknown) => {
    await cluster.stop().catch((stopErr: unknown) => console.error(`warning: stopping the cluster: ${(stopErr as Error).message}`));
    throw err;
  });
  return {
    url: cluster.urls.join(','),
    env: { [AMQP_CLUSTER_CONTROL_VAR]: control.file },
    stop: async () => {
      try {
        await control.close();
      } finally {
        await cluster.stop();
      }
    },
  };
}

const BROKERS: readonly BrokerSpec[] = [
  { name: 'RabbitMQ', variable: AMQP_URL_VAR, start: single(startRabbitMQ), neededBy: (files) => uses(files, AMQP_USE) },
  { name: 'Mosquitto', variable: MQTT_URL_VAR, start: single(startMosquitto), neededBy: (files) => uses(files, MQTT_USE) },
  { name: 'RabbitMQ cluster', variable: AMQP_CLUSTER_URLS_VAR, start: startCluster, neededBy: (files) => uses(files, CLUSTER_USE) },
];

/** Printed to stderr as the one-line reason, then exit 1. */
class UsageError extends Error {}

let interrupted: NodeJS.Signals | undefined;
let testProcess: ChildProcess | undefined;

// ---------------------------------------------------------------------------
// Arguments

/** Every `*.test.js` under `dir`, sorted so runs are repeatable. */
function findTestFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTestFiles(full));
    else if (entry.isFile() && TEST_FILE.test(entry.name)) found.push(full);
  }
  return found.sort();
}

/** `spec/foo.test.ts` → `dist/spec/foo.test.js`, so sources can be named directly. */
function compiledPath(file: string): string {
  if (!file.endsWith('.ts') || file.endsWith('.d.ts')) return file;
  const relative = path.relative(path.dirname(DIST_DIR), path.resolve(file));
  return path.join(DIST_DIR, relative.replace(/\.ts$/, '.js'));
}

/**
 * Split argv into test files (existing files or directories) and options for
 * `node --test`. A bare word right after a `--option` without `=` is that
 * option's value (e.g. `--test-name-pattern foo`).
 */
function parseArgs(argv: readonly string[]): { files: string[]; options: string[] } {
  const files: string[] = [];
  const options: string[] = [];
  let fileArgs = 0;
  let previous: string | undefined;
  for (const arg of argv) {
    const candidate = compiledPath(arg);
    if (arg.startsWith('-')) {
      options.push(arg);
    } else if (fs.existsSync(candidate)) {
      const full = path.resolve(candidate);
      files.push(...(fs.statSync(full).isDirectory() ? findTestFiles(full) : [full]));
      fileArgs += 1;
    } else if (previous?.startsWith('-') && !previous.includes('=')) {
      options.push(arg);
    } else {
      throw new UsageError(`no such test file or directory: ${arg}${candidate === arg ? '' : ` (looked for ${candidate}; did tsc run?)`}`);
    }
    previous = arg;
  }
  if (fileArgs > 0 && files.length === 0) throw new UsageError(`no *.test.js files in ${argv.filter((arg) => !arg.startsWith('-')).join(', ')}`);
  return { files: fileArgs > 0 ? files : findTestFiles(SPEC_DIR), options };
}

// ---------------------------------------------------------------------------
// Brokers

interface Provisioned {
  readonly env: Record<string, string>;
  readonly handles: NamedHandle[];
  readonly description: string;
}

interface NamedHandle {
  readonly name: string;
  stop(): Promise<void>;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Start every broker whose URL variable is unset, in parallel. If any fails,
 * stop the ones that started and throw a one-line reason per failed broker
 * (followed by its log tail, if it has one).
 */
async function provisionBrokers(files: readonly string[]): Promise<Provisioned> {
  const results = await Promise.allSettled(
    BROKERS.map(async (spec) => {
      const existing = process.env[spec.variable];
      if (existing !== undefined && existing !== '') return { spec, url: existing, started: undefined, note: 'external' };
      if (!spec.neededBy(files)) return { spec, url: undefined, started: undefined, note: 'not started: no selected test file uses it' };
      const began = Date.now();
      const started = await spec.start();
      return { spec, url: started.url, started, note: seconds(Date.now() - began) };
    }),
  );
  const env: Record<string, string> = {};
  const handles: NamedHandle[] = [];
  const described: string[] = [];
  const failures: string[] = [];
  results.forEach((result, index) => {
    if (result.status === 'fulfilled') {
      const { spec, url, started, note } = result.value;
      if (url !== undefined) env[spec.variable] = url;
      if (started) {
        Object.assign(env, started.env);
        handles.push({ name: `${spec.name} ${started.url}`, stop: () => started.stop() });
      }
      described.push(url === undefined ? `${spec.name} (${note})` : `${spec.name} ${url} (${note})`);
    } else {
      const message = result.reason instanceof Error ? result.reason.message : String(result.reason);
      failures.push(`could not start ${BROKERS[index]?.name ?? 'broker'}: ${message}`);
    }
  });
  if (failures.length > 0) {
    await stopBrokers(handles);
    throw new UsageError(failures.join('\n'));
  }
  return { env, handles, description: described.join(', ') };
}

/** Stop all brokers; returns the errors (a survivor is worth a non-zero exit, not a crash). */
async function stopBrokers(handles: readonly NamedHandle[]): Promise<string[]> {
  const results = await Promise.allSettled(handles.map((handle) => handle.stop()));
  return results.flatMap((result, index) =>
    result.status === 'rejected' ? [`stopping ${handles[index]?.name ?? 'broker'}: ${(result.reason as Error).message}`] : [],
  );
}

// ---------------------------------------------------------------------------
// Tests

function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 1);
}

/** Run `node --test`; resolves with its exit code. */
async function runTests(files: readonly string[], options: readonly string[], env: Record<string, string>, tapFile: string): Promise<number> {
  const reporter = process.env.TEST_REPORTER || 'dot';
  const args = [
    '--test',
    // One file at a time: test files share the brokers.
    '--test-concurrency=1',
    `--test-reporter=${reporter}`,
    '--test-reporter-destination=stdout',
    // A second, machine-readable copy, only for the summary line.
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    ...options,
    ...files,
  ];
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  testProcess = child;
  return new Promise<number>((resolve) => {
    child.once('error', (err) => {
      console.error(`cannot run ${process.execPath} --test: ${err.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => resolve(signal ? signalExitCode(signal) : (code ?? 1)));
  });
}

/** `tests: 42 passed, 0 failed (123.4 s)` from the final `# pass N` / `# fail N` lines of the TAP copy. */
function summarize(tapFile: string, exitCode: number, elapsedMs: number): string {
  let tap = '';
  try {
    tap = fs.readFileSync(tapFile, 'utf8');
  } catch {
    // No TAP at all: the test process died before reporting anything.
  }
  const counts = new Map<string, number>();
  for (const match of tap.matchAll(/^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) {
    if (match[1] !== undefined) counts.set(match[1], Number(match[2])); // last one wins: the run's total
  }
  if (!counts.has('pass') || !counts.has('fail')) {
    const why = interrupted ? `interrupted by ${interrupted}` : `no summary from node --test, exit code ${exitCode}`;
    return `tests: ${why} (${seconds(elapsedMs)})`;
  }
  const parts = [`${counts.get('pass')} passed`, `${counts.get('fail')} failed`];
  for (const key of ['cancelled', 'skipped', 'todo']) {
    const count = counts.get(key) ?? 0;
    if (count > 0) parts.push(`${count} ${key}`);
  }
  return `tests: ${parts.join(', ')} (${seconds(elapsedMs)})`;
}

/** The delivery figures the fault-injection tests recorded, as a table. */
function printFigures(file: string): void {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return; // No fault-injection test ran.
  }
  const rows = text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Figures);
  console.log(`\ndelivery under faults:\n${formatFigures(rows)}\n`);
}

// ---------------------------------------------------------------------------
// Main

/**
 * First SIGINT/SIGTERM: pass it on to the tests and stop brokers normally.
 * Second one: exit now; the broker harness's exit hook SIGKILLs the brokers.
 */
function installSignalHandlers(): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      console.error(`\n${signal} again: killing brokers and exiting`);
      process.exit(signalExitCode(signal));
    }
    interrupted = signal;
    if (testProcess && testProcess.exitCode === null && testProcess.signalCode === null) testProcess.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function main(): Promise<number> {
  const started = Date.now();
  // Before the brokers start, so the harness leaves signal handling to us.
  installSignalHandlers();
  const { files, options } = parseArgs(process.argv.slice(2));
  if (files.length === 0) throw new UsageError(`no *.test.js files under ${SPEC_DIR} (did tsc run?)`);

  const brokers = await provisionBrokers(files);
  const tapDir = fs.mkdtempSync(path.join(os.tmpdir(), 'noflo-msgflo-tap-'));
  const tapFile = path.join(tapDir, 'report.tap');
  const figuresFile = path.join(tapDir, 'figures.jsonl');
  // On 'exit' so that a forced exit (second Ctrl-C) cleans up too.
  process.on('exit', () => fs.rmSync(tapDir, { recursive: true, force: true }));
  let exitCode = 1;
  try {
    console.log(`brokers: ${brokers.description}`);
    const env = { ...brokers.env, [FIGURES_FILE_VAR]: figuresFile };
    exitCode = interrupted ? signalExitCode(interrupted) : await runTests(files, options, env, tapFile);
  } finally {
    const stopErrors = await stopBrokers(brokers.handles);
    for (const error of stopErrors) console.error(`warning: ${error}`);
    if (stopErrors.length > 0 && exitCode === 0) exitCode = 1;
  }
  printFigures(figuresFile);
  console.log(summarize(tapFile, exitCode, Date.now() - started));
  // An interrupted run is not a test result, whatever the test process exited with.
  return interrupted ? signalExitCode(interrupted) : exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof UsageError ? err.message : err);
    process.exit(1);
  },
);
