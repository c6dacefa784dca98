/**
 * The default command: run one participant until SIGTERM or SIGINT.
 */
import os from 'node:os';
import path from 'node:path';
import { InvalidOptionError, errorMessage } from '../errors';
import { transportOptions } from '../participant/connection';
import { normalizeOptions, type ParticipantInput } from '../participant/options';
import { Participant } from '../participant/participant';
import { prepareGraph } from '../participant/prepare';
import { projectDirectory } from './basedir';
import { chooseBroker, closeEmbedded, configuredBroker, embeddedGoneLine } from './broker';
import type { HostFlags } from './host';
import { jobReporter, logFormat, ProcessOps, type OpsFlags } from './ops';
import { info, warn } from './output';
import { onSignals, printDefinition } from './process';

/** Flags of the run command, as commander parses them. */
export interface RunFlags {
  name?: string;
  graph?: string;
  broker?: string;
  basedir?: string;
  prefetch?: string;
  deadletter?: string;
  iips?: string;
  attr?: string[];
  trace?: boolean;
  cache?: boolean;
  dedicatedNetwork?: boolean;
  jobTimeout?: string;
  slowJob?: string;
  configWait?: string;
  maxMessageSize?: string;
  drainTimeout?: string;
  connectTimeout?: string;
  queueType?: string;
  onUnroutable?: string;
  deliveryLimit?: string;
  clientId?: string;
  mqttQos?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  crashOnException?: boolean;
  protocolPort?: string;
  protocolFull?: boolean;
}

/** Seconds from a flag (`flag` names it in the error), as whole ms. */
function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number <= 0) {
    throw new InvalidOptionError(`invalid ${flag} "${value}": expected a number of seconds above 0`);
  }
  return Math.max(1, Math.round(number * 1000));
}

/** The participant options the flags give (name and graph may be empty); the broker is checked already. */
function inputFromFlags(flags: RunFlags, broker: string | undefined): ParticipantInput {
  return {
    name: flags.name ?? '',
    graph: flags.graph ?? '',
    broker,
    basedir: flags.basedir,
    prefetch: flags.prefetch,
    deadletter: flags.deadletter,
    iips: flags.iips,
    attr: flags.attr,
    trace: flags.trace,
    cache: flags.cache,
    dedicatedNetwork: flags.dedicatedNetwork,
    jobTimeout: flags.jobTimeout,
    slowJob: seconds(flags.slowJob, '--slow-job'),
    configWait: seconds(flags.configWait, '--config-wait'),
    maxMessageSize: flags.maxMessageSize,
    drainTimeout: seconds(flags.drainTimeout, '--drain-timeout'),
    connectTimeout: seconds(flags.connectTimeout, '--connect-timeout'),
    queueType: flags.queueType,
    onUnroutable: flags.onUnroutable,
    deliveryLimit: flags.deliveryLimit,
    clientId: flags.clientId,
    mqttQos: flags.mqttQos,
    tlsCa: flags.tlsCa,
    tlsCert: flags.tlsCert,
    tlsKey: flags.tlsKey,
    crashOnException: flags.crashOnException,
    protocolPort: flags.protocolPort,
    protocolFull: flags.protocolFull,
  };
}

/** Defined flags only, as defaults for the participants of a host. */
function definedOnly(input: ParticipantInput): Partial<ParticipantInput> {
  // Name, graph and a protocol port belong to one participant, not to all.
  const own = ['name', 'graph', 'protocolPort'];
  return Object.fromEntries(Object.entries(input).filter(([key, value]) => value !== undefined && value !== '' && !own.includes(key)));
}

/** Start the participant(s) described by `flags` and keep running. */
export async function run(flags: RunFlags & HostFlags & OpsFlags): Promise<void> {
  // First of all: a bad --broker (or variable) is refused before anything starts.
  const input = inputFromFlags(flags, configuredBroker(flags.broker));
  // Then the project directory: one that does not exist would only show as a graph not found in it.
  projectDirectory(flags.basedir);
  const format = logFormat(flags);
  if (flags.participants || flags.system) {
    if (flags.name || flags.graph) {
      throw new InvalidOptionError(`--name and --graph are for one participant; with ${flags.participants ? '--participants' : '--system'}, the ${flags.participants ? 'file' : 'graph'} names them`);
    }
    // The host's module only for --participants and --system: one participant does without it.
    const { runHost } = await import('./host');
    await runHost(flags, definedOnly(input), flags.crashOnException ?? false);
    return;
  }
  const options = normalizeOptions(input);
  // The graph first: one that cannot run stops the start before anything else does.
  const prepared = await prepareGraph(options, { onWarning: warn });
  const ops = await ProcessOps.start(flags);
  const { transport, embedded, owner } = await chooseBroker(options.broker, { startEmbedded: true, transport: transportOptions(options) });
  const participant = new Participant(options, transport, { prepared, discoveryFields: ops.discoveryFields(flags) });
  ops.watch(participant);
  participant.on('job', jobReporter(format, () => [participant]));
  participant.on('warning', (err) => warn(err.message));
  participant.on('disconnected', (err) => warn(embeddedGoneLine(owner, 'outputs wait') ?? `lost the broker connection (${err.message}); reconnecting, outputs wait`));
  participant.on('reconnected', () => info(`reconnected to ${transport.connectedTo ?? transport.displayUrl}`));
  participant.on('consumerRestored', (port) => info(`inport ${port}: consuming again`));
  let definition;
  try {
    definition = await participant.start();
  } catch (err) {
    await transport.close().catch(() => undefined);
    await embedded?.close();
    await ops.close();
    throw err;
  }
  ops.health.startedAll();
  printDefinition(participant);
  onSignals(
    () => participant.jobsInFlight,
    async () => {
      ops.health.stop();
      await participant.stop();
      await closeEmbedded(embedded);
      await ops.close();
    },
    options.crashOnException,
  );
  // Always, as the original did: tracing may be turned on later, over the FBP protocol.
  process.on('SIGUSR2', () => {
    const file = path.join(os.tmpdir(), `${definition.id}.flowtrace.json`);
    participant.writeTrace(file).then(
      () => info(`wrote Flowtrace to ${file}`),
      (err: unknown) => warn(`SIGUSR2: no Flowtrace written: ${errorMessage(err)}`),
    );
  });
  if (options.trace) {
    info(`tracing: send SIGUSR2 (kill -USR2 ${process.pid}) to write the Flowtrace to ${os.tmpdir()}`);
  }
}
