/**
 * `coordinator`: keep a system bound and let FBP protocol clients (Flowhub)
 * see and edit it over a WebSocket. Nodes added with NoFlo components or
 * graphs are started as participants in this process; those of components
 * of the participant library as supervised processes of their own.
 */
import path from 'node:path';
import { Coordinator } from '../coordinator/coordinator';
import { describeFailure } from '../coordinator/failures';
import { serveCoordinatorRuntime } from '../coordinator/fbp-runtime';
import { describeIipDelivery } from '../coordinator/initials';
import { InvalidOptionError } from '../errors';
import { Host } from '../host/host';
import { readTls } from '../participant/connection';
import { describeBinding } from '../protocol/bindings';
import { createComponentLoader, loadGraphFile } from '../runtime/graph-source';
import { embeddedAddress } from '../transport/embedded';
import { projectDirectory } from './basedir';
import { chooseBroker, closeEmbedded, configuredBroker } from './broker';
import { libraryRunner, type LibraryFlags } from './children';
import { startCoordinatorOps, type OpsFlags } from './ops';
import { info, warn } from './output';
import { onSignals } from './process';

/** Flags of the coordinator command. */
export interface CoordinatorFlags extends OpsFlags, LibraryFlags {
  graph?: string;
  broker?: string;
  basedir?: string;
  host: string;
  port: string;
  secret?: string;
  queueType?: string;
  onUnroutable?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Coordinate the system of `flags.graph` (or an empty one) and serve it until SIGTERM. */
export async function coordinate(flags: CoordinatorFlags): Promise<void> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError(`invalid --port "${flags.port}": expected a port number from 0 to 65535`);
  }
  const basedir = projectDirectory(flags.basedir);
  const file = flags.graph ? path.resolve(basedir, flags.graph) : undefined;
  const graph = file ? await loadGraphFile(file) : undefined;
  const graphName = file ? path.basename(file).replace(/\.(fbp|json)$/i, '') : 'main';
  const loader = await createComponentLoader(basedir, { onWarning: warn });
  const broker = configuredBroker(flags.broker);
  const tls = readTls({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey });
  // A bad library stops the start before anything runs.
  const commands = await libraryRunner(flags, basedir, broker ?? embeddedAddress().url);
  const { transport, embedded } = await chooseBroker(broker, { startEmbedded: true, transport: tls ? { tls } : {} });
  const coordinator = new Coordinator(transport);
  coordinator.on('bound', (binding) => info(describeBinding(binding)));
  coordinator.on('unbound', (binding) => info(`unbound ${describeBinding(binding)}`));
  coordinator.on('warning', (err) => warn(err.message));
  coordinator.on('failed', (failure) => warn(describeFailure(failure)));
  coordinator.on('iips', (delivery) => info(describeIipDelivery(delivery)));
  coordinator.on('participant', (change, definition) => {
    if (change !== 'updated') {
      info(`participant ${change}: ${definition.id} (${definition.role}, ${definition.component})`);
    }
  });
  const host = new Host({ broker: broker ?? embeddedAddress().url, basedir, queueType: flags.queueType, onUnroutable: flags.onUnroutable, tlsCa: flags.tlsCa, tlsCert: flags.tlsCert, tlsKey: flags.tlsKey });
  host.on('warning', (role, err) => warn(`${role}: ${err.message}`));
  host.on('projectWarning', (_basedir, err) => warn(err.message));
  host.shareLoader(basedir, false, loader);
  await coordinator.start();
  const ops = await startCoordinatorOps(flags, { coordinator, transport, host });
  // Requests may name the graph as its file too, as shown here.
  const graphAliases = file && path.basename(file) !== graphName ? [path.basename(file)] : [];
  const runtime = await serveCoordinatorRuntime(coordinator, graph, { host: flags.host, port, secret: flags.secret, graphName, graphAliases, participantHost: host, loader, commands });
  info(`FBP runtime for ${file ? path.basename(file) : 'an empty system'} on ${runtime.address} (runtime id ${runtime.id}, graph "${graphName}"); connect Flowhub to it`);
  info(`open in Flowhub: ${flowhubLink(runtime.address, runtime.id)}${flags.secret ? ' (give it the secret there)' : ''}`);
  onSignals(
    () => host.participants.reduce((sum, p) => sum + p.jobsInFlight, 0),
    async () => {
      await runtime.close();
      await ops?.close();
      await Promise.all([host.stop(), commands.children.stopAll()]);
      await coordinator.stop();
      await closeEmbedded(embedded);
    },
    false,
  );
}

/** A link that opens the runtime in Flowhub; the secret, if any, is left out of it (links end up in logs). */
export function flowhubLink(address: string, id: string): string {
  return `https://app.flowhub.io/#runtime/endpoint?${encodeURIComponent(`protocol=websocket&address=${address}&id=${id}`)}`;
}
