/**
 * `dump`: print what arrives on a queue, one JSON line per message, as
 * msgflo-dump-message does. On AMQP it reads through a private queue bound to
 * the queue's exchange, so it takes nothing away from the queue's consumers.
 */
import { InvalidOptionError } from '../errors';
import { readTls } from '../participant/connection';
import { chooseBroker, configuredBroker, TOOL_CONNECT_TIMEOUT_MS } from './broker';
import { data, info } from './output';

/** Flags of the dump command. */
export interface DumpFlags {
  queue: string;
  amount?: string;
  broker?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Print messages arriving on `flags.queue`; stop after `flags.amount` of them, if given. */
export async function dump(flags: DumpFlags): Promise<void> {
  const amount = flags.amount === undefined ? Infinity : Number(flags.amount);
  if (!(amount === Infinity || (Number.isInteger(amount) && amount > 0))) {
    throw new InvalidOptionError(`invalid --amount "${flags.amount}": expected a whole number of at least 1`);
  }
  const tls = readTls({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey });
  const { transport } = await chooseBroker(configuredBroker(flags.broker), { startEmbedded: false, transport: { connectTimeoutMs: TOOL_CONNECT_TIMEOUT_MS, ...(tls ? { tls } : {}) } });
  await transport.connect();
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    transport
      .tap(flags.queue, (message) => {
        seen += 1;
        data(JSON.stringify(message));
        if (seen >= amount) {
          resolve();
        }
      })
      .then(() => info(`listening on ${flags.queue}`), reject);
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await transport.close();
}
