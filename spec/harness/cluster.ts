/**
 * Test harness: a private RabbitMQ cluster on loopback.
 *
 * {@link startRabbitMQCluster} runs several RabbitMQ nodes (3 by default) as
 * one cluster: each with its own AMQP and distribution port on 127.0.0.1, its
 * own mnesia and log dirs, all sharing one private epmd (on a free port, via
 * ERL_EPMD_PORT) and one Erlang cookie (`.erlang.cookie` in a shared $HOME),
 * all under one temp dir. Processes are tracked like those of ./brokers (own
 * process groups, killed by stop() and by the process-exit hook).
 *
 * For fault injection the handle kills (SIGKILL), starts, pauses (SIGSTOP)
 * and resumes (SIGCONT) single nodes and runs `rabbitmqctl` against them.
 *
 * Test files run in `node --test` processes of their own, while the runner
 * (spec/run.ts) owns the shared cluster. So that they can still kill and start
 * its nodes, the runner serves the handle on a Unix socket
 * ({@link serveClusterControl}) and names it in
 * NOFLO_MSGFLO_TEST_AMQP_CLUSTER_CONTROL; {@link attachCluster} gives tests a
 * handle that forwards every operation there. All node processes stay children
 * of the runner, which stops them at the end whatever the tests did.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import createDebug from 'debug';
import {
  cleanupAfterFailure,
  EPMD,
  LOOPBACK,
  POLL_INTERVAL_MS,
  RABBITMQCTL,
  RABBITMQ_READY_TIMEOUT_MS,
  RABBITMQ_SERVER,
  fileTails,
  formatTail,
  freePorts,
  launchServer,
  makeTempDir,
  once,
  portAt,
  probeAmqp,
  processTree,
  rabbitNodeEnv,
  rabbitNodeFiles,
  readPidFile,
  removeDir,
  requireBinaries,
  runTracked,
  sendSignal,
  sleep,
  spawnTracked,
  startEpmd,
  terminate,
  writeRabbitNodeConfig,
  type RabbitNodeFiles,
  type Spawned,
} from './brokers';
import { AMQP_CLUSTER_CONTROL_VAR, AMQP_CLUSTER_URLS_VAR, clusterUrls } from './env';

/**
 * Erlang's `net_ticktime` of the test cluster's nodes, in s: how long a silent
 * (frozen) node is waited for before the others give it up. RabbitMQ's
 * default is 60; lowered to keep the frozen-node test short.
 */
export const NET_TICKTIME_S = 10;

const debug = createDebug('noflo-runtime-msgflo:spec:cluster');

/** Options for {@link startRabbitMQCluster}. */
export interface ClusterOptions {
  /** Number of nodes; default 3. */
  nodes?: number;
  /** Receives every output line of the node processes (prefixed with `rabbit-<n>`, n from 1). */
  log?: (line: string) => void;
}

/**
 * Node control of a RabbitMQ cluster: what {@link attachCluster} gives a test
 * file, and part of a {@link ClusterHandle}. Nodes are numbered from 0.
 *
 * Operations on one node run one after the other (in the order they were
 * called, whichever process called them); operations on different nodes may
 * run at the same time. A node index out of range rejects with a RangeError.
 */
