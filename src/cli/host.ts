/**
 * Hosting many participants in one process: from `--participants FILE.json`
 * or from the nodes of `--system GRAPH`. The other flags are defaults for
 * every participant.
 */
import { InvalidOptionError, errorMessage } from '../errors';
import { Host, ParticipantStartError } from '../host/host';
import { readManifest } from '../host/manifest';
import { planSystem } from '../host/system';
import type { ParticipantInput } from '../participant/options';
import { createComponentLoader, type ComponentLoader } from '../runtime/graph-source';
import { embeddedAddress, type EmbeddedBroker, type EmbeddedOwner } from '../transport/embedded';
import { closeEmbedded, embeddedGoneLine, refuseInProcessBroker, sayWaiting, useEmbeddedBroker } from './broker';
import { jobReporter, logFormat, ProcessOps, type OpsFlags } from './ops';
import { counted, info, warn } from './output';
import { onSignals, printDefinition } from './process';

/** What to host, and how to treat a participant that cannot start. */
export interface HostFlags extends OpsFlags {
  participants?: string;
  system?: string;
  keepGoing?: boolean;
}

/**
 * Start every participant named by `flags`, with `defaults`, and keep them
 * running. `defaults.broker` is the checked broker list of `--broker` or the
 * environment, if any (`configuredBroker` of ./broker).
 */
export async function runHost(flags: HostFlags, defaults: Partial<ParticipantInput>, crashOnException: boolean): Promise<void> {
  if (flags.participants && flags.system) {
    throw new InvalidOptionError('give --participants or --system, not both');
  }
  const format = logFormat(flags);
  const basedir = defaults.basedir ?? process.cwd();
  let inputs: ParticipantInput[];
  let loader: ComponentLoader | undefined;
  if (flags.participants) {
    inputs = await readManifest(flags.participants);
    inputs.forEach((input, index) => {
      if (input.broker) {
        refuseInProcessBroker(input.broker, `participants file "${flags.participants}", entry ${index + 1} ("${input.name}"): "broker"`);
      }
    });
  } else {
    loader = await createComponentLoader(basedir, { cache: defaults.cache ?? false, onWarning: warn });
    const plan = await planSystem(flags.system as string, loader, basedir);
    for (const node of plan.leftAlone) {
      info(`left alone: ${node.node} (${node.component}): ${node.reason}`);
    }
    if (plan.participants.length === 0) {
      throw new InvalidOptionError(`system graph "${flags.system}": none of its nodes is a NoFlo component here (--basedir "${basedir}")`);
    }
    inputs = plan.participants;
  }

  let embedded: EmbeddedBroker | undefined;
  let owner: EmbeddedOwner | undefined;
  const broker = defaults.broker;
  const everyHasBroker = inputs.every((input) => input.broker);
  if (!broker && !everyHasBroker) {
    ({ embedded, owner } = await useEmbeddedBroker(true));
  }
  const ops = await ProcessOps.start(flags);
  const host = new Host({ ...defaults, broker: broker ?? embeddedAddress().url });
  if (loader) {
    host.shareLoader(basedir, defaults.cache ?? false, loader);
  }
  host.announceWith(ops.discoveryFields(flags));
  host.on('added', (participant) => ops.watch(participant));
  host.on('job', jobReporter(format, () => host.participants));
  host.on('warning', (role, err) => warn(`${role}: ${err.message}`));
  host.on('projectWarning', (_basedir, err) => warn(err.message));
  host.on('waiting', sayWaiting);
  host.on('disconnected', (role, err) => warn(`${role}: ${embeddedGoneLine(owner, 'outputs wait') ?? `lost the broker connection (${err.message}); reconnecting, outputs wait`}`));
  host.on('reconnected', (role) => info(`${role}: reconnected`));
  host.on('consumerRestored', (role, port) => info(`${role}: inport ${port}: consuming again`));

  const failures: ParticipantStartError[] = [];
  // One at a time: they share the component loader and connections, and
  // starting 100 NoFlo networks at once only makes every one of them slower.
  for (const input of inputs) {
    try {
      printDefinition(await host.add(input));
    } catch (err) {
      if (!(err instanceof ParticipantStartError)) {
        throw err;
      }
      failures.push(err);
      warn(`cannot start ${err.message}`);
      if (!flags.keepGoing) {
        break;
      }
    }
  }
  const started = host.list().length;
  if (failures.length > 0 && (!flags.keepGoing || started === 0)) {
    await host.stop().catch((err: unknown) => warn(`stopping: ${errorMessage(err)}`));
    await embedded?.close();
    await ops.close();
    throw new InvalidOptionError(
      flags.keepGoing ? 'no participant could start' : `${counted(failures.length, 'participant')} could not start; --keep-going runs the others without them`,
    );
  }
  ops.health.startedAll();
  info(`hosting ${counted(started, 'participant')}${failures.length > 0 ? `, ${failures.length} could not start` : ''}`);
  onSignals(
    () => host.participants.reduce((sum, p) => sum + p.jobsInFlight, 0),
    async () => {
      ops.health.stop();
      await host.stop();
      await closeEmbedded(embedded);
      await ops.close();
    },
    crashOnException,
  );
}
