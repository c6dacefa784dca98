/**
 * Running the command-line program as a user would: a child process of
 * `bin/noflo-runtime-msgflo`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { REPO_ROOT } from './participants';

const BIN = path.join(REPO_ROOT, 'bin', 'noflo-runtime-msgflo');

/** What a finished command printed and how it exited. */
export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment for a child: no broker configured unless `env` sets one. */
export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = { ...process.env };
  delete base.MSGFLO_BROKER;
  delete base.CLOUDAMQP_URL;
  delete base.DEBUG;
  return { ...base, ...env };
}

/** A running command. */
export class RunningCommand {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CommandResult>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr }));
    });
  }

  /** Wait until stderr, where the program says what it does, matches `pattern`. */
  waitForStderr(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    return this.waitFor('stderr', pattern, timeoutMs);
  }

  /** Wait until stdout, where the program puts its data, matches `pattern`. */
  waitForStdout(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    return this.waitFor('stdout', pattern, timeoutMs);
  }

  private async waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this[stream])) {
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no ${stream} matching ${pattern}; stdout: ${this.stdout}; stderr: ${this.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/**
 * Start the CLI (`bin`: this checkout's, or an installed copy's); it is
 * killed after the test if still running.
 */
export function startCli(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd = REPO_ROOT, bin = BIN): RunningCommand {
  const child = spawn(process.execPath, [bin, ...args], { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const running = new RunningCommand(child);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await running.exited;
    }
  });
  return running;
}

/** Run the CLI to completion (killed after `timeoutMs`). */
export async function runCli(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<CommandResult> {
  const running = startCli(t, args, env);
  const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs);
  try {
    return await running.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Run the CLI to completion with `input` on its standard input (killed after `timeoutMs`). */
export async function runCliWithInput(t: TestContext, args: readonly string[], input: string | Buffer, env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<CommandResult> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  const running = new RunningCommand(child);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  });
  child.stdin?.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return await running.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** The line a command says, at once and every few seconds, while it cannot reach its broker at start. */
export const WAITING_LINE = /^waiting for (amqps?|mqtts?):\/\/\S+ \(.+\); trying for [\d.]+ s(, \d+ s so far)?$/;

/**
 * The lines of `stderr` but the {@link WAITING_LINE}s said before giving up
 * on an unreachable broker: what a failure says, after its waiting.
 */
export function withoutWaiting(stderr: string): string[] {
  return stderr
    .trim()
    .split('\n')
    .filter((line) => !WAITING_LINE.test(line));
}

/** Whether a process `pid` exists (one that ended and was reaped does not). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