export interface ClusterControl {
  /** `amqp://guest:guest@127.0.0.1:<port>`, one per node (index = node). */
  readonly urls: readonly string[];
  /** Erlang node names (`rc<hex>-<n>@localhost`, n from 1), index = node. */
  readonly nodeNames: readonly string[];
  /**
   * SIGKILL the node (its beam.smp and everything else it runs): a crash,
   * nothing flushed beyond what it already wrote. It stays down, with its
   * data, ports and name kept for {@link start}. No-op if it is down; a
   * paused node is killed too.
   */
  kill(node: number): Promise<void>;
  /**
   * Start a node that is down again, with the same data, ports and name;
   * resolves once it accepts AMQP connections and its `cluster_status` lists
   * as running itself and every other node that is running (not paused, not
   * down). No-op if it runs; rejects if it is paused (use {@link resume}).
   * On failure it rejects with the node's log tail.
   *
   * If every node is down, start them together (`Promise.all`, or
   * {@link restore}): a booting node waits for the peers it last saw running.
   */
  start(node: number): Promise<void>;
  /**
   * SIGSTOP the node's beam.smp and its child processes: a frozen node. Its
   * sockets stay open, but it answers nothing (AMQP heartbeats included).
   * Rejects if the node is down; no-op if already paused.
   *
   * The other nodes give a paused node up after {@link NET_TICKTIME_S} (the
   * cluster's `net_ticktime`, 60 s in a default RabbitMQ): only then do they
   * serve its quorum queues' leaders again. A longer pause is a network
   * partition (the cluster runs `cluster_partition_handling = autoheal`, which
   * restarts the RabbitMQ application on the losing side after resume, and
   * can take long): to end one, {@link kill} the node and {@link start} it.
   */
  pause(node: number): Promise<void>;
  /** SIGCONT what {@link pause} stopped. No-op unless the node is paused. */
  resume(node: number): Promise<void>;
  /**
   * Run `rabbitmqctl -n <node name> ...args` against the node (with its
   * environment: private epmd, the cluster's cookie) and resolve with its
   * stdout, e.g. `ctl(0, 'list_queues', 'name', 'type', 'leader')`. Add
   * `--formatter json` for machine-readable output, `-q` to drop the
   * "Listing queues ..." banner. Rejects with stdout and stderr if it exits
   * non-zero (against a node that is down: within about a second; paused:
   * about 15 s), and after 90 s.
   */
  ctl(node: number, ...args: string[]): Promise<string>;
  /**
   * Make the cluster whole again: resume every paused node, start every node
   * that is down, and wait until each node lists all of them as running. For
   * the `after` hook of a test file that disturbed a shared cluster.
   */
  restore(): Promise<void>;
}

/** A RabbitMQ cluster started by {@link startRabbitMQCluster}. */
export interface ClusterHandle extends ClusterControl {
  /**
   * Kill every node (SIGKILL: the data is thrown away anyway) and the epmd,
   * and remove the temp dir. Idempotent; bounded in time (a pending start or
   * `rabbitmqctl` is aborted). After it, every other operation rejects.
   * Rejects only if a process survived SIGKILL.
   */
  stop(): Promise<void>;
}

const DEFAULT_NODES = 3;
/** From accepting AMQP to being listed as clustered with every running node. */
const CLUSTER_READY_TIMEOUT_MS = 60_000;
/**
 * A joining node retries reaching node 1 this often before it gives up and
 * boots standalone (RabbitMQ's default: 10 times, every 500 ms, too little
 * when node 1 is slow to answer on a loaded machine)...
 */
const JOIN_RETRIES = 120;
/** ...at this interval. */
const JOIN_RETRY_INTERVAL_MS = 500;
/** Hard limit for one `rabbitmqctl` run (its own command timeouts are 60 s or infinite). */
const CTL_TIMEOUT_MS = 90_000;
/** Limit of a control request's body; requests are a few hundred bytes. */
const MAX_REQUEST_BYTES = 64 * 1024;

type NodeState = 'down' | 'starting' | 'running' | 'paused';

interface ClusterNode {
  readonly index: number;
  readonly name: string;
  readonly url: string;
  readonly dir: string;
  readonly files: RabbitNodeFiles;
  readonly serverEnv: NodeJS.ProcessEnv;
  readonly ctlEnv: NodeJS.ProcessEnv;
  /** The rabbitmq-server script's process (group leader of the node's processes); undefined while down. */
  server: Spawned | undefined;
  state: NodeState;
  /** Pids stopped by pause(). */
  paused: number[];
  /** Tail of this node's operation queue. */
  queue: Promise<unknown>;
}

/** A 20-letter Erlang cookie. */
function makeCookie(): string {
  return Array.from(randomBytes(20), (byte) => String.fromCharCode(65 + (byte % 26))).join('');
}

/** `running_nodes` from `rabbitmqctl cluster_status --formatter json`. */
function parseRunningNodes(output: string): string[] {
  let status: unknown;
  try {
    status = JSON.parse(output);
  } catch {
    throw new Error(`cluster_status printed no JSON: ${output.trim().slice(0, 500)}`);
  }
  const running = (status as { running_nodes?: unknown }).running_nodes;
  if (!Array.isArray(running) || !running.every((node): node is string => typeof node === 'string')) {
    throw new Error(`cluster_status JSON has no running_nodes list: ${output.trim().slice(0, 500)}`);
  }
  return running;
}

