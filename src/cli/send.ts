/**
 * `send`: put one message on a queue, as msgflo-send-message does, and tell
 * whether it got there. On AMQP it is published mandatory with publisher
 * confirms: a message RabbitMQ routes to no queue (a mistyped queue name, an
 * outqueue with nothing bound) fails the command, naming the queue most
 * likely meant. On MQTT nobody can tell whether anyone subscribes.
 *
 * The body is sent as given (`--json`, or a file's bytes), once checked to
 * be JSON: MsgFlo bodies are JSON (WIRE: "Messages").
 */
import { readFile } from 'node:fs/promises';
import { BrokerError, ErrorCode, errorMessage, InvalidOptionError, UnroutableError } from '../errors';
import { lookUpName, nearestName } from '../ops/queue-depths';
import { readTls } from '../participant/connection';
import { Encoded } from '../protocol/codec';
import { isUnavailable, type Transport } from '../transport/transport';
import { chooseBroker, configuredBroker, TOOL_CONNECT_TIMEOUT_MS } from './broker';

/** Flags of the send command. */
export interface SendFlags {
  queue: string;
  json?: string;
  file?: string;
  broker?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * Send the body of `flags.json` or `flags.file` to `flags.queue` and close;
 * one line on stderr says where it went. Throws when the broker took it
 * nowhere or refused it (the CLI exits 1), saying so in one line.
 */
export async function send(flags: SendFlags): Promise<void> {
  const body = await readBody(flags);
  const tls = readTls({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey });
  const { transport } = await chooseBroker(configuredBroker(flags.broker), { startEmbedded: false, transport: { connectTimeoutMs: TOOL_CONNECT_TIMEOUT_MS, ...(tls ? { tls } : {}) } });
  await transport.connect();
  const where = transport.connectedTo ?? transport.displayUrl;
  try {
    await transport.send('inqueue', flags.queue, new Encoded(body), { unroutable: 'fail' });
  } catch (err) {
    const why = (err instanceof UnroutableError ? await explainUnroutable(transport, flags.queue, where) : undefined) ?? `${errorMessage(err)}; nothing was sent`;
    throw new BrokerError(ErrorCode.BrokerOperation, `send: ${why}`, { cause: err });
  } finally {
    await transport.close();
  }
  const size = `${body.length} byte${body.length === 1 ? '' : 's'}`;
  if (transport.protocol === 'mqtt') {
    process.stderr.write(`published ${size} to ${flags.queue} on ${where} (MQTT cannot tell whether anyone subscribes)\n`);
  } else {
    process.stderr.write(`sent ${size} to ${flags.queue} on ${where} (confirmed by the broker)\n`);
  }
}

/** The body to send: `--json` or the bytes of `--file` (`-`: stdin), checked to be JSON. */
async function readBody(flags: SendFlags): Promise<Buffer> {
  if ((flags.json === undefined) === (flags.file === undefined)) {
    throw new InvalidOptionError('give the message with exactly one of --json and --file');
  }
  if (flags.json !== undefined) {
    try {
      JSON.parse(flags.json);
    } catch (cause) {
      throw new InvalidOptionError(`invalid --json ${JSON.stringify(flags.json)}: not JSON (quote strings: '"text"')`, { cause });
    }
    return Buffer.from(flags.json);
  }
  const file = flags.file as string;
  const what = file === '-' ? '--file - (standard input)' : `--file "${file}"`;
  let body: Buffer;
  try {
    body = file === '-' ? await readStdin() : await readFile(file);
  } catch (cause) {
    throw new InvalidOptionError(`invalid ${what}: ${errorMessage(cause)}`, { cause });
  }
  try {
    JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new InvalidOptionError(`invalid ${what}: not JSON (${errorMessage(cause).replace(/\s+/g, ' ')}); MsgFlo messages are JSON`, { cause });
  }
  return body;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Why the broker routed a message for `queue` to no queue, and what was
 * likely meant, asked on the transport that sent it; undefined when it
 * cannot tell (only AMQP says a message was unroutable, and tells).
 */
async function explainUnroutable(transport: Transport, queue: string, where: string): Promise<string | undefined> {
  const found = await lookUpName(transport, queue);
  if (isUnavailable(found)) {
    return undefined;
  }
  if (found.queue) {
    return `queue "${queue}" on ${where} did not take the message (unavailable: a cluster node holding it may be down); it was not delivered`;
  }
  const meant = await nearestName(transport, queue);
  if (found.exchange) {
    const example = meant ? ` (e.g. "${meant}")` : '';
    return `"${queue}" on ${where} is an outqueue (an exchange); nothing is bound to it, so the message went nowhere; send to an inqueue${example}, or bind it with setup`;
  }
  return `no queue "${queue}" on ${where}${meant ? ` (did you mean "${meant}"?)` : ''}; nothing was sent`;
}
