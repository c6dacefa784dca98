/**
 * `coordinator`: keep a system bound and show it to FBP protocol clients
 * (Flowhub) over a WebSocket.
 */
import path from 'node:path';
import { Coordinator } from '../coordinator/coordinator';
import { serveCoordinatorRuntime } from '../coordinator/fbp-runtime';
import { InvalidOptionError } from '../errors';
import { describeBinding } from '../protocol/bindings';
import { loadGraphFile } from '../runtime/graph-source';
import { chooseBroker, configuredBroker } from './broker';
import { info, warn } from './output';
import { onSignals } from './run';

/** Flags of the coordinator command. */
export interface CoordinatorFlags {
  graph?: string;
  broker?: string;
  host: string;
  port: string;
  secret?: string;
}

/** Coordinate the system of `flags.graph` and serve it until SIGTERM. */
export async function coordinate(flags: CoordinatorFlags): Promise<void> {
  if (!flags.graph) {
    throw new InvalidOptionError('missing --graph: the system graph to coordinate (.fbp or .json)');
  }
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError(`invalid --port "${flags.port}": expected a port number from 0 to 65535`);
  }
  const file = path.resolve(flags.graph);
  const graph = await loadGraphFile(file);
  const { transport } = await chooseBroker(configuredBroker(flags.broker), { startEmbedded: false });
  const coordinator = new Coordinator(transport);
  coordinator.on('bound', (binding) => info(describeBinding(binding)));
  coordinator.on('unbound', (binding) => info(`unbound ${describeBinding(binding)}`));
  coordinator.on('warning', (err) => warn(err.message));
  coordinator.on('participant', (change, definition) => {
    if (change !== 'updated') {
      info(`participant ${change}: ${definition.id} (${definition.role}, ${definition.component})`);
    }
  });
  await coordinator.start();
  await coordinator.load(graph);
  const runtime = await serveCoordinatorRuntime(coordinator, graph, {
    host: flags.host,
    port,
    secret: flags.secret,
    graphName: path.basename(file).replace(/\.(fbp|json)$/i, ''),
  });
  info(`FBP runtime for ${path.basename(file)} on ${runtime.address} (id ${runtime.id}); connect Flowhub to it`);
  onSignals(() => 0, async () => {
    await runtime.close();
    await coordinator.stop();
  }, false);
}
