/**
 * Participant options: defaults, the environment, `--attr key.sub=value`
 * overrides, and validation with errors that name the option and the value.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { BrokerUrlError, InvalidOptionError } from '../errors';
import type { PortOverride } from '../protocol/definition';
import type { TransportOptions } from '../transport/options';
import { parseBrokerList } from '../transport/url';

/** Everything a participant needs, validated. */
export interface ParticipantOptions {
  /** The role; `*` in the given name was replaced by a random string. */
  readonly name: string;
  /** Component name, graph name or graph file. */
  readonly graph: string;
  /**
   * Broker URL, or a comma-separated list of URLs of one broker's nodes
   * (checked, blanks removed); undefined when none is configured anywhere.
   */
  readonly broker: string | undefined;
  readonly basedir: string;
  /** Jobs in flight per inport. */
  readonly prefetch: number;
  /** Inports whose failed messages get a `dead-<queue>` queue; `*` for all visible ones. */
  readonly deadletter: readonly string[];
  /** Initial packets by exported inport, replacing the graph's own. */
  readonly iips: Readonly<Record<string, unknown>>;
  readonly inports: Readonly<Record<string, PortOverride>>;
  readonly outports: Readonly<Record<string, PortOverride>>;
  /** A fresh network per job, shut down after it. */
  readonly dedicatedNetwork: boolean;
  /** Use NoFlo's component manifest cache (fbp.json). */
  readonly cache: boolean;
  /** Record a Flowtrace. */
  readonly trace: boolean;
  /** Discovery period in seconds; the message is re-sent every period / 2.2. */
  readonly discoveryPeriod: number;
  /** Largest message body accepted, in bytes; bigger ones are dead-lettered. */
  readonly maxMessageSize: number;
  /** Deepest JSON nesting accepted; deeper messages are dead-lettered. */
  readonly maxDepth: number;
  /** A job not done after this many ms is dead-lettered, its reason saying it timed out. */
  readonly jobTimeout: number | undefined;
  /**
   * A job in flight this many ms is said once, as a warning. Undefined: ten
   * times the role's median job duration, and at least {@link DEFAULT_SLOW_JOB_MS}.
   */
  readonly slowJob: number | undefined;
  /**
   * How long, in ms, a job whose packet a node keeps for want of its
   * configuration (a control port that has had no packet yet, such as an IIP
   * the coordinator sends once it hears the participant) waits for it before
   * it fails. Default {@link DEFAULT_CONFIG_WAIT_MS}.
   */
  readonly configWait: number;
  /** How long a shutdown waits for in-flight jobs, in ms. */
  readonly drainTimeout: number;
  /** How long to keep trying to reach the broker at start, in ms. */
  readonly connectTimeout: number;
  /** AMQP inqueue type. */
  readonly queueType: 'classic' | 'quorum';
  /**
   * AMQP: what an output the broker routes to no queue means for its job.
   * `ack` (default, as MsgFlo: an outport with nothing bound is normal):
   * counted, the job goes on; `fail`: the job fails and its input is
   * dead-lettered (or, left to the broker, delivered again). Per outport:
   * `outports.<port>.unroutable`.
   */
  readonly onUnroutable: 'ack' | 'fail';
  /** Quorum queues: deliveries before RabbitMQ dead-letters a message. */
  readonly deliveryLimit: number;
  /** MQTT client id prefix, stable across restarts; `msgflo-<role>` by default. */
  readonly clientId: string;
  /**
   * MQTT: QoS of inputs and outputs, 1 (default: nothing lost) or 0 (as the
   * original ran: no acknowledgements, a message in flight is lost when the
   * participant or broker fails); see {@link TransportOptions.mqttQos}.
   */
  readonly mqttQos: 0 | 1;
  /** TLS files (PEM) for amqps:// and mqtts://. */
  readonly tls: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  /** Exit the process on an exception thrown outside NoFlo's own handling, as the original did. */
  readonly crashOnException: boolean;
  /** Serve the FBP runtime protocol on this 127.0.0.1 port too (0: any free port). */
  readonly protocolPort: number | undefined;
  /** The full FBP protocol (graph editing, network control, ...) instead of the read-only set. */
  readonly protocolFull: boolean;
  /** What the discovery message carries. */
  readonly discovery: DiscoveryOptions;
}

/**
 * What a participant's discovery message carries (`--attr discovery.extra=false`).
 */
export interface DiscoveryOptions {
  /**
   * The keys beyond the seven every MsgFlo participant sends (`type`,
   * `version`, `inqueue`, `outqueue`, `started`, `metrics` in the payload;
   * `time` beside it), which this runtime's coordinator and FBP clients use.
   * `false`: only the seven, `label` and `icon` given (empty) when the graph
   * has none, for consumers that check the exact key set. Default `true`.
   */
  readonly extra: boolean;
}

