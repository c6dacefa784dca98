/**
 * Child processes for the benchmark: spawn, measure resident memory, stop.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
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

/** Clock ticks per second of /proc/PID/stat's times (100 on Linux almost everywhere). */
const TICKS_PER_SECOND = ((): number => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds (user + system, every thread) process `pid` has used so far,
 * from /proc/PID/stat (resolution: one clock tick, 10 ms); 0 when it is gone.
 */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime field 14 and stime field 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
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
