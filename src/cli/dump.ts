/**
 * `dump`: print what arrives on a queue, one JSON line per message on
 * stdout, as msgflo-dump-message does; what it listens to, on stderr. It
 * takes nothing away from the queue's consumers.
 *
 * On AMQP it reads through a private queue bound to the exchange of that
 * name: an outqueue is one; an inqueue has one of its own, bound to it
 * (WIRE), through which `send`, a coordinator's IIPs and the bindings it
 * makes deliver. Messages that other programs publish straight to the queue
 * (msgflo-send-message, a binding made by msgflo-setup) pass it by, and
 * cannot be seen without taking them from the consumers: said when it
 * starts. A name that is no exchange is refused, naming the name most
 * likely meant. On MQTT a queue is a topic, and every message is seen.
 * When the broker connection is lost it says so, and again once it is back:
 * what was sent in between was not seen.
 */
import { BrokerError, ErrorCode, InvalidOptionError } from '../errors';
import { lookUpName, nearestName } from '../ops/queue-depths';
import { readTls } from '../participant/connection';
import { isUnavailable, type Transport } from '../transport/transport';
import { chooseBroker, configuredBroker, embeddedGoneLine, TOOL_CONNECT_TIMEOUT_MS } from './broker';
import { data, info, warn } from './output';

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
  const { transport, owner } = await chooseBroker(configuredBroker(flags.broker), { startEmbedded: false, transport: { connectTimeoutMs: TOOL_CONNECT_TIMEOUT_MS, ...(tls ? { tls } : {}) } });
  await transport.connect();
  const where = transport.connectedTo ?? transport.displayUrl;
  let listening: string;
  try {
    listening = await whatIsSeen(transport, flags.queue, where);
  } catch (err) {
    await transport.close();
    throw err;
  }
  // A tap sees what is published while it listens, and nothing is kept for it meanwhile.
  transport.on('disconnected', (err) =>
    warn(embeddedGoneLine(owner, 'messages sent until it is back are not seen') ?? `lost the broker connection (${err.message}); reconnecting: messages sent until it is back are not seen`),
  );
  transport.on('reconnected', () => info(`reconnected to ${transport.connectedTo ?? transport.displayUrl}, listening again on ${flags.queue}: messages sent while the connection was down were not seen`));
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
      .then(() => info(listening), reject);
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await transport.close();
}

/**
 * What a dump of `name` sees, as the line to say so, asked on the transport
 * that will listen; throws, saying why, when it would see nothing. Where the
 * transport cannot tell (MQTT: a queue is a topic, and every message is
 * seen), it listens.
 */
async function whatIsSeen(transport: Transport, name: string, where: string): Promise<string> {
  const found = await lookUpName(transport, name);
  if (isUnavailable(found) || (found.exchange && !found.queue)) {
    return `listening on ${name} on ${where}`;
  }
  if (found.exchange) {
    return `listening on ${name} on ${where} through its exchange: shows what send, a coordinator's IIPs and its bindings deliver, not messages other programs publish straight to the queue (msgflo-send-message, bindings made by msgflo-setup)`;
  }
  if (found.queue) {
    throw new BrokerError(ErrorCode.BrokerOperation, `dump: queue "${name}" on ${where} has no exchange of its own, so its messages cannot be seen without taking them from its consumers`);
  }
  const meant = await nearestName(transport, name, { exchanges: true });
  throw new BrokerError(ErrorCode.BrokerOperation, `dump: no queue or exchange "${name}" on ${where}${meant ? ` (did you mean "${meant}"?)` : ''}`);
}
