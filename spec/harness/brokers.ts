/**
 * Test harness: private RabbitMQ and Mosquitto instances on loopback.
 *
 * Every broker runs from its own temp dir, listens only on 127.0.0.1 on a
 * free port, and never talks to system services (a Debian install may start a
 * system epmd and broker services; we neither use nor touch them). Everything
 * we spawn is started detached, so it leads its own process group: stop() and
 * the process-exit hook kill those groups (plus any descendant that left the
 * group), and nothing else.
 *
 * For fault-injection tests a handle can also restart() the broker (clean
 * SIGTERM shutdown or SIGKILL crash) or kill() and later start() it, keeping
 * its data dir, ports and node name, so persistent state survives. With the
 * `tls` option a broker gets a second, TLS listener (see ./tls for throwaway
 * certificates).
 *
 * The process bookkeeping, readiness probes and RabbitMQ node setup are also
 * exported for ./cluster (a RabbitMQ cluster), so that its processes are
 * tracked and cleaned up by the same exit hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as amqp from 'amqplib';
import createDebug from 'debug';
import * as mqtt from 'mqtt';

const debug = createDebug('noflo-runtime-msgflo:spec:brokers');

/** A running broker started by this harness. */
export interface BrokerHandle {
  /** Protocol the broker speaks. */
  readonly kind: 'amqp' | 'mqtt';
  /** Connection URL on 127.0.0.1, e.g. `amqp://guest:guest@127.0.0.1:40123`. */
  readonly url: string;
  /**
   * URL of the TLS listener, present only when the broker was started with
   * {@link BrokerOptions.tls}: `amqps://guest:guest@127.0.0.1:<port>` or
   * `mqtts://127.0.0.1:<port>`. Connect with the CA (and, if required, a
   * client certificate) from the {@link TlsMaterial}.
   */
  readonly tlsUrl?: string;
  /**
   * Stop the broker server, wait `downtimeMs`, and start it again with the
   * same data dir, ports, node name and config; resolves once it accepts
   * connections again (same readiness checks as the first start).
   *
   * The default `signal: 'SIGTERM'` is a clean shutdown (RabbitMQ and
   * Mosquitto write their state; SIGKILL if they take longer than 20 s).
   * `signal: 'SIGKILL'` simulates a crash: equivalent to {@link kill} then
   * {@link start}. On a broker that is down (after {@link kill}) it only
   * starts it. Client connections are dropped either way.
   *
   * Operations on one handle run one after the other; after {@link stop}
   * they reject. If the broker does not come back, the promise rejects with
   * its log tail and the broker stays down ({@link stop} still cleans up).
   */
  restart(options?: RestartOptions): Promise<void>;
  /**
   * SIGKILL the broker server (a crash: nothing is flushed beyond what the
   * broker already wrote) and leave it down; its data dir, ports and (for
   * RabbitMQ) epmd are kept for {@link start}. No-op if already down.
   */
  kill(): Promise<void>;
  /**
   * Start the server again after {@link kill} with the same data dir, ports
   * and config; resolves once it accepts connections. No-op if it is running.
   */
  start(): Promise<void>;
  /**
   * Kill the broker and every process it started, then remove its temp dir.
   * Idempotent; bounded in time (SIGKILL after about 5 s). Rejects only if a
   * process survived SIGKILL. Aborts a restart/start that is waiting for the
   * broker to come up.
   */
  stop(): Promise<void>;
}

/** Options for {@link BrokerHandle.restart}. */
export interface RestartOptions {
  /** How long the broker stays down between stop and start; default 0. */
  downtimeMs?: number;
  /** `'SIGTERM'` (default): clean shutdown; `'SIGKILL'`: crash. */
  signal?: 'SIGTERM' | 'SIGKILL';
}

/**
 * Certificates for a TLS listener (PEM file paths; see `makeTlsMaterial` in
 * ./tls). Keep the files in place while the broker runs: restarts read them
 * again, and Erlang's ssl may read them at handshake time rather than at startup.
 */
export interface TlsMaterial {
  /** CA certificate the broker verifies client certificates against. */
  ca: string;
  /** Server certificate (valid for 127.0.0.1). */
  cert: string;
  /** Private key of `cert`. */
  key: string;
  /**
   * Refuse TLS clients that present no certificate signed by `ca`. Default
   * false: no client certificate needed (RabbitMQ still verifies one that is
   * presented; Mosquitto does not ask for one).
   */
  requireClientCert?: boolean;
}

/** Options for {@link startRabbitMQ} and {@link startMosquitto}. */
export interface BrokerOptions {
  /** Receives every output line of the broker processes (prefixed with the process name). */
  log?: (line: string) => void;
  /** Also listen for TLS on another free 127.0.0.1 port, exposed as {@link BrokerHandle.tlsUrl}. */
  tls?: TlsMaterial;
  /**
   * Mosquitto: turn Nagle's algorithm off on client sockets (`set_tcp_nodelay`),
   * as RabbitMQ does by default. Off by default, as in Mosquitto: with it, a
   * client that waits for each message's answer waits about 40 ms per message.
   */
  tcpNoDelay?: boolean;
  /**
   * Mosquitto: keep sessions, subscriptions and queued messages across
   * restarts (default true). False is Mosquitto's own default: a restart
   * forgets every session, as a broker without a persistence DB does.
   */
  persistence?: boolean;
}

