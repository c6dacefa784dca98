/**
 * `setup GRAPH`: bind the participants of a system graph (as msgflo-setup
 * does), optionally starting them: its NoFlo participants hosted in this
 * process, the others from the participant library as supervised child
 * processes. Then exit, or keep coordinating. It exits non-zero when any
 * part of the system could not be made, each named on stderr.
 */
import { Coordinator, MissingRolesError } from '../coordinator/coordinator';
import { describeFailure, SystemIncompleteError } from '../coordinator/failures';
import { describeIipDelivery } from '../coordinator/initials';
import { InvalidOptionError } from '../errors';
import { Host } from '../host/host';
import { planSystem } from '../host/system';
import { describeBinding } from '../protocol/bindings';
import { createComponentLoader, loadGraphFile } from '../runtime/graph-source';
import path from 'node:path';
import { readTls } from '../participant/connection';
import { embeddedAddress } from '../transport/embedded';
import { parseBrokerList } from '../transport/url';
import { projectDirectory } from './basedir';
import { chooseBroker, closeEmbedded, configuredBroker } from './broker';
import { libraryRunner, type LibraryFlags, type LibraryRunner } from './children';
import { roleList } from './procfile';
import { jobReporter, logFormat, ProcessOps, type OpsFlags } from './ops';
import { counted, info, warn } from './output';
import { onSignals, printDefinition } from './process';

/** Flags of the setup command. */
export interface SetupFlags extends OpsFlags, LibraryFlags {
  broker?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  basedir?: string;
  participants?: boolean;
  queueType?: string;
  onUnroutable?: string;
  forever?: boolean;
  timeout?: string;
  /** Roles to start (the others are bound when they appear). */
  only?: string[];
  /** Roles neither started nor bound. */
  ignore?: string[];
  /** Accepted for msgflo-setup's sake: bindings always come from discovery here. */
  discover?: boolean;
}

/** The flags that only mean something with --participants. */
const PARTICIPANT_FLAGS = [
  ['httpPort', '--http-port serves the metrics of the participants hosted here'],
  ['onUnroutable', '--on-unroutable applies to the participants setup starts'],
  ['queueType', '--queue-type sets the inqueues of the participants hosted here'],
  ['only', '--only chooses the participants setup starts'],
  ['library', '--library says how to start participants'],
  ['componentdir', '--componentdir says how to start participants'],
  ['shell', '--shell starts participants through a shell'],
  ['forward', "--forward passes on the output of the participants' processes"],
] as const;

