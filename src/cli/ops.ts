/**
 * The operations side of the commands that run participants: `--http-port`
 * (metrics, health) and `--log-format`.
 */
import createDebug from 'debug';
import os from 'node:os';
import type { Coordinator } from '../coordinator/coordinator';
import { InvalidOptionError } from '../errors';
import type { Host } from '../host/host';
import type { JobOutcome, Participant } from '../participant/participant';
import { ParticipantHealth } from '../ops/health';
import { parsePort, serveOps, type OpsEndpoint } from '../ops/http';
import { jobLogLine, LOG_FORMATS, type LogFormat } from '../ops/job-log';
import type { ParticipantMetrics } from '../ops/metrics';
import { scrubCredentials } from '../ops/redact';
import type { Transport } from '../transport/transport';
import { counted, data, info, warn } from './output';

const debug = createDebug('noflo-runtime-msgflo:cli:ops');

/** The flags every participant-running command takes. */
export interface OpsFlags {
  httpPort?: string;
  httpHost?: string;
  logFormat?: string;
}

/** The default `--http-host`: nothing leaves the machine unless asked. */
export const DEFAULT_HTTP_HOST = '127.0.0.1';

/** The log format a flag names; throws naming the flag. */
export function logFormat(flags: OpsFlags): LogFormat {
  const format = flags.logFormat ?? 'text';
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new InvalidOptionError(`invalid --log-format "${format}": expected ${LOG_FORMATS.join(' or ')}`);
  }
  return format as LogFormat;
}

/** Characters of a failed job's reason a text warning shows, at most. */
export const SHOWN_REASON_LENGTH = 200;

/**
 * Report a finished job: a JSON line each with `json` (the whole reason), a
 * warning for failures with `text`, its reason cut to its first line of at
 * most {@link SHOWN_REASON_LENGTH} characters (see {@link readableReason}).
 * Either way a broker URL's password in the reason is masked.
 *
 * @param participants - the participants reporting, to tell whether a failed job's dead letter keeps its reason
 */
export function jobReporter(format: LogFormat, participants: () => readonly Participant[] = () => []): (outcome: JobOutcome) => void {
  if (format === 'json') {
    return (outcome) => data(jobLogLine(outcome));
  }
  return (outcome) => {
    if (outcome.outcome === 'nack') {
      const kept = participants().some((participant) => participant.role === outcome.role && keepsReason(participant, outcome.port));
      // Credentials masked as in the JSON log, before cutting, so that the count of what is left out is of what would be shown.
      const reason = readableReason(scrubCredentials(outcome.reason ?? 'unknown error'), kept ? 'the full reason is in the dead letter' : '--log-format json logs the full reason');
      warn(`job on ${outcome.role} port ${outcome.port} failed: ${reason}`);
    }
  };
}

/** Whether a failed job of `participant` on `port` leaves a dead letter that carries its reason (AMQP's `x-msgflo-error` header). */
function keepsReason(participant: Participant, port: string): boolean {
  return participant.keepsDeadLetters(port) && /^amqps?:/.test(participant.brokerUrl);
}

/**
 * A failed job's reason as a warning line shows it: whole when it is one
 * line of at most `limit` characters; else its first line, cut to `limit`,
 * then `… (N more characters; WHERE)`, `where` saying where the rest is.
 */
export function readableReason(reason: string, where: string, limit = SHOWN_REASON_LENGTH): string {
  const whole = reason.trim();
  let shown = (whole.split('\n', 1)[0] ?? '').trimEnd();
  if (shown.length > limit) {
    shown = shown.slice(0, limit);
    // Not half a character (a surrogate pair cut in two).
    if (/[\uD800-\uDBFF]$/.test(shown)) {
      shown = shown.slice(0, -1);
    }
  }
  if (shown.length === whole.length) {
    return whole;
  }
  return `${shown}… (${counted(whole.length - shown.length, 'more character', 'more characters')}; ${where})`;
}

/** What `--http-port` serves from. */
interface Served {
  readonly endpoint: OpsEndpoint;
  readonly metrics: ParticipantMetrics;
}

/**
 * Metrics and health of the participants of this process, served when
 * `--http-port` is given. Without it nobody could read them: no metrics are
 * made at all (prom-client's default ones watch the event loop and every
 * garbage collection) and nothing is counted.
 */
export class ProcessOps {
  private constructor(
    private readonly served: Served | undefined,
    readonly health: ParticipantHealth,
  ) {}