/** The only address the harness's brokers listen on. */
export const LOOPBACK = '127.0.0.1';
/** RabbitMQ's start script (not /usr/sbin/rabbitmq-server, which would switch to the rabbitmq user). */
export const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
/** RabbitMQ's CLI (same directory as {@link RABBITMQ_SERVER}, same reason). */
export const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';
/** Erlang's port mapper daemon. */
export const EPMD = '/usr/bin/epmd';
const MOSQUITTO = '/usr/sbin/mosquitto';
const DEBIAN_PACKAGES = ['rabbitmq-server', 'mosquitto'] as const;
const INSTALL_COMMAND = `sudo apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`;

/** How long a RabbitMQ node may take from spawn to accepting AMQP connections. */
export const RABBITMQ_READY_TIMEOUT_MS = 60_000;
const MOSQUITTO_READY_TIMEOUT_MS = 15_000;
const EPMD_READY_TIMEOUT_MS = 5_000;
/** Pause between two readiness probes. */
export const POLL_INTERVAL_MS = 200;
const STOP_GRACE_MS = 5_000;
/** Grace period for restart(): a broker that is going to be reused should get to flush its state. */
const RESTART_GRACE_MS = 20_000;
const KILL_WAIT_MS = 2_000;
const LOG_TAIL_LINES = 40;

// ---------------------------------------------------------------------------
// Ports

interface HeldPort {
  readonly port: number;
  release(): Promise<void>;
}

/** Lowest port handed out: above the registered services most machines run. */
const LOWEST_PORT = 20_000;

/**
 * The first port of the kernel's ephemeral range (the source ports of
 * outgoing connections, and what binding port 0 gives), or undefined where
 * it cannot be read or leaves no room below it.
 */
function ephemeralLow(): number | undefined {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST_PORT + 1000 ? low : undefined;
  } catch {
    return undefined;
  }
}

/** Listen on `port` of 127.0.0.1; resolves with the server, or undefined if the port is taken. */
async function tryListen(port: number): Promise<net.Server | undefined> {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err)));
    server.listen(port, LOOPBACK, () => resolve(server));
  });
}

/**
 * Listen on a free port of 127.0.0.1 and keep listening, so that several
 * calls never return the same port. Chosen at random below the kernel's
 * ephemeral range: a port there, once released, is not taken as the source
 * port of some outgoing connection before the broker that is to listen on it
 * starts (a port from binding port 0 can be, and a RabbitMQ node then fails
 * with `dist_port_already_used`). Where the range cannot be read, port 0.
 */