/**
 * Start a private RabbitMQ cluster on 127.0.0.1 and wait until every node
 * accepts AMQP connections and is listed as running in `cluster_status`.
 *
 * Node 1 (index 0) starts first and forms a cluster of its own; the others
 * then start in parallel and join it at boot through peer discovery
 * (`classic_config` naming node 1). All nodes run
 * `cluster_partition_handling = autoheal`, `loopback_users = none` and no
 * plugins; quorum queues work (feature flag enabled on a fresh cluster).
 * On failure everything started is stopped and the error carries the log tail.
 */
export async function startRabbitMQCluster(options: ClusterOptions = {}): Promise<ClusterHandle> {
  const count = options.nodes ?? DEFAULT_NODES;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`startRabbitMQCluster: nodes must be a positive integer, got ${String(count)}`);
  await requireBinaries('RabbitMQ', [RABBITMQ_SERVER, RABBITMQCTL, EPMD]);
  const started = Date.now();
  const dir = await makeTempDir('noflo-msgflo-rabbitcluster-');
  const id = `rc${randomBytes(4).toString('hex')}`;
  const abort = new AbortController();
  let stopping = false;
  let epmd: Spawned | undefined;
  const nodes: ClusterNode[] = [];

  // ---- node processes (no queueing here; see `serialize`)

  const describe = (node: ClusterNode, server: Spawned | undefined = node.server): string =>
    [formatTail(`rabbit-${node.index + 1} (rabbitmq-server)`, server?.tail ?? []), fileTails(node.files.logDir), ...(epmd?.exitReason() === undefined ? [] : [`epmd ${epmd.exitReason() ?? ''}`])]
      .filter(Boolean)
      .join('\n');

  const runCtl = async (node: ClusterNode, args: readonly string[]): Promise<string> => {
    const result = await runTracked(`rabbitmqctl ${args[0] ?? ''} (${node.name})`, RABBITMQCTL, ['-n', node.name, ...args], node.ctlEnv, node.dir, {
      timeoutMs: CTL_TIMEOUT_MS,
      signal: abort.signal,
    });
    if (result.code === 0 && result.killedBecause === undefined) return result.stdout;
    const why = result.killedBecause ?? (result.signal === null ? `exit code ${String(result.code)}` : `killed by ${result.signal}`);
    const output = [result.stdout.trim(), result.stderr.trim()].filter(Boolean).join('\n') || '(no output)';
    throw new Error(`rabbitmqctl -n ${node.name} ${args.join(' ')} failed (${why}):\n${output}`);
  };

  /** Poll `cluster_status` on `node` until it lists all of `expected` as running. */
  const waitClustered = async (node: ClusterNode, expected: readonly string[]): Promise<void> => {
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS;
    let last = 'no attempt made';
    for (;;) {
      if (stopping) throw new Error(`${node.name}: the cluster was stopped while waiting for it to join`);
      const exited = node.server?.exitReason();
      if (exited !== undefined) throw new Error(`${node.name} (rabbitmq-server) ${exited} while joining the cluster\n${describe(node)}`);
      try {
        const running = parseRunningNodes(await runCtl(node, ['cluster_status', '--formatter', 'json']));
        const missing = expected.filter((name) => !running.includes(name));
        if (missing.length === 0) return;
        last = `running: ${running.join(', ') || 'none'}; missing: ${missing.join(', ')}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() >= deadline) {
        throw new Error(`${node.name} did not list ${expected.join(', ')} as running within ${CLUSTER_READY_TIMEOUT_MS / 1000} s (last: ${last})\n${describe(node)}`);
      }
      await sleep(POLL_INTERVAL_MS);
    }
  };

  /** Names of the nodes a (re)started `node` must see running: itself and every other running node. */
  const expectedPeers = (node: ClusterNode): string[] => nodes.filter((other) => other === node || other.state === 'running').map((other) => other.name);

  /** Spawn the node and wait for AMQP; on failure it is killed again and the promise rejects. */
  const launch = async (node: ClusterNode): Promise<void> => {
    // A pid file left by a killed node would name a dead (or, worse, reused) pid.
    await fsp.rm(node.files.pidFile, { force: true });
    node.server = await launchServer(
      `RabbitMQ node ${node.name} on ${node.url}`,
      () => spawnTracked(`rabbit-${node.index + 1}`, RABBITMQ_SERVER, [], node.serverEnv, node.dir, options.log),
      [() => probeAmqp(node.url)],
      () => [],
      () => stopping,
      RABBITMQ_READY_TIMEOUT_MS,
      (server) => describe(node, server),
    );
  };

  /**
   * Launch a node that is down; with `rejoin`, also wait until it sees every
   * running node (forming the cluster checks that once, at the end: every
   * rabbitmqctl run costs CPU the booting nodes need).
   */
  const startNode = async (node: ClusterNode, rejoin = true): Promise<void> => {
    if (node.state === 'paused') throw new Error(`start(${node.index}): node ${node.name} is paused; resume(${node.index}) it instead`);
    if (node.server) return;
    const began = Date.now();
    node.state = 'starting';
    try {
      await launch(node);
    } catch (err) {
      node.state = 'down';
      throw err;
    }
    const peers = expectedPeers(node);
    try {
      // Accepting AMQP means running; only peers are left to check.
      if (rejoin && peers.length > 1) await waitClustered(node, peers);
    } finally {
      // It runs either way: a node that did not rejoin is still one to kill and stop.
      node.state = 'running';
    }
    debug('%s started in %d ms%s', node.name, Date.now() - began, rejoin ? `, sees ${peers.length} running` : '');
  };

  const killNode = async (node: ClusterNode): Promise<void> => {
    const server = node.server;
    if (!server) return;
    node.server = undefined;
    node.state = 'down';
    node.paused = [];
    await terminate(server, [], { signal: 'SIGKILL' });
  };

  const beamPid = (node: ClusterNode, what: string): number => {
    const pid = readPidFile(node.files.pidFile);
    if (pid === undefined) throw new Error(`${what}(${node.index}): no beam.smp pid in ${node.files.pidFile}`);
    return pid;
  };

  const pauseNode = async (node: ClusterNode): Promise<void> => {
    if (node.state === 'paused') return;
    if (node.state !== 'running') throw new Error(`pause(${node.index}): node ${node.name} is ${node.state}, not running`);
    const beam = beamPid(node, 'pause');
    // The beam first, so that it starts no new child after we listed them.
    sendSignal(beam, 'SIGSTOP');
    const pids = processTree(beam);
    if (pids.length === 0) throw new Error(`pause(${node.index}): beam.smp (pid ${beam}) of ${node.name} is gone\n${describe(node)}`);
    for (const pid of pids) sendSignal(pid, 'SIGSTOP');
    node.paused = pids;
    node.state = 'paused';
    debug('%s paused (pids %o)', node.name, pids);
  };

  const resumeNode = async (node: ClusterNode): Promise<void> => {
    if (node.state !== 'paused') return;
    const beam = readPidFile(node.files.pidFile);
    const pids = new Set([...node.paused, ...(beam === undefined ? [] : processTree(beam))]);
    for (const pid of pids) sendSignal(pid, 'SIGCONT');
    node.paused = [];
    node.state = 'running';
    debug('%s resumed (pids %o)', node.name, [...pids]);
  };

  // ---- public operations

  const nodeAt = (index: number, what: string): ClusterNode => {
    const node = Number.isInteger(index) ? nodes[index] : undefined;
    if (!node) throw new RangeError(`${what}(${String(index)}): no such node; the cluster has nodes 0 to ${nodes.length - 1}`);
    return node;
  };

  /** Run `operation` after every earlier operation on the node. */
  const serialize = <T>(index: number, what: string, operation: (node: ClusterNode) => Promise<T>): Promise<T> => {
    let node: ClusterNode;
    try {
      node = nodeAt(index, what);
    } catch (err) {
      return Promise.reject(err);
    }
    const result = node.queue.then(() => {
      if (stopping) throw new Error(`${what}(${index}): the cluster has been stopped`);
      return operation(node);
    });
    node.queue = result.catch(() => undefined);
    return result;
  };

  const stopAll = async (): Promise<void> => {
    stopping = true;
    abort.abort(); // pending rabbitmqctl runs
    await Promise.all(nodes.map((node) => node.queue)); // a pending launch notices `stopping` within one probe
    const results = await Promise.allSettled(nodes.map((node) => killNode(node)));
    const errors = results.flatMap((result) => (result.status === 'rejected' ? [(result.reason as Error).message] : []));
    try {
      if (epmd) await terminate(epmd, [epmd.pid]);
    } catch (err) {
      errors.push((err as Error).message);
    }
    await removeDir(dir);
    if (errors.length > 0) throw new Error(`stopping the RabbitMQ cluster: ${errors.join('; ')}`);
    debug('cluster %s stopped', id);
  };

  // ---- formation

  try {
    const ports = await freePorts(1 + 2 * count);
    const epmdPort = portAt(ports, 0);
    // Everyone's $HOME: the nodes and rabbitmqctl read the cookie from here (Erlang wants it owner-only).
    const cookieFile = path.join(dir, '.erlang.cookie');
    await fsp.writeFile(cookieFile, makeCookie(), { mode: 0o400 });
    const firstName = `${id}-1@localhost`;
    for (let index = 0; index < count; index += 1) {
      const nodeDir = path.join(dir, `node-${index + 1}`);
      await fsp.mkdir(nodeDir);
      const amqpPort = portAt(ports, 1 + 2 * index);
      const distPort = portAt(ports, 2 + 2 * index);
      const nodeName = `${id}-${index + 1}@localhost`;
      const config = [`listeners.tcp.1 = ${LOOPBACK}:${amqpPort}`, 'loopback_users = none', 'cluster_partition_handling = autoheal'];
      // Node 1 forms the cluster; the others join it when they first boot (later boots rejoin from their own data).
      if (index > 0) {
        config.push(
          'cluster_formation.peer_discovery_backend = classic_config',
          `cluster_formation.classic_config.nodes.1 = ${firstName}`,
          `cluster_formation.discovery_retry_limit = ${JOIN_RETRIES}`,
          `cluster_formation.discovery_retry_interval = ${JOIN_RETRY_INTERVAL_MS}`,
        );
      }
      await writeRabbitNodeConfig(nodeDir, config);
      const baseEnv = rabbitNodeEnv({ home: dir, dir: nodeDir, nodeName, amqpPort, distPort, epmdPort });
      // The nodes give a silent (frozen) peer up after NET_TICKTIME_S instead of Erlang's 60 s, so
      // that a test of a frozen node need not wait a minute; rabbitmqctl must use the same tick time.
      const ticktime = `-kernel net_ticktime ${NET_TICKTIME_S}`;
      const serverEnv = { ...baseEnv, RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `${baseEnv.RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS ?? ''} ${ticktime}`.trim() };
      nodes.push({
        index,
        name: nodeName,
        url: `amqp://guest:guest@${LOOPBACK}:${amqpPort}`,
        dir: nodeDir,
        files: rabbitNodeFiles(nodeDir),
        serverEnv,
        ctlEnv: {
          ...serverEnv,
          // rabbitmqctl is an Erlang node too: distribution on loopback, on a port the OS picks
          // (its default range, 35672-35682, is shared by every rabbitmqctl on the machine).
          RABBITMQ_CTL_ERL_ARGS: `-kernel inet_dist_use_interface {127,0,0,1} ${ticktime}`,
          RABBITMQ_CTL_DIST_PORT_MIN: '0',
          RABBITMQ_CTL_DIST_PORT_MAX: '0',
        },
        server: undefined,
        state: 'down',
        paused: [],
        queue: Promise.resolve(),
      });
    }
    epmd = await startEpmd(dir, epmdPort, options.log);
    const first = nodes[0];
    if (!first) throw new Error('startRabbitMQCluster: no nodes');
    await startNode(first, false);
    const firstUp = Date.now();
    const launched = await Promise.allSettled(nodes.slice(1).map((node) => startNode(node, false)));
    const failed = launched.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
    await waitClustered(first, nodes.map((node) => node.name));
    debug('cluster %s formed in %d ms (node 1 up after %d ms, dir %s)', id, Date.now() - started, firstUp - started, dir);
  } catch (err) {
    return cleanupAfterFailure(stopAll, err);
  }

  return {
    urls: nodes.map((node) => node.url),
    nodeNames: nodes.map((node) => node.name),
    kill: (index) => serialize(index, 'kill', killNode),
    start: (index) => serialize(index, 'start', (node) => startNode(node)),
    pause: (index) => serialize(index, 'pause', pauseNode),
    resume: (index) => serialize(index, 'resume', resumeNode),
    ctl: (index, ...args) => serialize(index, 'ctl', (node) => runCtl(node, args)),
    restore: async () => {
      await Promise.all(nodes.map((node) => serialize(node.index, 'restore', resumeNode)));
      await Promise.all(nodes.map((node) => serialize(node.index, 'restore', (current) => startNode(current))));
      const names = nodes.map((node) => node.name);
      await Promise.all(nodes.map((node) => serialize(node.index, 'restore', (current) => waitClustered(current, names))));
    },
    stop: once(stopAll),
  };
}

