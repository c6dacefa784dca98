/**
 * Participants of other programs, run as child processes and supervised,
 * as msgflo-setup and the msgflo coordinator start them: one process per
 * role, its broker in env `MSGFLO_BROKER`. A child that dies is started
 * again after a delay that doubles with each death in a row, up to a cap;
 * stopping one sends SIGTERM, then SIGKILL after a timeout. Each child runs
 * in a process group of its own, so a shell's children are stopped with
 * it; and none is left behind when this process exits.
 */
import createDebug from 'debug';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { errorMessage, InvalidOptionError } from '../errors';
import type { ChildCommand } from './library';

const debug = createDebug('noflo-runtime-msgflo:children');

/** How children are run and restarted; every time in ms. */
export interface SupervisorOptions {
  /** The children's environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** The children's working directory (default: this process's). */
  readonly cwd?: string;
  /** The delay before the first restart after a death (default 500). */
  readonly restartDelayMs?: number;
  /** The longest delay between restarts (default 30 000). */
  readonly maxRestartDelayMs?: number;
  /** A child that ran this long before dying is restarted after the first delay again (default 10 000). */
  readonly stableAfterMs?: number;
  /** How long a child has after SIGTERM before SIGKILL (default 5 000). */
  readonly stopTimeoutMs?: number;
}

/** Notifications of a {@link ChildSupervisor}, each naming the child's role. */
export interface SupervisorEvents {
  /** A child process started (again). */
  spawned: [role: string, pid: number];
  /** A line a child wrote, without its end of line. */
  output: [role: string, stream: 'stdout' | 'stderr', line: string];
  /**
   * A child ended without being asked to: it is started again after
   * `restartInMs`. `lastLines` is the end of what it wrote, to tell why.
   */
  died: [role: string, reason: string, restartInMs: number, lastLines: readonly string[]];
}

interface Child {
  readonly command: ChildCommand;
  readonly env: NodeJS.ProcessEnv;
  process: ChildProcess | undefined;
  exited: Promise<void>;
  /** Deaths in a row, each one soon after its start. */
  failures: number;
  startedAt: number;
  stopping: boolean;
  timer: NodeJS.Timeout | undefined;
  lastLines: string[];
}

const KEEP_LINES = 10;

/** Groups of children alive in this process, killed when it exits. */
const alive = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    // ESRCH: the group is gone already, which is what we want.
    debug('kill %d %s: %s', -pid, signal, errorMessage(err));
  }
}

function installExitHook(): void {
  if (exitHookInstalled) {
    return;
  }
  exitHookInstalled = true;
  // 'exit' runs however the process ends short of SIGKILL (process.exit, an
  // uncaught exception, the end of the event loop): no child outlives it.
  process.on('exit', () => {
    for (const pid of alive) {
      killGroup(pid, 'SIGKILL');
    }
  });
}

/** Describe a command for messages. */
export function describeCommand(command: ChildCommand): string {
  return 'shell' in command ? `${command.shell} -c ${JSON.stringify(command.line)}` : [command.file, ...command.args].join(' ');
}

/** Child processes by role. */
export class ChildSupervisor extends EventEmitter<SupervisorEvents> {
  private readonly children = new Map<string, Child>();

  constructor(private readonly options: SupervisorOptions = {}) {
    super();
  }

  /** The roles running (or waiting to be started again). */
  roles(): string[] {
    return [...this.children.keys()];
  }

  /** Whether `role` has a child. */
  has(role: string): boolean {
    return this.children.has(role);
  }

  /** The process id of `role`'s child now, if one runs. */
  pid(role: string): number | undefined {
    return this.children.get(role)?.process?.pid;
  }