  /** Start serving (when `--http-port` asks for it) before any participant starts, so liveness holds during startup. */
  static async start(flags: OpsFlags): Promise<ProcessOps> {
    const health = new ParticipantHealth();
    if (flags.httpPort === undefined) {
      if (flags.httpHost !== undefined) {
        throw new InvalidOptionError('--http-host needs --http-port');
      }
      return new ProcessOps(undefined, health);
    }
    const port = parsePort(flags.httpPort, '--http-port');
    // prom-client (and @opentelemetry/api) only when the metrics are served.
    const { ParticipantMetrics } = await import('../ops/metrics');
    const metrics = new ParticipantMetrics();
    const endpoint = await serveOps({
      host: flags.httpHost ?? DEFAULT_HTTP_HOST,
      port,
      metrics: () => metrics.text(),
      readiness: () => health.readiness(),
    });
    info(`metrics on ${endpoint.url}/metrics, health on ${endpoint.url}/healthz and /readyz`);
    return new ProcessOps({ endpoint, metrics }, health);
  }

  /** Where the endpoint listens, if it does. */
  get url(): string | undefined {
    return this.served?.endpoint.url;
  }

  /**
   * Added to each participant's discovery message, so that a coordinator can
   * read its metrics. A wildcard listening address is announced by host name.
   */
  discoveryFields(flags: OpsFlags): Record<string, string> {
    if (!this.served) {
      return {};
    }
    const host = flags.httpHost ?? DEFAULT_HTTP_HOST;
    const announced = host === '0.0.0.0' || host === '::' ? os.hostname() : host.includes(':') ? `[${host}]` : host;
    return { metrics: `http://${announced}:${this.served.endpoint.port}/metrics` };
  }

  /** Count and follow a participant, when served; call before it starts. */
  watch(participant: Participant): void {
    if (!this.served) {
      return;
    }
    const { metrics } = this.served;
    metrics.watch(participant);
    this.health.watch(participant);
    participant.once('started', () => metrics.started(participant));
  }

  /** Stop answering ready, then stop serving. */
  async close(): Promise<void> {
    this.health.stop();
    await this.served?.endpoint.close().catch((err: unknown) => debug('closing: %s', String(err)));
  }
}

/** The coordinator's endpoint: its live page and picture, plus the metrics and health of the participants it hosts. */
export interface CoordinatorOps {
  readonly url: string;
  close(): Promise<void>;
}

/** Serve the coordinator's page, metrics and health on `--http-port`; undefined without it. */
export async function startCoordinatorOps(
  flags: OpsFlags,
  system: { coordinator: Coordinator; transport: Transport; host: Host },
): Promise<CoordinatorOps | undefined> {
  if (flags.httpPort === undefined) {
    if (flags.httpHost !== undefined) {
      throw new InvalidOptionError('--http-host needs --http-port');
    }
    return undefined;
  }
  const port = parsePort(flags.httpPort, '--http-port');
  const { coordinator, transport, host } = system;
  // The page, its layout engine and the metrics only when served.
  const [{ SystemView }, { ParticipantMetrics }, { registerSystemMetrics, systemRoutes }] = await Promise.all([
    import('../ops/system-view'),
    import('../ops/metrics'),
    import('../ops/system-endpoint'),
  ]);
  const view = new SystemView(coordinator, transport);
  const metrics = new ParticipantMetrics();
  registerSystemMetrics(metrics.registry, view);
  const health = new ParticipantHealth(false);
  health.startedAll();
  host.on('added', (participant) => {
    metrics.watch(participant);
    health.watch(participant);
    participant.once('started', () => metrics.started(participant));
  });
  let connected = true;
  let lastError = '';
  transport.on('disconnected', (err) => {
    connected = false;
    lastError = err.message;
  });
  transport.on('reconnected', () => {
    connected = true;
  });
  const endpoint = await serveOps({
    host: flags.httpHost ?? DEFAULT_HTTP_HOST,
    port,
    metrics: () => metrics.text(),
    readiness: () => {
      const { reasons } = health.readiness();
      const discovery = coordinator.discoveryState();
      const own = !connected
        ? [`coordinator: not connected to ${transport.displayUrl} (${lastError})`]
        : discovery.active
          ? []
          : [`coordinator: not listening to discovery: ${discovery.reason ?? 'not consuming'}`];
      const all = [...own, ...reasons];
      return { ready: all.length === 0, reasons: all };
    },
    routes: systemRoutes(view),
  });
  view.start();
  info(`live system page on ${endpoint.url}/, metrics on ${endpoint.url}/metrics, health on /healthz and /readyz`);
  return {
    url: endpoint.url,
    async close() {
      health.stop();
      await view.stop();
      await endpoint.close();
    },
  };
}