// ---------------------------------------------------------------------------
// Control from other processes

/** Contents of the control file named by NOFLO_MSGFLO_TEST_AMQP_CLUSTER_CONTROL. */
interface ControlFile {
  readonly version: 1;
  /** Unix socket that {@link serveClusterControl} listens on. */
  readonly socket: string;
  readonly urls: readonly string[];
  readonly nodeNames: readonly string[];
}

type ControlRequest =
  | { readonly op: 'kill' | 'start' | 'pause' | 'resume'; readonly node: number }
  | { readonly op: 'ctl'; readonly node: number; readonly args: readonly string[] }
  | { readonly op: 'restore' };

type ControlReply = { readonly ok: true; readonly output: string } | { readonly ok: false; readonly error: string };

/** A control endpoint started by {@link serveClusterControl}. */
export interface ClusterControlServer {
  /** Path of the control file: the value for NOFLO_MSGFLO_TEST_AMQP_CLUSTER_CONTROL. */
  readonly file: string;
  /** Stop serving (dropping requests in flight) and remove the control file and socket. Idempotent. */
  close(): Promise<void>;
}

function parseRequest(text: string): ControlRequest {
  const request = JSON.parse(text) as Record<string, unknown>;
  const node = request.node;
  switch (request.op) {
    case 'restore':
      return { op: 'restore' };
    case 'kill':
    case 'start':
    case 'pause':
    case 'resume':
      if (typeof node !== 'number') throw new Error(`control request ${String(request.op)}: node must be a number`);
      return { op: request.op, node };
    case 'ctl': {
      const args = request.args;
      if (typeof node !== 'number') throw new Error('control request ctl: node must be a number');
      if (!Array.isArray(args) || !args.every((arg): arg is string => typeof arg === 'string')) throw new Error('control request ctl: args must be a list of strings');
      return { op: 'ctl', node, args };
    }
    default:
      throw new Error(`unknown control request: ${text.slice(0, 200)}`);
  }
}