async function holdPort(): Promise<HeldPort> {
  const low = ephemeralLow();
  let server: net.Server | undefined;
  for (let attempt = 0; low !== undefined && server === undefined && attempt < 50; attempt += 1) {
    server = await tryListen(LOWEST_PORT + Math.floor(Math.random() * (low - LOWEST_PORT)));
  }
  server ??= await tryListen(0);
  if (!server) {
    throw new Error('freePort: no free port on 127.0.0.1');
  }
  const address = server.address();
  if (address === null || typeof address === 'string') {
    server.close();
    throw new Error(`freePort: unexpected server address ${String(address)}`);
  }
  return {
    port: address.port,
    release: () => new Promise<void>((resolve) => (server as net.Server).close(() => resolve())),
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  const held = await holdPort();
  await held.release();
  return held.port;
}

/** Ports that were free a moment ago and are distinct from each other. */
export async function freePorts(count: number): Promise<number[]> {
  const held: HeldPort[] = [];
  try {
    for (let i = 0; i < count; i += 1) held.push(await holdPort());
    return held.map((h) => h.port);
  } finally {
    await Promise.all(held.map((h) => h.release()));
  }
}

/** `ports[index]`, failing loudly instead of yielding `undefined`. */
export function portAt(ports: readonly number[], index: number): number {
  const port = ports[index];
  if (port === undefined) throw new Error(`freePorts: no port at index ${index} of ${ports.length}`);
  return port;
}

// ---------------------------------------------------------------------------
// Installation

let installation: Promise<void> | undefined;

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Make sure `binaries` exist: as root install the Debian packages (once per
 * process, shared by parallel callers so apt never races itself), otherwise
 * throw with the command the user has to run. Never skips silently.
 */
export async function requireBinaries(broker: string, binaries: readonly string[]): Promise<void> {
  const missing = binaries.filter((file) => !isExecutable(file));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${broker} is not installed (${missing.join(', ')} missing); run: ${INSTALL_COMMAND}`);
  }
  installation ??= installDebianPackages(DEBIAN_PACKAGES);
  await installation;
  const stillMissing = binaries.filter((file) => !isExecutable(file));
  if (stillMissing.length > 0) {
    throw new Error(`${stillMissing.join(', ')} still missing after apt-get install ${DEBIAN_PACKAGES.join(' ')}`);
  }
}

/**
 * `apt-get install` `packages` (as root), with `apt-get update` first only
 * when the install fails (a fresh machine has no package lists yet).
 *
 * @throws naming the command and its exit code, with the end of its output
 */
export async function installDebianPackages(packages: readonly string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const installArgs = ['install', '-y', '-qq', ...packages];
  debug('installing %o', packages);
  let result = await runToCompletion('apt-get', installArgs, env);
  if (result.code !== 0) {
    // A fresh machine often has no package lists yet; only then is `update` worth its time.
    debug('apt-get install failed (exit %s), running apt-get update', result.code);
    await runToCompletion('apt-get', ['update', '-qq'], env);
    result = await runToCompletion('apt-get', installArgs, env);
  }
  if (result.code !== 0) {
    throw new Error(`apt-get ${installArgs.join(' ')} failed with exit code ${String(result.code)}:\n${result.output.slice(-LOG_TAIL_LINES).join('\n')}`);
  }
}

async function runToCompletion(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string[] }> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  collectLines(child, (line) => {
    output.push(line);
    debug('%s: %s', command, line);
  });
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      output.push(`${command}: ${err.message}`);
      resolve(null);
    });
    child.once('close', (exitCode) => resolve(exitCode));
  });
  return { code, output };
}

// ---------------------------------------------------------------------------
// Process bookkeeping

/** Process groups we created and have not yet seen die; SIGKILLed if Node exits first. */
const liveGroups = new Set<number>();
/** Temp dirs of brokers not yet stopped; removed if Node exits first. */
const liveDirs = new Set<string>();
let hooksInstalled = false;

/** Send `signal` to `pid` (a negative pid: a process group); a process that is already gone is fine. */
export function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    // ESRCH: already gone, which is what we want.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') debug('kill(%d, %s): %s', pid, signal, (err as Error).message);
  }
}

/** Last resort on exit: SIGKILL every process of ours (including descendants in their own sessions) and drop temp dirs. */
function killAllSync(): void {
  for (const pgid of liveGroups) {
    sendSignal(-pgid, 'SIGKILL');
    for (const pid of ourProcesses(pgid, [pgid])) sendSignal(pid, 'SIGKILL');
  }
  for (const dir of liveDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort while exiting; the dir is under os.tmpdir().
    }
  }
}

/**
 * Our children lead their own process groups, so they do not receive the
 * terminal's SIGINT and would outlive an unexpected exit. The 'exit' hook
 * covers uncaught exceptions and process.exit(). For SIGINT/SIGTERM/SIGHUP we
 * only step in when nobody else handles the signal (the test runner does,
 * and stops brokers gracefully): kill the children, then re-raise the signal
 * so Node's default behaviour still happens.
 */
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (process.listenerCount(signal) > 0) continue;
    const onSignal = (): void => {
      killAllSync();
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

/** A process started by {@link spawnTracked}; it leads its own process group (`pid` is also the group id). */
export interface Spawned {
  /** Label used in logs and error messages. */
  readonly name: string;
  /** Process id, and id of its process group. */
  readonly pid: number;
  /** Last output lines, for error messages. */
  readonly tail: string[];
  /** Why the process is no longer running, or undefined while it runs. */
  exitReason(): string | undefined;
}

/** Call `onLine` for each line the child writes to stdout or stderr. */
function collectLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
  }
}

/**
 * Spawn `command` detached (own session and process group) with output piped
 * into a ring buffer, `debug`, and `log`. Resolves once the process exists.
 */
export async function spawnTracked(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string, log: BrokerOptions['log']): Promise<Spawned> {
  installHooks();
  const child = spawn(command, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let reason: string | undefined;
  collectLines(child, (line) => {
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
    debug('%s: %s', name, line);
    log?.(`${name}: ${line}`);
  });
  child.once('exit', (code, signal) => {
    reason = signal === null ? `exited with code ${String(code)}` : `killed by ${signal}`;
    debug('%s (pid %d) %s', name, child.pid, reason);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`cannot start ${name} (${command}): ${err.message}`)));
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${name} (${command}): no pid`);
  liveGroups.add(pid);
  debug('%s started, pid %d: %s %s', name, pid, command, args.join(' '));
  return { name, pid, tail, exitReason: () => reason };
}

/** Outcome of {@link runTracked}. */
export interface RunResult {
  /** Exit code, or null when a signal ended the process. */
  readonly code: number | null;
  /** Signal that ended the process, or null. */
  readonly signal: NodeJS.Signals | null;
  /** Everything the process wrote to stdout. */
  readonly stdout: string;
  /** Everything the process wrote to stderr. */
  readonly stderr: string;
  /** Why the harness killed the process (`timed out after 30 s`, `aborted`), if it did. */
  readonly killedBecause?: string;
}

/**
 * Run a short-lived command to completion, detached in a process group of its
 * own that the exit hook kills like {@link spawnTracked}'s, collecting stdout
 * and stderr separately. After `timeoutMs`, or once `signal` aborts, the whole
 * group is SIGKILLed and the result says why. Rejects only if the command
 * cannot be started (or `signal` was already aborted).
 */
