/**
 * The life of a command-line process that runs participants: what it says
 * when one has started, how it stops on SIGTERM and SIGINT, and what it does
 * with an exception thrown outside any handler.
 */
import { errorMessage } from '../errors';
import type { Participant } from '../participant/participant';
import { failCurrentJob } from '../runtime/network';
import { counted, info, warn } from './output';

/** Print a started participant: its id, component, broker and queues. */
export function printDefinition(participant: Participant): void {
  const definition = participant.definition;
  const node = participant.connectedTo;
  info(`${definition.id} (${definition.component}) is running on ${participant.brokerUrl}${node && node !== participant.brokerUrl ? ` (connected to ${node})` : ''}`);
  for (const port of definition.inports) {
    info(`  in  ${port.id.padEnd(12)} ${port.queue ?? '(hidden)'}`);
  }
  for (const port of definition.outports) {
    info(`  out ${port.id.padEnd(12)} ${port.queue ?? '(hidden)'}`);
  }
  if (participant.protocolAddress) {
    info(`  FBP protocol on ${participant.protocolAddress} (${participant.protocolFull ? 'full' : 'read-only'})`);
  }
}

/**
 * SIGTERM/SIGINT: `stop` (which lets in-flight jobs finish), then exit 0; a
 * second signal exits at once. Exceptions outside NoFlo's handling fail
 * their job, or exit with `crash`.
 */
export function onSignals(inFlight: () => number, stop: () => Promise<void>, crash: boolean): void {
  guardProcess(crash);
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      warn(`${signal} again: exiting without waiting for ${counted(inFlight(), 'job')}`);
      process.exit(1);
    }
    stopping = true;
    info(`${signal}: finishing ${counted(inFlight(), 'job')} in flight, then stopping`);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        warn(`shutdown failed: ${errorMessage(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

/**
 * An exception a component throws outside NoFlo's own handling (in a timer,
 * a promise) fails the job it was thrown for, and the process carries on;
 * with `crash`, it exits as the original did, and the broker delivers the
 * unsettled messages again.
 */
function guardProcess(crash: boolean): void {
  const handle = (kind: string) => (err: unknown) => {
    if (crash) {
      warn(`${kind}: ${errorMessage(err)}; exiting (--crash-on-exception)`);
      process.exit(1);
    }
    if (!failCurrentJob(err)) {
      warn(`${kind} outside any job, ignored: ${errorMessage(err)}`);
    }
  };
  process.on('uncaughtException', handle('uncaught exception'));
  process.on('unhandledRejection', handle('unhandled rejection'));
}