  /**
   * Start `command` as the child of `role`, with `env` added to the
   * supervisor's environment. Resolves once the process runs.
   *
   * @throws {InvalidOptionError} when `role` has a child already, or the program cannot be started (not found, not executable)
   */
  async start(role: string, command: ChildCommand, env: NodeJS.ProcessEnv = {}): Promise<void> {
    if (this.children.has(role)) {
      throw new InvalidOptionError(`role "${role}" has a process already`);
    }
    installExitHook();
    const child: Child = {
      command,
      env: { ...(this.options.env ?? process.env), ...env },
      process: undefined,
      exited: Promise.resolve(),
      failures: 0,
      startedAt: 0,
      stopping: false,
      timer: undefined,
      lastLines: [],
    };
    this.children.set(role, child);
    try {
      await this.spawn(role, child);
    } catch (err) {
      this.children.delete(role);
      throw new InvalidOptionError(`role "${role}": cannot start ${describeCommand(command)}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Stop `role`'s child: SIGTERM, then SIGKILL after the stop timeout. Resolves once it has exited. */
  async stop(role: string): Promise<void> {
    const child = this.children.get(role);
    if (!child) {
      return;
    }
    child.stopping = true;
    clearTimeout(child.timer);
    const running = child.process;
    if (running?.pid !== undefined && running.exitCode === null && running.signalCode === null) {
      const pid = running.pid;
      killGroup(pid, 'SIGTERM');
      const timeout = this.options.stopTimeoutMs ?? 5_000;
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          debug('%s did not stop within %d ms: SIGKILL', role, timeout);
          killGroup(pid, 'SIGKILL');
          resolve();
        }, timeout);
      });
      await Promise.race([child.exited, killed]);
      clearTimeout(timer);
      await child.exited;
      // What the group's leader left running (a shell's background jobs) goes too.
      killGroup(pid, 'SIGKILL');
    }
    this.children.delete(role);
  }

  /** Stop every child, all at once. */
  async stopAll(): Promise<void> {
    await Promise.all(this.roles().map((role) => this.stop(role)));
  }

  private spawn(role: string, child: Child): Promise<void> {
    const { command } = child;
    const [file, args] = 'shell' in command ? [command.shell, ['-c', command.line]] : [command.file, [...command.args]];
    debug('starting %s: %s', role, describeCommand(command));
    const proc = spawn(file, args, { env: child.env, cwd: this.options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.process = proc;
    child.startedAt = Date.now();
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: proc[stream], crlfDelay: Infinity }).on('line', (line) => {
        child.lastLines.push(line);
        if (child.lastLines.length > KEEP_LINES) {
          child.lastLines.shift();
        }
        this.emit('output', role, stream, line);
      });
    }
    let settle: ((err?: Error) => void) | undefined;
    const started = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    child.exited = new Promise<void>((resolve) => {
      proc.once('spawn', () => {
        if (proc.pid !== undefined) {
          alive.add(proc.pid);
          this.emit('spawned', role, proc.pid);
        }
        settle?.();
        settle = undefined;
      });
      proc.once('error', (err) => {
        // A process that never started (ENOENT, EACCES) emits no 'close'.
        if (proc.pid === undefined) {
          if (settle) {
            settle(err);
            settle = undefined;
          } else {
            this.died(role, child, errorMessage(err));
          }
          resolve();
        }
      });
      proc.once('exit', (code, signal) => {
        if (proc.pid === undefined) {
          return; // Never started: 'error' has said so.
        }
        alive.delete(proc.pid);
        // Its last lines may still be on their way (a process it left may hold the pipes: wait a little only).
        const closed = new Promise((done) => proc.once('close', done));
        void Promise.race([closed, new Promise((done) => setTimeout(done, 200))]).then(() => {
          resolve();
          this.died(role, child, signal ? `killed by ${signal}` : `exited with code ${String(code)}`);
        });
      });
    });
    return started;
  }

  private died(role: string, child: Child, reason: string): void {
    if (child.stopping || this.children.get(role) !== child) {
      return;
    }
    const first = this.options.restartDelayMs ?? 500;
    if (Date.now() - child.startedAt >= (this.options.stableAfterMs ?? 10_000)) {
      child.failures = 0;
    }
    const delay = Math.min(first * 2 ** child.failures, this.options.maxRestartDelayMs ?? 30_000);
    child.failures += 1;
    this.emit('died', role, reason, delay, [...child.lastLines]);
    child.lastLines = [];
    child.timer = setTimeout(() => {
      child.timer = undefined;
      if (child.stopping) {
        return;
      }
      this.spawn(role, child).catch((err: unknown) => this.died(role, child, errorMessage(err)));
    }, delay);
  }
}