export async function runTracked(
  name: string,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<RunResult> {
  installHooks();
  if (options.signal?.aborted) throw new Error(`${name}: aborted before it started`);
  const child = spawn(command, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, signal) => resolve([code, signal])));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`cannot start ${name} (${command}): ${err.message}`)));
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${name} (${command}): no pid`);
  liveGroups.add(pid);
  let killedBecause: string | undefined;
  const killGroup = (why: string): void => {
    killedBecause ??= why;
    sendSignal(-pid, 'SIGKILL');
  };
  const timer = setTimeout(() => killGroup(`timed out after ${options.timeoutMs / 1000} s`), options.timeoutMs);
  const onAbort = (): void => killGroup('aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const [code, signal] = await closed;
    debug('%s (pid %d) %s', name, pid, signal === null ? `exited with code ${String(code)}` : `killed by ${signal}`);
    return { code, signal, stdout, stderr, ...(killedBecause === undefined ? {} : { killedBecause }) };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    // Whatever the command left behind in its group goes with it.
    sendSignal(-pid, 'SIGKILL');
    liveGroups.delete(pid);
  }
}

interface ProcEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly pgrp: number;
  /** Zombies and dead entries count as gone: they hold no resources and cannot be killed further. */
  readonly alive: boolean;
}

function readProcEntry(pid: number): ProcEntry | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses; the fields after the last ')' do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0] ?? 'X';
  return { pid, ppid: Number(fields[1]), pgrp: Number(fields[2]), alive: state !== 'Z' && state !== 'X' };
}

function listProcesses(): ProcEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const entries: ProcEntry[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const entry = readProcEntry(Number(name));
    if (entry) entries.push(entry);
  }
  return entries;
}

function isAlive(pid: number): boolean {
  const entry = readProcEntry(pid);
  if (entry) return entry.alive;
  if (fs.existsSync('/proc/self/stat')) return false;
  try {
    process.kill(pid, 0); // no /proc (not Linux): fall back to a signal probe
    return true;
  } catch {
    return false;
  }
}

/**
 * Live processes that are ours: members of process group `pgid`, the `roots`,
 * and all their descendants (which catches anything that called setsid, like
 * `epmd -daemon`).
 */
function ourProcesses(pgid: number, roots: Iterable<number>): Set<number> {
  const procs = listProcesses().filter((p) => p.alive);
  const ours = new Set<number>();
  for (const p of procs) if (p.pgrp === pgid) ours.add(p.pid);
  for (const pid of roots) if (isAlive(pid)) ours.add(pid);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (!ours.has(p.pid) && ours.has(p.ppid)) {
        ours.add(p.pid);
        grew = true;
      }
    }
  }
  return ours;
}

/** Resolve after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `root` and all its live descendants (by parent pid), `root` first; empty if `root` is gone. */
export function processTree(root: number): number[] {
  if (!isAlive(root)) return [];
  const procs = listProcesses().filter((p) => p.alive);
  const tree = [root];
  const members = new Set(tree);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (!members.has(p.pid) && members.has(p.ppid)) {
        members.add(p.pid);
        tree.push(p.pid);
        grew = true;
      }
    }
  }
  return tree;
}

/**
 * Wait until every process of ours is gone or `timeoutMs` passes; returns the
 * survivors. `seen` accumulates, so a process reparented to init is still
 * waited for.
 */
async function waitForExit(pgid: number, seen: Set<number>, timeoutMs: number): Promise<Set<number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const pid of ourProcesses(pgid, seen)) seen.add(pid);
    const survivors = new Set([...seen].filter(isAlive));
    if (survivors.size === 0 || Date.now() >= deadline) return survivors;
    await sleep(50);
  }
}

/**
 * SIGTERM `graceful` pids, wait up to `graceMs`, then SIGKILL the whole
 * process group and every remaining process of ours. With `signal: 'SIGKILL'`
 * skip the SIGTERM step (a simulated crash).
 */
export async function terminate(spawned: Spawned, graceful: readonly number[], options: { signal?: 'SIGTERM' | 'SIGKILL'; graceMs?: number } = {}): Promise<void> {
  const pgid = spawned.pid;
  const graceMs = options.graceMs ?? STOP_GRACE_MS;
  const seen = ourProcesses(pgid, [pgid, ...graceful]);
  if (seen.size > 0) {
    let survivors = seen;
    if (options.signal !== 'SIGKILL') {
      for (const pid of graceful) sendSignal(pid, 'SIGTERM');
      survivors = await waitForExit(pgid, seen, graceMs);
      if (survivors.size > 0) debug('%s: pids %o still running after %d ms, sending SIGKILL', spawned.name, [...survivors], graceMs);
    }
    if (survivors.size > 0) {
      sendSignal(-pgid, 'SIGKILL');
      for (const pid of survivors) sendSignal(pid, 'SIGKILL');
      survivors = await waitForExit(pgid, seen, KILL_WAIT_MS);
    }
    if (survivors.size > 0) {
      throw new Error(`${spawned.name}: pids ${[...survivors].join(', ')} survived SIGKILL`);
    }
  }
  liveGroups.delete(pgid);
  debug('%s stopped (pids %o)', spawned.name, [...seen]);
}

/** Make `stop` run at most once; later calls get the same promise. */
export function once(stop: () => Promise<void>): () => Promise<void> {
  let result: Promise<void> | undefined;
  return () => (result ??= stop());
}

// ---------------------------------------------------------------------------
// Readiness

/**
 * Poll `probe` until it resolves. Fails early if `exited()` reports the server
 * died, or after `timeoutMs`; the error carries `describe()` (the log tail).
 */
async function waitUntilReady(what: string, probe: () => Promise<void>, exited: () => string | undefined, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt made';
  for (;;) {
    const reason = exited();
    if (reason !== undefined) throw new Error(`${what} ${reason} before accepting connections\n${describe()}`);
    try {
      await probe();
      return;
    } catch (err) {
      lastError = (err as Error).message || String(err);
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what} did not accept connections within ${timeoutMs / 1000} s (last error: ${lastError})\n${describe()}`);
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

