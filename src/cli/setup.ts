/**
 * `setup GRAPH`: bind the participants of a system graph (as msgflo-setup
 * does), optionally hosting its NoFlo participants in this process, then
 * exit or keep coordinating. It exits non-zero when any part of the system
 * could not be made, each named on stderr.
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
import { EMBEDDED_URL } from '../transport/embedded';
import { parseBrokerList } from '../transport/url';
import { chooseBroker, configuredBroker } from './broker';
import { jobReporter, logFormat, ProcessOps, type OpsFlags } from './ops';
import { info, warn } from './output';
import { onSignals, printDefinition } from './process';

/** Flags of the setup command. */
export interface SetupFlags extends OpsFlags {
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
}

/** Bind the system of `graphFile`. */
export async function setup(graphFile: string, flags: SetupFlags): Promise<void> {
  const timeout = Number(flags.timeout ?? 30);
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new InvalidOptionError(`invalid --timeout "${flags.timeout}": expected seconds, a number above 0`);
  }
  const basedir = path.resolve(flags.basedir ?? process.cwd());
  const file = path.resolve(basedir, graphFile);
  const graph = await loadGraphFile(file);
  const format = logFormat(flags);
  if (flags.httpPort !== undefined && !flags.participants) {
    throw new InvalidOptionError('--http-port serves the metrics of the participants hosted here: give --participants');
  }
  if (flags.onUnroutable !== undefined && !flags.participants) {
    throw new InvalidOptionError('--on-unroutable needs --participants: it applies to the participants setup starts');
  }
  if (flags.queueType !== undefined && !flags.participants) {
    throw new InvalidOptionError('--queue-type sets the inqueues of the participants hosted here: give --participants');
  }
  const forever = flags.forever === true;
  const broker = configuredBroker(flags.broker);
  if ((broker ? parseBrokerList(broker).protocol : 'mqtt') === 'mqtt' && !forever && graph.edges.length > 0) {
    // MQTT cannot bind topics: the coordinator forwards each edge's messages
    // itself, so a binding made here would end as setup exits.
    throw new InvalidOptionError('on MQTT bindings need a running coordinator: add --forever or use the coordinator command');
  }
  const tls = readTls({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey });
  const { transport, embedded } = await chooseBroker(broker, { startEmbedded: flags.participants === true, transport: tls ? { tls } : {} });
  const url = broker ?? EMBEDDED_URL;

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
    await host?.stop();
    await embedded?.close();
    await ops?.close();
  };
  try {
    // Listening before the participants start: on MQTT, a discovery message
    // sent with nobody subscribed is gone, and the next comes a period later.
    await coordinator.start();
    await coordinator.load(graph);
    if (flags.participants) {
      const loader = await createComponentLoader(basedir, { onWarning: warn });
      // The graph's IIPs go through the inqueues, sent by the coordinator once the bindings behind each are made.
      const plan = await planSystem(file, loader, basedir, { initials: false });
      ops = await ProcessOps.start(flags);
      host = new Host({ broker: url, basedir, queueType: flags.queueType, onUnroutable: flags.onUnroutable, tlsCa: flags.tlsCa, tlsCert: flags.tlsCert, tlsKey: flags.tlsKey });
      host.shareLoader(basedir, false, loader);
      host.on('warning', (role, err) => warn(`${role}: ${err.message}`));
      host.on('projectWarning', (_basedir, err) => warn(err.message));
      const watching = ops;
      host.announceWith(ops.discoveryFields(flags));
      host.on('added', (participant) => watching.watch(participant));
      host.on('job', jobReporter(format));
      for (const node of plan.leftAlone) {
        info(`left alone: ${node.node} (${node.component}): ${node.reason}`);
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
  info(`bound ${coordinator.bindings().length} binding(s) for ${coordinator.roles().length} role(s)`);
  if (!forever) {
    await stopAll();
    if (host) {
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