async function perform(cluster: ClusterControl, request: ControlRequest): Promise<string> {
  switch (request.op) {
    case 'restore':
      await cluster.restore();
      return '';
    case 'ctl':
      return cluster.ctl(request.node, ...request.args);
    default:
      await cluster[request.op](request.node);
      return '';
  }
}

async function readBody(request: http.IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) {
    body += String(chunk);
    if (body.length > MAX_REQUEST_BYTES) throw new Error(`control request larger than ${MAX_REQUEST_BYTES} bytes`);
  }
  return body;
}

/**
 * Serve `cluster`'s node control to other processes: an HTTP endpoint on a
 * Unix socket in a new private temp dir (mode 0700), described by a JSON
 * control file next to it. Pass {@link ClusterControlServer.file} to test
 * processes in NOFLO_MSGFLO_TEST_AMQP_CLUSTER_CONTROL; {@link attachCluster}
 * reads it. Close it before stopping the cluster.
 */
export async function serveClusterControl(cluster: ClusterControl): Promise<ClusterControlServer> {
  const dir = await makeTempDir('noflo-msgflo-cluster-control-');
  const socket = path.join(dir, 'control.sock');
  const file = path.join(dir, 'control.json');
  const server = http.createServer((request, response) => {
    const reply = async (): Promise<ControlReply> => {
      try {
        if (request.method !== 'POST') throw new Error(`control requests are POSTs, not ${String(request.method)}`);
        const parsed = parseRequest(await readBody(request));
        return { ok: true, output: await perform(cluster, parsed) };
      } catch (err) {
        return { ok: false, error: err instanceof Error ? err.message : String(err) };
      }
    };
    void reply().then((body) => {
      if (!response.destroyed) response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    const contents: ControlFile = { version: 1, socket, urls: cluster.urls, nodeNames: cluster.nodeNames };
    await fsp.writeFile(file, `${JSON.stringify(contents, null, 2)}\n`);
  } catch (err) {
    server.close();
    await removeDir(dir);
    throw err;
  }
  debug('cluster control on %s (%s)', socket, file);
  return {
    file,
    close: once(async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await removeDir(dir);
    }),
  };
}

/** Send one request to the control socket; resolves with the operation's output. */
function callControl(socket: string, request: ControlRequest): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const outgoing = http.request({ socketPath: socket, method: 'POST', path: '/', agent: false, headers: { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.once('error', reject);
      response.once('end', () => {
        let reply: ControlReply;
        try {
          reply = JSON.parse(text) as ControlReply;
        } catch {
          reject(new Error(`cluster control at ${socket} answered ${String(response.statusCode)} with no JSON: ${text.slice(0, 200)}`));
          return;
        }
        if (reply.ok) resolve(reply.output);
        else reject(new Error(reply.error));
      });
    });
    outgoing.once('error', (err) => reject(new Error(`cluster control at ${socket}: ${err.message} (did the test runner exit?)`)));
    outgoing.end(JSON.stringify(request));
  });
}

