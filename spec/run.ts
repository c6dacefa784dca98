/**
 * Test runner behind `npm test` (compiled to dist/spec/run.js).
 *
 * Starts a private RabbitMQ and Mosquitto once, passes their URLs to the tests
 * in NOFLO_MSGFLO_TEST_AMQP / NOFLO_MSGFLO_TEST_MQTT (already-set variables
 * win, and that broker is not started), runs `node --test` over the compiled
 * test files one file at a time, prints a one-line summary, stops the brokers,
 * and exits with the test run's exit code.
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
import { startMosquitto, startRabbitMQ, type BrokerHandle, type BrokerOptions } from './harness/brokers';
import { AMQP_URL_VAR, MQTT_URL_VAR } from './harness/env';
import { FIGURES_FILE_VAR, formatFigures, type Figures } from './harness/figures';

/** dist/spec, where this file runs from. */
const SPEC_DIR = __dirname;
/** dist/ */
const DIST_DIR = path.resolve(__dirname, '..');
const TEST_FILE = /\.test\.js$/;

interface BrokerSpec {
  readonly name: string;
  readonly variable: string;
  readonly start: (options?: BrokerOptions) => Promise<BrokerHandle>;
}

const BROKERS: readonly BrokerSpec[] = [
  { name: 'RabbitMQ', variable: AMQP_URL_VAR, start: startRabbitMQ },
  { name: 'Mosquitto', variable: MQTT_URL_VAR, start: startMosquitto },
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
  readonly handles: BrokerHandle[];
  readonly description: string;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Start every broker whose URL variable is unset, in parallel. If any fails,
 * stop the ones that started and throw a one-line reason per failed broker
 * (followed by its log tail, if it has one).
 */
async function provisionBrokers(): Promise<Provisioned> {
  const results = await Promise.allSettled(
    BROKERS.map(async (spec) => {
      const existing = process.env[spec.variable];
      if (existing !== undefined && existing !== '') return { spec, url: existing, handle: undefined, note: 'external' };
      const started = Date.now();
      const handle = await spec.start();
      return { spec, url: handle.url, handle, note: seconds(Date.now() - started) };
    }),
  );
  const env: Record<string, string> = {};
  const handles: BrokerHandle[] = [];
  const described: string[] = [];
  const failures: string[] = [];
  results.forEach((result, index) => {
    if (result.status === 'fulfilled') {
      env[result.value.spec.variable] = result.value.url;
      if (result.value.handle) handles.push(result.value.handle);
      described.push(`${result.value.spec.name} ${result.value.url} (${result.value.note})`);
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
async function stopBrokers(handles: readonly BrokerHandle[]): Promise<string[]> {
  const results = await Promise.allSettled(handles.map((handle) => handle.stop()));
  return results.flatMap((result, index) =>
    result.status === 'rejected' ? [`stopping ${handles[index]?.url ?? 'broker'}: ${(result.reason as Error).message}`] : [],
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
    // One file at a time: test files share the two brokers.
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

  const brokers = await provisionBrokers();
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