/** Ask epmd for its registered names (NAMES_REQ); a bare connect would make it log "partial packet". */
async function probeEpmd(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: LOOPBACK, port });
    socket.setTimeout(2_000, () => socket.destroy(new Error(`epmd on port ${port} did not answer NAMES_REQ`)));
    socket.once('connect', () => socket.write(Buffer.from([0, 1, 110]))); // length 1, 'n'
    socket.once('data', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`epmd on port ${port} closed the connection without answering`)));
  });
}

/** Open and close an AMQP connection (2 s timeout); rejects if the broker does not complete the handshake. */
export async function probeAmqp(url: string): Promise<void> {
  const connection = await amqp.connect(url, { timeout: 2_000 });
  connection.on('error', (err: Error) => debug('probe connection error: %s', err.message));
  await connection.close();
}

async function probeMqtt(url: string): Promise<void> {
  // allowRetries=false: a refused connection rejects instead of reconnecting forever.
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2_000, clientId: `probe-${randomBytes(4).toString('hex')}` }, false);
  const connected = client.connected;
  await client.endAsync(true);
  if (!connected) throw new Error('MQTT client ended without CONNACK');
}

/** A plain TCP connect, for the TLS listener: a handshake would need client certificates we may not have. */
async function probeTcp(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: LOOPBACK, port });
    socket.setTimeout(2_000, () => socket.destroy(new Error(`no connection to ${LOOPBACK}:${port}`)));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

/** `lines` as an indented block headed by `label`, for error messages. */
export function formatTail(label: string, lines: readonly string[]): string {
  if (lines.length === 0) return `(no ${label} output)`;
  return [`last ${label} output:`, ...lines.map((line) => `  ${line}`)].join('\n');
}

/** Last lines of every file in `dir` (RabbitMQ logs to files there, not to stdout). */
export function fileTails(dir: string): string {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return '';
  }
  return names
    .map((name) => {
      const text = fs.readFileSync(path.join(dir, name), 'utf8');
      return formatTail(name, text.split('\n').filter(Boolean).slice(-LOG_TAIL_LINES));
    })
    .join('\n');
}

/** A new temp dir under os.tmpdir(), removed by the process-exit hook unless {@link removeDir} removes it first. */
export async function makeTempDir(prefix: string): Promise<string> {
  installHooks();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  liveDirs.add(dir);
  return dir;
}

/** Remove a dir made by {@link makeTempDir} and forget it. */
export async function removeDir(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  liveDirs.delete(dir);
}

/** Run `stop`, but report (not mask) the original startup error. */
export async function cleanupAfterFailure(stop: () => Promise<void>, original: unknown): Promise<never> {
  await stop().catch((err: unknown) => debug('cleanup after failed start: %s', (err as Error).message));
  throw original;
}

// ---------------------------------------------------------------------------
// Lifecycle (shared by both brokers)

/** What differs between the brokers; {@link manage} adds the state machine around it. */
interface ServerControl {
  /**
   * Spawn the broker server and wait until it accepts connections. The wait
   * fails promptly once `aborted()` returns true (stop() was called). On any
   * failure the spawned server is killed before the promise rejects.
   */
  launch(aborted: () => boolean): Promise<void>;
  /** Stop the running server process tree (not RabbitMQ's epmd); SIGTERM first unless `signal` is SIGKILL. */
  halt(signal: 'SIGTERM' | 'SIGKILL', graceMs: number): Promise<void>;
  /** Stop the helper processes (epmd) and remove the temp dir; the server is already down. */
  dispose(): Promise<void>;
}

/** Ensure the TLS files exist and are readable now, rather than at the first handshake (RabbitMQ reads them lazily). */
async function resolveTls(tls: TlsMaterial): Promise<Required<TlsMaterial>> {
  const resolved = {
    ca: path.resolve(tls.ca),
    cert: path.resolve(tls.cert),
    key: path.resolve(tls.key),
    requireClientCert: tls.requireClientCert ?? false,
  };
  for (const file of [resolved.ca, resolved.cert, resolved.key]) {
    if (/\s/.test(file)) throw new Error(`TLS file path must not contain whitespace (broker config syntax): ${JSON.stringify(file)}`);
    await fsp.access(file, fs.constants.R_OK);
  }
  return resolved;
}

/** Wrap a started server in a {@link BrokerHandle}: serialized restart/kill/start, and a stop() that wins over all of them. */
function manage(kind: BrokerHandle['kind'], url: string, tlsUrl: string | undefined, control: ServerControl): BrokerHandle {
  let running = true;
  let stopping = false;
  let queue: Promise<void> = Promise.resolve();
  let wakeUp: (() => void) | undefined;

  const serialize = (what: string, operation: () => Promise<void>): Promise<void> => {
    const result = queue.then(() => {
      if (stopping) throw new Error(`${what}: broker ${url} has been stopped`);
      return operation();
    });
    queue = result.catch(() => undefined);
    return result;
  };
  const down = async (signal: 'SIGTERM' | 'SIGKILL', graceMs: number): Promise<void> => {
    if (!running) return;
    running = false;
    await control.halt(signal, graceMs);
  };
  const up = async (): Promise<void> => {
    if (running) return;
    if (stopping) throw new Error(`broker ${url} has been stopped`);
    await control.launch(() => stopping);
    running = true;
  };
  /** A downtime that stop() can cut short. */
  const pause = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakeUp = done;
    });

  return {
    kind,
    url,
    ...(tlsUrl === undefined ? {} : { tlsUrl }),
    restart: (options: RestartOptions = {}) =>
      serialize('restart', async () => {
        const started = Date.now();
        await down(options.signal ?? 'SIGTERM', RESTART_GRACE_MS);
        const stoppedAt = Date.now();
        if (options.downtimeMs !== undefined && options.downtimeMs > 0) await pause(options.downtimeMs);
        const startingAt = Date.now();
        await up();
        debug('%s restarted: down in %d ms, up in %d ms', url, stoppedAt - started, Date.now() - startingAt);
      }),
    kill: () => serialize('kill', () => down('SIGKILL', 0)),
    start: () => serialize('start', up),
    stop: once(async () => {
      stopping = true;
      wakeUp?.();
      await queue; // a pending launch notices `stopping` within one poll
      try {
        await down('SIGTERM', STOP_GRACE_MS);
      } finally {
        await control.dispose();
        debug('%s stopped', url);
      }
    }),
  };
}