/** What a caller may give; everything but `name` and `graph` has a default. */
export interface ParticipantInput {
  name: string;
  graph: string;
  /** A broker URL or a comma-separated list of them; see {@link brokerSetting}. */
  broker?: string | undefined;
  basedir?: string | undefined;
  prefetch?: number | string | undefined;
  deadletter?: string | readonly string[] | undefined;
  iips?: string | Record<string, unknown> | undefined;
  inports?: Record<string, PortOverride> | undefined;
  outports?: Record<string, PortOverride> | undefined;
  dedicatedNetwork?: boolean | undefined;
  cache?: boolean | undefined;
  trace?: boolean | undefined;
  discoveryPeriod?: number | string | undefined;
  maxMessageSize?: number | string | undefined;
  maxDepth?: number | string | undefined;
  jobTimeout?: number | string | undefined;
  slowJob?: number | string | undefined;
  configWait?: number | string | undefined;
  drainTimeout?: number | string | undefined;
  connectTimeout?: number | string | undefined;
  queueType?: string | undefined;
  onUnroutable?: string | undefined;
  deliveryLimit?: number | string | undefined;
  clientId?: string | undefined;
  mqttQos?: number | string | undefined;
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  crashOnException?: boolean | undefined;
  protocolPort?: number | string | undefined;
  protocolFull?: boolean | undefined;
  /** `{extra: false}`: only the seven keys every participant sends, in the discovery message ({@link DiscoveryOptions}). */
  discovery?: { extra?: boolean | undefined } | undefined;
  /** `key.sub=value` overrides, applied last. */
  attr?: readonly string[] | undefined;
}

/** The options a participant takes, by name: `--attr` keys and participants-file keys. */
export const PARTICIPANT_KEYS: readonly string[] = [
  'name', 'graph', 'broker', 'basedir', 'prefetch', 'deadletter', 'iips', 'inports', 'outports', 'dedicatedNetwork', 'cache', 'trace',
  'discoveryPeriod', 'maxMessageSize', 'maxDepth', 'jobTimeout', 'slowJob', 'configWait', 'drainTimeout', 'connectTimeout', 'queueType', 'onUnroutable', 'deliveryLimit', 'clientId', 'mqttQos',
  'tlsCa', 'tlsCert', 'tlsKey', 'crashOnException', 'protocolPort', 'protocolFull', 'discovery',
];

/** Default largest message body: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;
/** Default deepest JSON nesting. */
export const DEFAULT_MAX_DEPTH = 1000;
/** How long a job waits for its node's configuration, when `configWait` is not set: 10 s. */
export const DEFAULT_CONFIG_WAIT_MS = 10_000;

/** The least a job runs before it is said to be slow, when `slowJob` is not set: 30 s. */
export const DEFAULT_SLOW_JOB_MS = 30_000;
const PORT_KEYS = ['queue', 'hidden', 'description', 'type', 'schema', 'unroutable'];

/** Validate `input`, fill defaults from `env`, and apply `--attr` overrides. */
export function normalizeOptions(input: ParticipantInput, env: NodeJS.ProcessEnv = process.env): ParticipantOptions {
  const merged = applyAttributes(input, input.attr ?? []);
  const name = requireString('name', merged.name).replace(/\*/g, () => randomBytes(4).toString('hex'));
  if (/\s/.test(name)) {
    throw new InvalidOptionError(`invalid --name "${name}": a role cannot contain whitespace`);
  }
  return {
    name,
    graph: requireString('graph', merged.graph),
    broker: brokerSetting(merged.broker, env),
    basedir: path.resolve(merged.basedir || process.cwd()),
    prefetch: positiveInteger('prefetch', merged.prefetch ?? 1),
    deadletter: parseList(merged.deadletter),
    iips: parseIips(merged.iips),
    inports: portOverrides('inports', merged.inports),
    outports: portOverrides('outports', merged.outports),
    dedicatedNetwork: merged.dedicatedNetwork ?? false,
    cache: merged.cache ?? false,
    trace: merged.trace ?? false,
    discoveryPeriod: positiveNumber('discovery period (MSGFLO_DISCOVERY_PERIOD)', merged.discoveryPeriod ?? env.MSGFLO_DISCOVERY_PERIOD ?? 60),
    maxMessageSize: positiveInteger('max-message-size', merged.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE),
    maxDepth: positiveInteger('max-depth', merged.maxDepth ?? DEFAULT_MAX_DEPTH),
    jobTimeout: merged.jobTimeout === undefined ? undefined : positiveInteger('job-timeout', merged.jobTimeout),
    slowJob: merged.slowJob === undefined ? undefined : positiveInteger('slow-job', merged.slowJob),
    configWait: positiveInteger('config-wait', merged.configWait ?? DEFAULT_CONFIG_WAIT_MS),
    drainTimeout: positiveInteger('drain-timeout', merged.drainTimeout ?? 30_000),
    connectTimeout: positiveInteger('connect-timeout', merged.connectTimeout ?? 30_000),
    queueType: queueType(merged.queueType),
    onUnroutable: ackOrFail('on-unroutable', merged.onUnroutable ?? 'ack'),
    deliveryLimit: positiveInteger('delivery-limit', merged.deliveryLimit ?? 5),
    clientId: merged.clientId || `msgflo-${name}`,
    mqttQos: mqttQos(merged.mqttQos),
    tls: tlsFiles(merged),
    crashOnException: merged.crashOnException ?? false,
    protocolPort: merged.protocolPort === undefined ? undefined : port('protocol-port', merged.protocolPort),
    protocolFull: boolean('protocol-full', merged.protocolFull ?? false),
    discovery: discoveryOptions(merged.discovery),
  };
}

