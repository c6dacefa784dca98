/**
 * Child processes for the benchmark: spawn, measure resident memory, stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Resident set size of a process in bytes (0 when it is gone). */
export function residentBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** A child process with the tail of its output, for diagnostics. */
export type Child = ChildProcess & { output: string };

/**
 * A node script as a child process, its output kept for diagnostics. `DEBUG`
 * is not passed on: debug output would be measured along.
 */
export function spawnNode(script: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[] }): Child {
  const { DEBUG: _debug, ...env } = process.env;
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    cwd: options.cwd,
    env: { ...env, NEW_RELIC_NO_CONFIG_FILE: 'true', NEW_RELIC_ENABLED: 'false', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as Child;
  child.output = '';
  const keep = (chunk: Buffer): void => {
    child.output = (child.output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

/** Stop processes: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopAll(children: readonly ChildProcess[], graceMs = 5000): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            resolve();
            return;
          }
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
