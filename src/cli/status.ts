/**
 * `status`: ask the participants to announce themselves, listen, and print
 * the roles, participants, ports and queues heard of, with queue depths where
 * the transport tells them (AMQP, read passively: nothing is declared). MQTT
 * has no queues, so no depths.
 *
 * On AMQP the discovery queue `fbp` is shared out among its consumers: the
 * announcements this gets from it are held, not taken, and go back to the
 * queue for a running coordinator when it closes its connection.
 */
import { InvalidOptionError } from '../errors';
import { readTls } from '../participant/connection';
import { ParticipantRegistry } from '../coordinator/registry';
import { queueDepths } from '../ops/queue-depths';
import { formatStatus, queuesToInspect, type DepthMap } from '../ops/status-table';
import { chooseBroker, configuredBroker, TOOL_CONNECT_TIMEOUT_MS } from './broker';
import { requestAnnouncements } from '../coordinator/discovery-request';
import { parseFbpMessage, parseRequestAnswer } from '../protocol/discovery';
import { isUnavailable, type Transport, type Unavailable } from '../transport/transport';
import { counted, data, info } from './output';

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

/** With a coordinator's answer in, how long status waits for more answers before it prints (ms). */
export const QUIET_AFTER_COORDINATOR_MS = 1000;

/**
 * Ask every participant to announce itself, listen, then print the table;
 * throws (exit 1) when nobody answered.
 *
 * What it hears: answers to a discovery request sent to an inbox of its own
 * (our participants each answer with their announcement, and a running
 * coordinator of ours with every participant it knows, including those of
 * other MsgFlo programs), and the `fbp` queue itself, held (participants of
 * other programs with no coordinator running announce there, at their
 * heartbeat; announcements of ours sent before the request, which may be of
 * participants gone since, are left to the answers). It stops at `--wait`, at Ctrl-C, or once a coordinator has
 * answered and {@link QUIET_AFTER_COORDINATOR_MS} passed without another
 * answer.
 */
export async function status(flags: StatusFlags): Promise<void> {
  const seconds = flags.wait === undefined ? heartbeatSeconds() : Number(flags.wait);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidOptionError(`invalid --wait "${flags.wait}": expected a number of seconds above 0`);
  }
  const tls = readTls({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey });
  // Ctrl-C is "print what was heard" from the start to the end, never a kill.
  const interruption = listenForInterrupt();
  try {
    await report(flags, seconds, tls, interruption.interrupted);
  } finally {
    interruption.dispose();
  }
}

/** SIGINT and SIGTERM, from now until `dispose()`: `interrupted` resolves at the first. */
function listenForInterrupt(): { readonly interrupted: Promise<void>; dispose(): void } {
  let signalled: () => void = () => undefined;
  const interrupted = new Promise<void>((resolve) => {
    signalled = resolve;
  });
  const handler = (): void => signalled();
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    interrupted,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

async function report(flags: StatusFlags, seconds: number, tls: ReturnType<typeof readTls>, interrupted: Promise<void>): Promise<void> {
  const { transport } = await chooseBroker(configuredBroker(flags.broker), { startEmbedded: false, transport: { connectTimeoutMs: TOOL_CONNECT_TIMEOUT_MS, ...(tls ? { tls } : {}) } });
  const connected = transport.connect();
  const stopped = await Promise.race([connected.then(() => false), interrupted.then(() => true)]);
  if (stopped) {
    connected.catch(() => undefined);
    await transport.close().catch(() => undefined);
    throw new InvalidOptionError(`interrupted while connecting to ${transport.displayUrl}`);
  }
  const registry = new ParticipantRegistry(Infinity);
  const started = Date.now();
  let waited: string;
  let depths: DepthMap | Unavailable | undefined;
  try {
    const how = await listen(transport, registry, seconds, interrupted);
    waited = `${formatSeconds(Date.now() - started)} (${how})`;
    const heard = registry.list();
    // Asked on the same connection, before it closes (nothing is declared).
    depths = heard.length > 0 ? await queueDepths(transport, queuesToInspect(heard)) : undefined;
  } finally {
    await transport.close();
  }
  const definitions = registry.list();
  if (definitions.length === 0) {
    throw new InvalidOptionError(`no participant answered or announced itself on ${transport.displayUrl} in ${waited}`);
  }
  for (const line of formatStatus(definitions, isUnavailable(depths) ? undefined : depths)) {
    data(line);
  }
  info(`heard ${counted(definitions.length, 'participant')} in ${waited}`);
  if (isUnavailable(depths)) {
    info(`queue depths are not available on ${transport.protocol.toUpperCase()}: ${depths.reason}`);
  }
}

/**
 * Ask for announcements, and put what is heard into `registry` until the
 * time is up (`seconds`), Ctrl-C, or a coordinator's answer is through;
 * resolves with which of them ended it.
 */
async function listen(transport: Transport, registry: ParticipantRegistry, seconds: number, interrupted: Promise<void>): Promise<string> {
  let coordinators = 0;
  let lastAnswer = 0;
  const inbox = await transport.inbox((message) => {
    const answer = parseRequestAnswer(message);
    if (answer.kind === 'participant') {
      registry.learn(answer.definition, answer.time ?? Date.now());
    } else if (answer.kind === 'registry') {
      coordinators += 1;
      for (const entry of answer.participants) {
        registry.learn(entry.definition, entry.lastSeen);
      }
    }
    lastAnswer = Date.now();
  });
  // Ours answer at the inbox; their announcements in fbp from before the
  // request may be of participants gone since. Others' say no time.
  const asked = Date.now();
  const held = await transport.consumeDiscovery(
    (message) => {
      const read = parseFbpMessage(message);
      if (read.kind !== 'participant' || read.time === undefined || read.time >= asked) {
        registry.handle(message);
      }
    },
    { hold: true },
  );
  await requestAnnouncements(transport, inbox.address);
  info(`listening to discovery on ${transport.displayUrl} for up to ${formatSeconds(seconds * 1000)} (less once a coordinator answers; Ctrl-C prints what was heard)`);
  const how = await new Promise<string>((resolve) => {
    const check = setInterval(() => {
      if (coordinators > 0 && Date.now() - lastAnswer >= QUIET_AFTER_COORDINATOR_MS) {
        finish(`${coordinators === 1 ? 'a coordinator' : `${coordinators} coordinators`} answered`);
      }
    }, 100);
    const timer = setTimeout(() => finish('the time given'), seconds * 1000);
    void interrupted.then(() => finish('interrupted'));
    function finish(reason: string): void {
      clearInterval(check);
      clearTimeout(timer);
      resolve(reason);
    }
  });
  await held.cancel();
  await inbox.subscription.cancel();
  return how;
}

/** `1.2 s` */
function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
