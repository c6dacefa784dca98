/**
 * The default command: run one participant until SIGTERM or SIGINT.
 */
import os from 'node:os';
import path from 'node:path';
import { normalizeOptions, type ParticipantInput } from '../participant/options';
import { Participant } from '../participant/participant';
import { chooseBroker } from './broker';
import { info, warn } from './output';

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
}

/** How long a shutdown waits for in-flight jobs. */
const DRAIN_TIMEOUT_MS = 30_000;

/** Start the participant described by `flags` and keep it running. */
export async function run(flags: RunFlags): Promise<void> {
  const input: ParticipantInput = {
    name: flags.name ?? '',
    graph: flags.graph ?? '',
    broker: flags.broker,
    basedir: flags.basedir,
    prefetch: flags.prefetch,
    deadletter: flags.deadletter,
    iips: flags.iips,
    attr: flags.attr,
    trace: flags.trace,
    cache: flags.cache,
    dedicatedNetwork: flags.dedicatedNetwork,
  };
  const options = normalizeOptions(input);
  const { transport, embedded } = await chooseBroker(options.broker, { startEmbedded: true });
  const participant = new Participant(options, transport);
  participant.on('job', (outcome) => {
    if (outcome.outcome === 'nack') {
      warn(`job on ${outcome.role} port ${outcome.port} failed: ${outcome.reason ?? 'unknown error'}`);
    }
  });
  participant.on('warning', (err) => warn(err.message));
  let definition;
  try {
    definition = await participant.start();
  } catch (err) {
    await embedded?.close();
    throw err;
  }
  info(`${definition.id} (${definition.component}) is running on ${transport.displayUrl}`);
  for (const port of definition.inports) {
    info(`  in  ${port.id.padEnd(12)} ${port.queue ?? '(hidden)'}`);
  }
  for (const port of definition.outports) {
    info(`  out ${port.id.padEnd(12)} ${port.queue ?? '(hidden)'}`);
  }

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      warn(`${signal} again: exiting without waiting for ${participant.jobsInFlight} jobs`);
      process.exit(1);
    }
    stopping = true;
    info(`${signal}: finishing ${participant.jobsInFlight} jobs in flight, then stopping`);
    participant
      .stop(DRAIN_TIMEOUT_MS)
      .then(() => embedded?.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          warn(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (options.trace) {
    process.on('SIGUSR2', () => {
      const file = path.join(os.tmpdir(), `${definition.id}.flowtrace.json`);
      participant.writeTrace(file).then(
        () => info(`wrote Flowtrace to ${file}`),
        (err: unknown) => warn(`cannot write Flowtrace to ${file}: ${err instanceof Error ? err.message : String(err)}`),
      );
    });
    info(`tracing: send SIGUSR2 (kill -USR2 ${process.pid}) to write the Flowtrace to ${os.tmpdir()}`);
  }
}