/**
 * Node control of the test runner's RabbitMQ cluster, from a test file: the
 * same operations as the runner's {@link ClusterHandle}, forwarded to it
 * (there is no stop(); the runner stops the cluster after the last test file).
 *
 * The cluster is shared by all test files: one that kills or pauses nodes must
 * make it whole again at its end, e.g. `after(() => cluster.restore())`.
 *
 * Throws if NOFLO_MSGFLO_TEST_AMQP_CLUSTER is unset (not run through
 * `npm test`), if NOFLO_MSGFLO_TEST_AMQP_CLUSTER_CONTROL is unset (an external
 * cluster: the runner cannot control it), or if the control file does not
 * describe that cluster.
 */
export function attachCluster(): ClusterControl {
  const urls = clusterUrls();
  const file = process.env[AMQP_CLUSTER_CONTROL_VAR];
  if (file === undefined || file === '') {
    throw new Error(`${AMQP_CLUSTER_CONTROL_VAR} is not set: the cluster in ${AMQP_CLUSTER_URLS_VAR} is external, and its nodes cannot be killed or started from the tests`);
  }
  let control: ControlFile;
  try {
    control = JSON.parse(fs.readFileSync(file, 'utf8')) as ControlFile;
  } catch (err) {
    throw new Error(`${AMQP_CLUSTER_CONTROL_VAR}: cannot read control file ${file}: ${(err as Error).message}`);
  }
  if (control.version !== 1 || typeof control.socket !== 'string' || !Array.isArray(control.nodeNames) || !Array.isArray(control.urls)) {
    throw new Error(`${AMQP_CLUSTER_CONTROL_VAR}: ${file} is not a cluster control file (version 1)`);
  }
  if (control.urls.join(',') !== urls.join(',')) {
    throw new Error(`${AMQP_CLUSTER_CONTROL_VAR}: ${file} controls ${control.urls.join(',')}, but ${AMQP_CLUSTER_URLS_VAR} is ${urls.join(',')}`);
  }
  const socket = control.socket;
  const call = async (request: ControlRequest): Promise<string> => callControl(socket, request);
  return {
    urls,
    nodeNames: [...control.nodeNames],
    kill: async (node) => void (await call({ op: 'kill', node })),
    start: async (node) => void (await call({ op: 'start', node })),
    pause: async (node) => void (await call({ op: 'pause', node })),
    resume: async (node) => void (await call({ op: 'resume', node })),
    ctl: (node, ...args) => call({ op: 'ctl', node, args }),
    restore: async () => void (await call({ op: 'restore' })),
  };
}
