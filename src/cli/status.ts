/**
 * `status`: listen to discovery for one heartbeat and print the roles,
 * participants, ports and queues seen, with queue depths on AMQP (read
 * passively: nothing is declared). MQTT has no queues, so no depths.
 *
 * On AMQP the discovery queue `fbp` is shared out among its consumers: the
 * announcements this gets are held, not taken, and go back to the queue for
 * a running coordinator when it closes its connection.
 */
import { InvalidOptionError } from '../errors';
import { readTls } from '../participant/connection';
import { ParticipantRegistry } from '../coordinator/registry';
import { QueueInspector } from '../ops/queue-depths';
import { formatStatus, queuesToInspect } from '../ops/status-table';
import { chooseBroker, configuredBroker, TOOL_CONNECT_TIMEOUT_MS } from './broker';
import { data, info } from './output';

/** Flags of the status command. */
export interface StatusFlags {
  broker?: string;
  wait?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** How long participants take to announce themselves again: the discovery period / 2.2. */
export function heartbeatSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const period = Number(env.MSGFLO_DISCOVERY_PERIOD ?? 60);
  return (Number.isFinite(period) && period > 0 ? period : 60) / 2.2;
}

/** Listen, then print the table. */
export async function status(flags: StatusFlags): Promise<void> {
  const seconds = flags.wait === undefined ? heartbeatSeconds() : Number(flags.wait);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidOptionError(`invalid --wait "${flags.wait}": expected a number of seconds above 0`);
  }
  const tls = readTls({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey });
  const broker = configuredBroker(flags.broker);
  const { transport } = await chooseBroker(broker, { startEmbedded: false, transport: { connectTimeoutMs: TOOL_CONNECT_TIMEOUT_MS, ...(tls ? { tls } : {}) } });
  await transport.connect();
  const registry = new ParticipantRegistry(Infinity);
  let subscription;
  try {
    subscription = await transport.consumeDiscovery((message) => registry.handle(message), { hold: true });
    process.stderr.write(`listening to discovery on ${transport.displayUrl} for ${Math.round(seconds * 10) / 10} s\n`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, seconds * 1000);
      const stop = (): void => {
        clearTimeout(timer);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await subscription.cancel();
  } finally {
    await transport.close();
  }
  const definitions = registry.list();
  if (definitions.length === 0) {
    info(`no participant announced itself on ${transport.displayUrl} within ${Math.round(seconds * 10) / 10} s`);
    return;
  }
  let depths;
  if (transport.protocol === 'amqp') {
    const inspector = await QueueInspector.connect(broker as string, tls);
    try {
      depths = await inspector.depths(queuesToInspect(definitions));
    } finally {
      await inspector.close();
    }
  }
  for (const line of formatStatus(definitions, depths)) {
    data(line);
  }
  if (transport.protocol !== 'amqp') {
    info('');
    info(`queue depths are not available on ${transport.protocol.toUpperCase()}: topics keep no queues to count`);
  }
}