/**
 * Spawn via `spawnServer`, then wait with `probes` until ready; kill the new server
 * if that fails. Shared by both brokers' {@link ServerControl.launch}.
 */
export async function launchServer(
  what: string,
  spawnServer: () => Promise<Spawned>,
  probes: readonly (() => Promise<void>)[],
  gracefulPids: (server: Spawned) => number[],
  aborted: () => boolean,
  timeoutMs: number,
  describe: (server: Spawned) => string,
): Promise<Spawned> {
  const server = await spawnServer();
  const exited = (): string | undefined => (aborted() ? 'was stopped (stop() called)' : server.exitReason());
  try {
    for (const probe of probes) await waitUntilReady(what, probe, exited, timeoutMs, () => describe(server));
  } catch (err) {
    await terminate(server, gracefulPids(server), { signal: 'SIGKILL' }).catch((killErr: unknown) => debug('killing %s after failed start: %s', what, (killErr as Error).message));
    throw err;
  }
  return server;
}

// ---------------------------------------------------------------------------
// RabbitMQ

/** Environment without inherited RabbitMQ/Erlang settings, which could point the node elsewhere. */
function isolatedEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('RABBITMQ_') && !key.startsWith('ERL_')) env[key] = value;
  }
  return { ...env, ...extra };
}

/** Read the beam.smp pid RabbitMQ writes; the spawned shell script forks it, so it is not child.pid. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Files of one RabbitMQ node under its dir (see {@link rabbitNodeEnv}). */
export interface RabbitNodeFiles {
  /** beam.smp's pid, written by RabbitMQ once it runs. */
  readonly pidFile: string;
  /** RabbitMQ's log files. */
  readonly logDir: string;
  /** rabbitmq.conf ({@link writeRabbitNodeConfig} writes it). */
  readonly configFile: string;
  /** The enabled plugins file: none. */
  readonly enabledPluginsFile: string;
}

/** Where a RabbitMQ node with files in `dir` keeps them. */
export function rabbitNodeFiles(dir: string): RabbitNodeFiles {
  return {
    pidFile: path.join(dir, 'pid'),
    logDir: path.join(dir, 'log'),
    configFile: path.join(dir, 'rabbitmq.conf'),
    enabledPluginsFile: path.join(dir, 'enabled_plugins'),
  };
}

/** Identity and addresses of a private RabbitMQ node, for {@link rabbitNodeEnv}. */
export interface RabbitNodeSettings {
  /** $HOME of the node and its CLI tools: the Erlang cookie is `home/.erlang.cookie`. */
  readonly home: string;
  /** Dir of the node's own files ({@link rabbitNodeFiles}) and mnesia data. */
  readonly dir: string;
  /** Erlang node name, `name@localhost`; the same name means the same mnesia dir after a restart. */
  readonly nodeName: string;
  /** AMQP listener port on 127.0.0.1. */
  readonly amqpPort: number;
  /** Erlang distribution port. */
  readonly distPort: number;
  /** Port of the private epmd (see {@link startEpmd}). */
  readonly epmdPort: number;
}

/**
 * Environment for `rabbitmq-server` (and `rabbitmqctl` against it): nothing
 * inherited from RABBITMQ_* / ERL_* variables, nothing read from /etc/rabbitmq,
 * distribution on 127.0.0.1 via the private epmd.
 */
