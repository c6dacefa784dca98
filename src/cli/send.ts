/**
 * `send`: put one message on a queue, as msgflo-send-message does.
 */
import { InvalidOptionError } from '../errors';
import { readTls } from '../participant/connection';
import { chooseBroker, configuredBroker, TOOL_CONNECT_TIMEOUT_MS } from './broker';
import { info } from './output';

/** Flags of the send command. */
export interface SendFlags {
  queue: string;
  json: string;
  broker?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Send `flags.json` to `flags.queue` and close. */
export async function send(flags: SendFlags): Promise<void> {
  let data: unknown;
  try {
    data = JSON.parse(flags.json);
  } catch (cause) {
    throw new InvalidOptionError(`invalid --json ${JSON.stringify(flags.json)}: not JSON (quote strings: '"text"')`, { cause });
  }
  const tls = readTls({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey });
  const { transport } = await chooseBroker(configuredBroker(flags.broker), { startEmbedded: false, transport: { connectTimeoutMs: TOOL_CONNECT_TIMEOUT_MS, ...(tls ? { tls } : {}) } });
  await transport.connect();
  try {
    await transport.send('inqueue', flags.queue, data);
  } finally {
    await transport.close();
  }
  info(`sent to ${flags.queue}: ${JSON.stringify(data)}`);
}