const DISCOVERY_SETTINGS = ['extra'];

function discoveryOptions(value: unknown): DiscoveryOptions {
  if (value === undefined) {
    return { extra: true };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(`invalid discovery: expected an object like {"extra": false} (--attr discovery.extra=false), got ${describeType(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!DISCOVERY_SETTINGS.includes(key)) {
      throw new InvalidOptionError(`invalid discovery.${key}: unknown discovery setting (known: ${DISCOVERY_SETTINGS.join(', ')})`);
    }
  }
  const { extra } = value as { extra?: unknown };
  if (extra !== undefined && typeof extra !== 'boolean') {
    throw new InvalidOptionError(`invalid discovery.extra ${JSON.stringify(extra)}: expected true or false`);
  }
  return { extra: extra ?? true };
}

/**
 * The broker setting: `given`, else env `MSGFLO_BROKER`, else `CLOUDAMQP_URL`
 * (a variable set to "" counts as unset; a given "" does not, and is refused).
 * Each may be a comma-separated list of URLs. The list is checked with
 * {@link parseBrokerList}, and a {@link BrokerUrlError} names where it came
 * from (`label` for `given`, e.g. "--broker", or the variable), with
 * passwords masked.
 *
 * @returns the list in one form (`amqp://a,amqp://b`), or undefined when
 *   nothing is configured
 */
export function brokerSetting(given: unknown, env: NodeJS.ProcessEnv = process.env, label = 'broker'): string | undefined {
  if (typeof given === 'string') {
    return checkedBrokerList(given, label);
  }
  if (given !== undefined) {
    // `--attr broker=true`, or a caller without types.
    throw new InvalidOptionError(`invalid ${label}: expected a URL or a comma-separated list of URLs, got ${describeType(given)}`);
  }
  for (const variable of ['MSGFLO_BROKER', 'CLOUDAMQP_URL'] as const) {
    const value = env[variable];
    if (value) {
      return checkedBrokerList(value, variable);
    }
  }
  return undefined;
}

/** `raw` checked with {@link parseBrokerList} and joined again; errors start with `label`. */
export function checkedBrokerList(raw: string, label: string): string {
  try {
    return parseBrokerList(raw).urls.join(',');
  } catch (err) {
    if (err instanceof BrokerUrlError) {
      throw new BrokerUrlError(`${label}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** "a number", "an array", "null", ...: the kind of a value, for messages that must not show it. */
export function describeType(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return value.length === 0 ? 'an empty array' : 'an array';
  }
  const type = typeof value;
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

function boolean(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new InvalidOptionError(`invalid --${option} ${JSON.stringify(value)}: expected true or false`);
  }
  return value;
}

function port(option: string, value: unknown): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0 || number > 65535) {
    throw new InvalidOptionError(`invalid --${option} "${String(value)}": expected a port number from 0 to 65535`);
  }
  return number;
}

function queueType(value: string | undefined): 'classic' | 'quorum' {
  if (value === undefined || value === 'classic' || value === 'quorum') {
    return value ?? 'classic';
  }
  throw new InvalidOptionError(`invalid --queue-type "${value}": expected classic or quorum`);
}

function mqttQos(value: number | string | undefined): 0 | 1 {
  if (value === undefined || String(value) === '1') return 1;
  if (String(value) === '0') return 0;
  throw new InvalidOptionError(`invalid --mqtt-qos "${String(value)}": expected 0 or 1`);
}

function tlsFiles(input: ParticipantInput): ParticipantOptions['tls'] {
  const tls: { ca?: string; cert?: string; key?: string } = {};
  for (const [key, value] of [['ca', input.tlsCa], ['cert', input.tlsCert], ['key', input.tlsKey]] as const) {
    if (value) {
      tls[key] = path.resolve(value);
    }
  }
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    throw new InvalidOptionError(`invalid TLS options: --tls-cert and --tls-key go together (got only ${tls.cert ? '--tls-cert' : '--tls-key'})`);
  }
  return tls;
}

/** Apply `key.sub=value` assignments to a copy of `input`. */
export function applyAttributes(input: ParticipantInput, attrs: readonly string[]): ParticipantInput {
  const target = structuredClone({ ...input, attr: undefined }) as unknown as Record<string, unknown>;
  for (const attr of attrs) {
    const eq = attr.indexOf('=');
    if (eq <= 0) {
      throw new InvalidOptionError(`invalid --attr "${attr}": expected key.sub=value`);
    }
    const keys = attr.slice(0, eq).split('.');
    const value = attr.slice(eq + 1);
    if (!PARTICIPANT_KEYS.includes(keys[0] ?? '')) {
      throw new InvalidOptionError(`invalid --attr "${attr}": unknown option "${keys[0]}" (known: ${PARTICIPANT_KEYS.join(', ')})`);
    }
    let node = target;
    keys.forEach((key, index) => {
      if (index === keys.length - 1) {
        node[key] = coerce(value);
        return;
      }
      const next = node[key];
      node = typeof next === 'object' && next !== null ? (next as Record<string, unknown>) : (node[key] = {});
    });
  }
  return target as unknown as ParticipantInput;
}

function coerce(value: string): unknown {
  if (value === 'true') {
    return true;
  }
  if (value === 'false') {
    return false;
  }
  return value;
}

function requireString(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidOptionError(`missing --${option}: it is required`);
  }
  return value;
}

function positiveInteger(option: string, value: unknown): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1) {
    throw new InvalidOptionError(`invalid --${option} "${String(value)}": expected a whole number of at least 1`);
  }
  return number;
}

function positiveNumber(option: string, value: unknown): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number <= 0) {
    throw new InvalidOptionError(`invalid ${option} "${String(value)}": expected a number of seconds above 0`);
  }
  return number;
}

function parseList(value: string | readonly string[] | undefined): string[] {
  const items = typeof value === 'string' ? value.split(',') : [...(value ?? [])];
  return items.map((item) => item.trim()).filter((item) => item !== '');
}

function parseIips(value: string | Record<string, unknown> | undefined): Record<string, unknown> {
  if (value === undefined || value === '') {
    return {};
  }
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (cause) {
      throw new InvalidOptionError(`invalid --iips ${JSON.stringify(value)}: not JSON (expected an object like {"port": data})`, { cause });
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidOptionError(`invalid --iips ${JSON.stringify(value)}: expected a JSON object like {"port": data}`);
  }
  return parsed as Record<string, unknown>;
}

function portOverrides(option: 'inports' | 'outports', value: unknown): Record<string, PortOverride> {
  if (value === undefined) {
    return {};
  }
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionError(`invalid ${option}: expected an object of port overrides, got ${JSON.stringify(value)}`);
  }
  const result: Record<string, PortOverride> = {};
  for (const [port, override] of Object.entries(value as Record<string, unknown>)) {
    if (typeof override !== 'object' || override === null) {
      throw new InvalidOptionError(`invalid ${option}.${port}: expected an object like {"queue": "..."}, got ${JSON.stringify(override)}`);
    }
    const entry: PortOverride = {};
    for (const [key, v] of Object.entries(override as Record<string, unknown>)) {
      if (!PORT_KEYS.includes(key)) {
        throw new InvalidOptionError(`invalid ${option}.${port}.${key}: unknown port setting (known: ${PORT_KEYS.join(', ')})`);
      }
      if (key === 'unroutable') {
        entry.unroutable = ackOrFail(`${option}.${port}.unroutable`, v);
      } else if (key === 'hidden') {
        if (typeof v !== 'boolean') {
          throw new InvalidOptionError(`invalid ${option}.${port}.hidden "${String(v)}": expected true or false`);
        }
        entry.hidden = v;
      } else if (typeof v !== 'string' || v === '') {
        throw new InvalidOptionError(`invalid ${option}.${port}.${key} ${JSON.stringify(v)}: expected a non-empty string`);
      } else {
        (entry as Record<string, string>)[key] = v;
      }
    }
    result[port] = entry;
  }
  return result;
}

function ackOrFail(option: string, value: unknown): 'ack' | 'fail' {
  if (value === 'ack' || value === 'fail') {
    return value;
  }
  throw new InvalidOptionError(`invalid ${option.startsWith('-') || option.includes('.') ? option : `--${option}`} ${JSON.stringify(value)}: expected ack or fail`);
}
