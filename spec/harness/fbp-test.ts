/**
 * The official FBP runtime protocol test suite (`fbp-test` of the
 * fbp-protocol package) against a runtime already listening on a WebSocket.
 * It reads its configuration from `fbp-config.json` in `$PROJECT_HOME`, so
 * each run writes one into a directory of its own; mocha reports as JSON.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Where the runtime listens, and what the suite should ask of it. */
export interface FbpTestOptions {
  host: string;
  port: number;
  /** The component library the suite builds graphs from (`<collection>/Repeat`, `<collection>/Drop`). */
  collection?: string;
  /** Sent with every request (the suite reads it from FBP_PROTOCOL_SECRET). */
  secret?: string;
  /** Protocol version announced to the suite. */
  version?: string;
  /** Give up on the whole run after this many ms. */
  timeout?: number;
}

/** One failed test of the suite. */
export interface FbpTestFailure {
  title: string;
  message: string;
}

/** The outcome of a run. */
export interface FbpTestResult {
  passes: number;
  failures: number;
  total: number;
  failed: FbpTestFailure[];
  /** Titles of the tests that passed. */
  passed: string[];
}

interface MochaTest {
  fullTitle: string;
  err: { message?: string };
}

interface MochaReport {
  stats: { tests: number; passes: number; failures: number };
  passes: MochaTest[];
  failures: MochaTest[];
}

const PROTOCOL_ROOT = path.dirname(require.resolve('fbp-protocol/package.json'));
// The mocha the suite is written for: its own dependency.
const MOCHA = require.resolve('mocha/bin/_mocha', { paths: [PROTOCOL_ROOT] });

/** Run the suite against `ws://host:port`; resolves with its counts, failed tests named. */
export async function runFbpTestSuite(options: FbpTestOptions): Promise<FbpTestResult> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'fbp-test-'));
  try {
    const config = { name: 'noflo-runtime-msgflo', command: null, host: options.host, port: options.port, collection: options.collection ?? 'core', version: options.version ?? '0.7' };
    await writeFile(path.join(home, 'fbp-config.json'), JSON.stringify(config, null, 2));
    const env: NodeJS.ProcessEnv = { ...process.env, PROJECT_HOME: home };
    delete env.FBP_PROTOCOL_SECRET;
    if (options.secret !== undefined) {
      env.FBP_PROTOCOL_SECRET = options.secret;
    }
    const args = [MOCHA, path.join(PROTOCOL_ROOT, 'test', 'TestWebSocket.js'), '--reporter', 'json', '--timeout', '10000', '--exit'];
    const { stdout, stderr, code } = await run(args, home, env, options.timeout ?? 120_000);
    return parseReport(stdout, `${stderr}(exit code ${code})`);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout: number): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fbp-test did not finish within ${timeout} ms\n${stdout}\n${stderr}`));
    }, timeout);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

/** The JSON report, after what the suite itself prints on stdout. */
function parseReport(stdout: string, context: string): FbpTestResult {
  const start = stdout.search(/^\{$/m);
  let report: MochaReport;
  try {
    if (start < 0) {
      throw new Error('no JSON report');
    }
    report = JSON.parse(stdout.slice(start)) as MochaReport;
  } catch (err) {
    throw new Error(`fbp-test gave no JSON report (${(err as Error).message}):\n${stdout}\n${context}`);
  }
  return {
    passes: report.stats.passes,
    failures: report.stats.failures,
    total: report.stats.tests,
    passed: report.passes.map((t) => t.fullTitle),
    failed: report.failures.map((t) => ({ title: t.fullTitle, message: t.err.message ?? '' })),
  };
}