/** Bind the system of `graphFile`. */
export async function setup(graphFile: string, flags: SetupFlags): Promise<void> {
  const timeout = Number(flags.timeout ?? 30);
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new InvalidOptionError(`invalid --timeout "${flags.timeout}": expected seconds, a number above 0`);
  }
  const basedir = projectDirectory(flags.basedir);
  const file = path.resolve(basedir, graphFile);
  const graph = await loadGraphFile(file);
  const format = logFormat(flags);
  if (!flags.participants) {
    for (const [flag, what] of PARTICIPANT_FLAGS) {
      if (flags[flag] !== undefined) {
        throw new InvalidOptionError(`${what}: give --participants`);
      }
    }
  }
  const only = roleList(flags.only);
  const ignored = new Set(roleList(flags.ignore));
  for (const role of [...only, ...ignored]) {
    if (!graph.getNode(role)) {
      throw new InvalidOptionError(`--${ignored.has(role) ? 'ignore' : 'only'} ${role}: the graph has no role "${role}" (it has: ${graph.nodes.map((n) => n.id).join(', ')})`);
    }
  }
  for (const role of ignored) {
    // Neither started nor bound: its edges, IIPs and exported ports go with it.
    graph.removeNode(role);
  }
  const forever = flags.forever === true;
  const broker = configuredBroker(flags.broker);
  if ((broker ? parseBrokerList(broker).protocol : 'mqtt') === 'mqtt' && !forever && graph.edges.length > 0) {
    // MQTT cannot bind topics: the coordinator forwards each edge's messages
    // itself, so a binding made here would end as setup exits.
    throw new InvalidOptionError('on MQTT bindings need a running coordinator: add --forever or use the coordinator command');
  }
  const tls = readTls({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey });
  // A bad library stops the start before anything runs.
  const runner: LibraryRunner | undefined = flags.participants ? await libraryRunner(flags, basedir, broker ?? embeddedAddress().url) : undefined;
  const { transport, embedded } = await chooseBroker(broker, { startEmbedded: flags.participants === true, transport: tls ? { tls } : {} });
  const url = broker ?? embeddedAddress().url;

  const coordinator = new Coordinator(transport);
  coordinator.on('bound', (binding) => info(describeBinding(binding)));
  coordinator.on('unbound', (binding) => info(`unbound ${describeBinding(binding)}`));
  coordinator.on('warning', (err) => warn(err.message));
  coordinator.on('failed', (failure) => warn(describeFailure(failure)));
  coordinator.on('iips', (delivery) => info(describeIipDelivery(delivery)));
  coordinator.on('invalid', (reason) => warn(`ignored a message on fbp: ${reason}`));
  coordinator.on('participant', (change, definition) => {
    if (change !== 'updated') {
      info(`participant ${change}: ${definition.id} (${definition.role}, ${definition.component})`);
    }
  });
  let host: Host | undefined;
  let ops: ProcessOps | undefined;
  const stopAll = async (): Promise<void> => {
    ops?.health.stop();
    await coordinator.stop();
    await Promise.all([host?.stop(), runner?.children.stopAll()]);
    await closeEmbedded(embedded);
    await ops?.close();
  };
  try {
    // Listening before the participants start: on MQTT, a discovery message
    // sent with nobody subscribed is gone, and the next comes a period later.
    await coordinator.start();
    await coordinator.load(graph);
    if (runner) {
      const loader = await createComponentLoader(basedir, { onWarning: warn });
      // The graph's IIPs go through the inqueues, sent by the coordinator once the bindings behind each are made.
      const planned = await planSystem(file, loader, basedir, { initials: false, library: runner.library });
      const starting = (role: string): boolean => !ignored.has(role) && (only.length === 0 || only.includes(role));
      const plan = { ...planned, participants: planned.participants.filter((p) => starting(p.name)), commands: planned.commands.filter((c) => starting(c.role)) };
      for (const node of plan.commands) {
        runner.command(node); // A command that cannot be run stops the start before any participant starts.
      }
      ops = await ProcessOps.start(flags);
      host = new Host({ broker: url, basedir, queueType: flags.queueType, onUnroutable: flags.onUnroutable, tlsCa: flags.tlsCa, tlsCert: flags.tlsCert, tlsKey: flags.tlsKey });
      host.shareLoader(basedir, false, loader);
      host.on('warning', (role, err) => warn(`${role}: ${err.message}`));
      host.on('projectWarning', (_basedir, err) => warn(err.message));
      const watching = ops;
      const hosting = host;
      host.announceWith(ops.discoveryFields(flags));
      host.on('added', (participant) => watching.watch(participant));
      host.on('job', jobReporter(format, () => hosting.participants));
      for (const node of plan.leftAlone.filter((n) => !ignored.has(n.node))) {
        info(`left alone: ${node.node} (${node.component}): ${node.reason}`);
      }
      for (const node of plan.commands) {
        await runner.start(node);
      }
      for (const input of plan.participants) {
        printDefinition(await host.add(input));
      }
      ops.health.startedAll();
    }
    await coordinator.waitForSystem(timeout * 1000).catch((err: unknown) => {
      if (!(forever && err instanceof MissingRolesError)) {
        throw err;
      }
      // --forever is there for late participants: keep waiting for them.
      for (const { role, component } of err.missing) {
        warn(`role "${role}" (${component}): no participant discovered within ${timeout} s; will bind when it appears`);
      }
    });
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
  const failures = coordinator.failures();
  info(`bound ${counted(coordinator.bindings().length, 'binding')} for ${counted(coordinator.roles().length, 'role')}`);
  if (!forever) {
    await stopAll();
    if (runner) {
      info('participants stopped: --forever keeps them and the coordinator running');
    }
    if (failures.length > 0) {
      throw new SystemIncompleteError(failures);
    }
    return;
  }
  if (failures.length > 0) {
    warn(`${new SystemIncompleteError(failures).message}; each is tried again as participants come, go or change`);
  }
  info('coordinating until SIGTERM');
  onSignals(() => host?.participants.reduce((sum, p) => sum + p.jobsInFlight, 0) ?? 0, stopAll, false);
}
