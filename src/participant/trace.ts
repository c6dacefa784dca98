/**
 * A participant's Flowtrace: recorded from the start with `--trace`, or
 * turned on and off while it runs by the FBP protocol's `trace:start` and
 * `trace:stop` (as the original noflo-runtime-msgflo did), over either
 * endpoint: tracing observes the network and changes nothing of what it
 * does. One trace for the participant's life: stopping keeps what was
 * recorded, for `trace:dump` and `SIGUSR2`, until `trace:clear`.
 */
import type { Flowtrace } from 'flowtrace';
import { error, reply, type Reply, type Request } from '../fbp/messages';

/** The flowtrace package, loaded when a trace first starts (`--trace`, `trace:start`): a participant that never traces does without it. */
const loadFlowtrace = (): typeof import('flowtrace') => require('flowtrace') as typeof import('flowtrace');

/** Events kept when `trace:start` names no `buffersize`: the newest, as NoFlo's runtimes keep. */
export const DEFAULT_TRACE_BUFFER = 400;

/** The most events `trace:start` may ask to keep: anyone who reaches an endpoint may start a trace, and what it keeps is memory. */
export const MAX_TRACE_BUFFER = 100_000;

/** A Flowtrace's header: label, runtime, type. */
type FlowtraceMetadata = ConstructorParameters<typeof Flowtrace>[0];

/** What the events of a Flowtrace are kept in (the `circular-buffer` package's, newest first). */
interface EventBuffer {
  toarray(): unknown[];
  enq(event: unknown): void;
}

/** A network that can be traced: a `GraphNetwork`. */
export interface Traceable {
  /** Record in `flowtrace` from now on; undefined: stop recording. */
  setFlowtrace(flowtrace: Flowtrace | undefined): void;
}

/** The Flowtrace of one participant, and the networks it records. */
export class ParticipantTrace {
  private trace: Flowtrace | undefined;
  private on = false;
  private readonly networks = new Set<Traceable>();

  /**
   * @param metadata - the trace's header (label, runtime, type)
   * @param recording - whether it records from the start (`--trace`)
   */
  constructor(
    private readonly metadata: FlowtraceMetadata,
    recording: boolean,
  ) {
    if (recording) {
      this.start();
    }
  }

  /** Whether it records now. */
  get recording(): boolean {
    return this.on;
  }

  /** The Flowtrace a network records in now; undefined while not recording. */
  get active(): Flowtrace | undefined {
    return this.on ? this.trace : undefined;
  }

  /** The Flowtrace recorded so far, recording or not; undefined when it never recorded. */
  get recorded(): Flowtrace | undefined {
    return this.trace;
  }

  /** Events kept at most. */
  get bufferSize(): number {
    return this.trace?.bufferSize ?? DEFAULT_TRACE_BUFFER;
  }

  /** Record `network` as long as tracing is on, from now on; {@link unfollow} it once it is shut down. */
  follow(network: Traceable): void {
    this.networks.add(network);
    network.setFlowtrace(this.active);
  }

  /** Forget `network`: it is shut down. */
  unfollow(network: Traceable): void {
    this.networks.delete(network);
  }

  /**
   * Record the networks followed, from now on, keeping the newest
   * `buffersize` events (the newest of those recorded already, when it
   * changes). Recording already: only the buffer size may change.
   */
  start(buffersize?: number): void {
    this.trace ??= new (loadFlowtrace().Flowtrace)(this.metadata, buffersize ?? DEFAULT_TRACE_BUFFER);
    if (buffersize !== undefined && buffersize !== this.trace.bufferSize) {
      resize(this.trace, buffersize);
    }
    if (!this.on) {
      this.on = true;
      for (const network of this.networks) {
        network.setFlowtrace(this.trace);
      }
    }
  }

  /** Stop recording; what was recorded is kept. */
  stop(): void {
    if (!this.on) {
      return;
    }
    this.on = false;
    for (const network of this.networks) {
      network.setFlowtrace(undefined);
    }
  }

  /** Drop the events recorded so far (the header stays). */
  clear(): void {
    this.trace?.clear();
  }

  /** The trace as Flowtrace JSON text; undefined when it never recorded. */
  dump(): string | undefined {
    return this.trace ? JSON.stringify(this.trace.toJSON()) : undefined;
  }
}

/** Keep the newest `size` events of `trace`, and that many from now on. */
function resize(trace: Flowtrace, size: number): void {
  const newestFirst = (trace.events as EventBuffer).toarray().slice(0, size);
  trace.bufferSize = size;
  trace.clear();
  const events = trace.events as EventBuffer;
  for (const event of newestFirst.reverse()) {
    events.enq(event);
  }
}

/**
 * The reply to a `trace:*` request about the participant's graph `graph`
 * (the `graph` every reply names), from either endpoint: `trace:start`
 * (`buffersize`, if given, a whole number of events, at most
 * {@link MAX_TRACE_BUFFER}),
 * `trace:stop`, `trace:clear` and `trace:dump` (`flowtrace`: the Flowtrace
 * as JSON text, as the protocol's schema has it); `trace:error` for a bad
 * `buffersize`, a dump of another type than `flowtrace.json`, a dump or
 * clear before anything was recorded, and another command.
 */
export function traceReply(request: Request, trace: ParticipantTrace, graph: string): Reply {
  const { payload } = request;
  switch (request.command) {
    case 'start': {
      const size = payload.buffersize;
      if (size !== undefined && (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_TRACE_BUFFER)) {
        return error(request, 'trace', `trace:start: buffersize must be a whole number of events from 1 to ${MAX_TRACE_BUFFER} (got ${JSON.stringify(size)})`);
      }
      trace.start(size);
      return reply(request, 'trace', 'start', { graph, buffersize: trace.bufferSize });
    }
    case 'stop':
      trace.stop();
      return reply(request, 'trace', 'stop', { graph });
    case 'clear':
      if (!trace.recorded) {
        return nothingTraced(request);
      }
      trace.clear();
      return reply(request, 'trace', 'clear', { graph });
    case 'dump': {
      if (payload.type !== undefined && payload.type !== 'flowtrace.json') {
        return error(request, 'trace', `trace:dump: only type "flowtrace.json" is known (asked for ${JSON.stringify(payload.type)})`);
      }
      const flowtrace = trace.dump();
      return flowtrace === undefined ? nothingTraced(request) : reply(request, 'trace', 'dump', { graph, type: 'flowtrace.json', flowtrace });
    }
    default:
      return error(request, 'trace', `trace:${request.command} is not a command of the trace protocol`);
  }
}

function nothingTraced(request: Request): Reply {
  return error(request, 'trace', `trace:${request.command}: nothing was traced; send trace:start first (or start the participant with --trace)`);
}