export function rabbitNodeEnv(node: RabbitNodeSettings): NodeJS.ProcessEnv {
  const files = rabbitNodeFiles(node.dir);
  return isolatedEnv({
    HOME: node.home, // the Erlang cookie is written to $HOME
    ERL_EPMD_PORT: String(node.epmdPort),
    // RabbitMQ runs helper `erl -sname ...` nodes, which would try `epmd -daemon` (a session of its
    // own, on 0.0.0.0) before finding ours; never start one, ours is already up.
    ERL_FLAGS: '-start_epmd false',
    RABBITMQ_NODENAME: node.nodeName,
    RABBITMQ_NODE_IP_ADDRESS: LOOPBACK,
    RABBITMQ_NODE_PORT: String(node.amqpPort),
    RABBITMQ_DIST_PORT: String(node.distPort),
    RABBITMQ_MNESIA_BASE: path.join(node.dir, 'mnesia'),
    RABBITMQ_LOG_BASE: files.logDir,
    RABBITMQ_ENABLED_PLUGINS_FILE: files.enabledPluginsFile,
    RABBITMQ_CONFIG_FILE: files.configFile.replace(/\.conf$/, ''), // RabbitMQ appends .conf itself
    // Keep /etc/rabbitmq out of it: these files need not exist.
    RABBITMQ_CONF_ENV_FILE: path.join(node.dir, 'rabbitmq-env.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(node.dir, 'advanced.config'),
    RABBITMQ_PID_FILE: files.pidFile,
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-kernel inet_dist_use_interface {127,0,0,1}`,
  });
}

/** Write the node's rabbitmq.conf (`lines`) and an empty enabled plugins file. */
export async function writeRabbitNodeConfig(dir: string, lines: readonly string[]): Promise<void> {
  const files = rabbitNodeFiles(dir);
  await fsp.writeFile(files.enabledPluginsFile, '[].\n');
  await fsp.writeFile(files.configFile, `${lines.join('\n')}\n`);
}

/**
 * Start a private epmd on 127.0.0.1:`port` and wait until it answers. The
 * system one (if any) listens on 0.0.0.0 and is not ours. It runs until
 * {@link terminate}d; stop it only after the nodes using it, so they can
 * unregister cleanly. Killed again if it does not come up.
 */
export async function startEpmd(dir: string, port: number, log: BrokerOptions['log']): Promise<Spawned> {
  const env = isolatedEnv({ HOME: dir, ERL_EPMD_PORT: String(port) });
  const epmd = await spawnTracked('epmd', EPMD, ['-address', LOOPBACK, '-port', String(port)], env, dir, log);
  try {
    await waitUntilReady(`epmd on ${LOOPBACK}:${port}`, () => probeEpmd(port), () => epmd.exitReason(), EPMD_READY_TIMEOUT_MS, () => formatTail('epmd', epmd.tail));
  } catch (err) {
    await terminate(epmd, [epmd.pid], { signal: 'SIGKILL' }).catch((killErr: unknown) => debug('killing epmd after failed start: %s', (killErr as Error).message));
    throw err;
  }
  return epmd;
}

/**
 * Start a private RabbitMQ node on 127.0.0.1 with its own epmd, data dir and
 * cookie, and wait until it accepts AMQP connections (typically ~5 s).
 *
 * With `options.tls` it also gets an AMQPS listener ({@link BrokerHandle.tlsUrl})
 * that verifies client certificates against `tls.ca` when presented
 * (`verify_peer`) and refuses clients without one if `requireClientCert`.
 *
 * The node name, epmd, ports and mnesia dir stay the same across
 * {@link BrokerHandle.restart}, so durable queues and persistent messages survive it.
 */
export async function startRabbitMQ(options: BrokerOptions = {}): Promise<BrokerHandle> {
  await requireBinaries('RabbitMQ', [RABBITMQ_SERVER, EPMD]);
  const tls = options.tls === undefined ? undefined : await resolveTls(options.tls);
  const started = Date.now();
  const dir = await makeTempDir('noflo-msgflo-rabbitmq-');
  const ports = await freePorts(tls ? 4 : 3);
  const amqpPort = portAt(ports, 0);
  const distPort = portAt(ports, 1);
  const epmdPort = portAt(ports, 2);
  const tlsPort = tls ? portAt(ports, 3) : undefined;
  const url = `amqp://guest:guest@${LOOPBACK}:${amqpPort}`;
  const tlsUrl = tlsPort === undefined ? undefined : `amqps://guest:guest@${LOOPBACK}:${tlsPort}`;
  const nodeName = `rt${randomBytes(6).toString('hex')}@localhost`;
  const { pidFile, logDir } = rabbitNodeFiles(dir);

  const config = [`listeners.tcp.1 = ${LOOPBACK}:${amqpPort}`, 'loopback_users = none'];
  if (tls && tlsPort !== undefined) {
    config.push(
      `listeners.ssl.1 = ${LOOPBACK}:${tlsPort}`,
      `ssl_options.cacertfile = ${tls.ca}`,
      `ssl_options.certfile = ${tls.cert}`,
      `ssl_options.keyfile = ${tls.key}`,
      'ssl_options.verify = verify_peer',
      `ssl_options.fail_if_no_peer_cert = ${String(tls.requireClientCert)}`,
    );
  }
  await writeRabbitNodeConfig(dir, config);

  let epmd: Spawned | undefined;
  let server: Spawned | undefined;
  const describe = (current: Spawned | undefined = server): string =>
    [formatTail('epmd', epmd?.tail ?? []), formatTail('rabbitmq-server', current?.tail ?? []), fileTails(logDir)].filter(Boolean).join('\n');
  // SIGTERM goes to beam.smp (clean shutdown: init:stop) and to the wrapper script, which forwards it.
  const gracefulPids = (spawned: Spawned): number[] => {
    const beamPid = readPidFile(pidFile);
    return beamPid === undefined ? [spawned.pid] : [beamPid, spawned.pid];
  };
  // Fixed for the node's lifetime: the same node name means the same mnesia dir after a restart.
  const serverEnv = rabbitNodeEnv({ home: dir, dir, nodeName, amqpPort, distPort, epmdPort });
  const probes = [() => probeAmqp(url), ...(tlsPort === undefined ? [] : [() => probeTcp(tlsPort)])];

  const control: ServerControl = {
    async launch(aborted) {
      // A pid file left by a killed node would name a dead (or, worse, reused) pid.
      await fsp.rm(pidFile, { force: true });
      server = await launchServer(
        `RabbitMQ on ${url}`,
        // /usr/lib/..., not /usr/sbin/rabbitmq-server, which would switch to the rabbitmq user.
        () => spawnTracked('rabbitmq-server', RABBITMQ_SERVER, [], serverEnv, dir, options.log),
        probes,
        gracefulPids,
        aborted,
        RABBITMQ_READY_TIMEOUT_MS,
        describe,
      );
    },
    async halt(signal, graceMs) {
      const current = server;
      if (!current) return;
      await terminate(current, gracefulPids(current), { signal, graceMs });
      server = undefined;
    },
    async dispose() {
      // Only after the node is down, so it can unregister cleanly.
      if (epmd) await terminate(epmd, [epmd.pid]);
      await removeDir(dir);
    },
  };

  try {
    // Our own epmd on a private port. It keeps running across restarts and is stopped only by stop().
    epmd = await startEpmd(dir, epmdPort, options.log);
    await control.launch(() => false);
  } catch (err) {
    return cleanupAfterFailure(() => control.dispose(), err);
  }
  debug('RabbitMQ ready on %s%s after %d ms (dir %s, beam pid %s)', url, tlsUrl === undefined ? '' : ` and ${tlsUrl}`, Date.now() - started, dir, readPidFile(pidFile));
  return manage('amqp', url, tlsUrl, control);
}

// ---------------------------------------------------------------------------
// Mosquitto

/**
 * Start a private Mosquitto on 127.0.0.1 with persistence in its own temp dir,
 * and wait until it accepts MQTT connections.
 *
 * The persistence DB (sessions, subscriptions, queued QoS 1/2 messages,
 * retained messages) is written on SIGTERM and every ~1 s (autosave), so a
 * clean {@link BrokerHandle.restart} loses nothing and a crash (`kill()`)
 * loses at most the last couple of seconds.
 *
 * With `options.tls` it also gets an MQTTS listener ({@link BrokerHandle.tlsUrl});
 * with `requireClientCert` it refuses clients without a certificate signed by `tls.ca`.
 */
export async function startMosquitto(options: BrokerOptions = {}): Promise<BrokerHandle> {
  await requireBinaries('Mosquitto', [MOSQUITTO]);
  const tls = options.tls === undefined ? undefined : await resolveTls(options.tls);
  const started = Date.now();
  const dir = await makeTempDir('noflo-msgflo-mosquitto-');
  const ports = await freePorts(tls ? 2 : 1);
  const port = portAt(ports, 0);
  const tlsPort = tls ? portAt(ports, 1) : undefined;
  const url = `mqtt://${LOOPBACK}:${port}`;
  const tlsUrl = tlsPort === undefined ? undefined : `mqtts://${LOOPBACK}:${tlsPort}`;
  const configFile = path.join(dir, 'mosquitto.conf');
  const config = [
    // Global settings first: listener-specific ones apply to the `listener` line above them.
    'per_listener_settings false',
    'allow_anonymous true',
    `persistence ${String(options.persistence ?? true)}`,
    `persistence_location ${dir}/`,
    // Seconds; besides this, Mosquitto writes the DB on a clean (SIGTERM) shutdown.
    'autosave_interval 1',
    // Unlimited in flight and a deep queue: tests push bursts through single clients.
    'max_queued_messages 100000',
    'max_inflight_messages 0',
    ...(options.tcpNoDelay ? ['set_tcp_nodelay true'] : []),
    // As root Mosquitto would drop to the "mosquitto" user, which cannot write our 0700 temp dir
    // (nor read TLS keys in someone else's); naming the current user keeps it as is (ignored when not root).
    `user ${os.userInfo().username}`,
    'log_dest stderr',
    `listener ${port} ${LOOPBACK}`,
  ];
  if (tls && tlsPort !== undefined) {
    config.push(
      `listener ${tlsPort} ${LOOPBACK}`,
      `cafile ${tls.ca}`,
      `certfile ${tls.cert}`,
      `keyfile ${tls.key}`,
      `require_certificate ${String(tls.requireClientCert)}`,
    );
  }
  await fsp.writeFile(configFile, `${config.join('\n')}\n`);

  let server: Spawned | undefined;
  const probes = [() => probeMqtt(url), ...(tlsPort === undefined ? [] : [() => probeTcp(tlsPort)])];
  const control: ServerControl = {
    async launch(aborted) {
      server = await launchServer(
        `Mosquitto on ${url}`,
        () => spawnTracked('mosquitto', MOSQUITTO, ['-c', configFile], { ...process.env }, dir, options.log),
        probes,
        (spawned) => [spawned.pid],
        aborted,
        MOSQUITTO_READY_TIMEOUT_MS,
        (current) => formatTail('mosquitto', current.tail),
      );
    },
    async halt(signal, graceMs) {
      const current = server;
      if (!current) return;
      await terminate(current, [current.pid], { signal, graceMs });
      server = undefined;
    },
    async dispose() {
      await removeDir(dir);
    },
  };

  try {
    await control.launch(() => false);
  } catch (err) {
    return cleanupAfterFailure(() => control.dispose(), err);
  }
  debug('Mosquitto ready on %s%s after %d ms (dir %s)', url, tlsUrl === undefined ? '' : ` and ${tlsUrl}`, Date.now() - started, dir);
  return manage('mqtt', url, tlsUrl, control);
}
