/**
 * The load generator: raw amqplib / mqtt.js, sending to a participant's
 * inqueue and reading its outqueue with a fixed number of messages in
 * flight. Each body is a JSON string carrying a sequence number and the send
 * time, padded to the payload size (`core/Repeat` sends it back unchanged),
 * so every answer is matched to its message: latency, losses, duplicates.
 */
import * as amqp from 'amqplib';
import * as mqtt from 'mqtt';
import { performance } from 'node:perf_hooks';

/** A broker connection that sends bodies to one role's inqueue and hears its outqueue. */
export interface Wire {
  send(body: Buffer): void;
  /** Receives every body published on the role's outqueue. */
  onBody: (body: Buffer) => void;
  close(): Promise<void>;
}

/** Connect a load generator to `role`'s queues on the broker at `url`. */
export async function connectWire(kind: 'amqp' | 'mqtt', url: string, role: string): Promise<Wire> {
  return kind === 'amqp' ? connectAmqp(url, role) : connectMqtt(url, role);
}

async function connectAmqp(url: string, role: string): Promise<Wire> {
  const model = await amqp.connect(url, { noDelay: true });
  const channel = await model.createChannel();
  // Declared as the participants declare it, so either may come first.
  await channel.assertExchange(`${role}.OUT`, 'fanout', {});
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, `${role}.OUT`, '');
  const wire: Wire = {
    send(body) {
      channel.publish('', `${role}.IN`, body, { persistent: true });
    },
    onBody: () => undefined,
    async close() {
      await model.close();
    },
  };
  await channel.consume(queue, (message) => {
    if (message) {
      wire.onBody(message.content);
    }
  }, { noAck: true });
  return wire;
}

async function connectMqtt(url: string, role: string): Promise<Wire> {
  const client = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  const wire: Wire = {
    send(body) {
      client.publish(`${role}.IN`, body, { qos: 1 });
    },
    onBody: () => undefined,
    async close() {
      await client.endAsync();
    },
  };
  client.on('message', (_topic, payload) => wire.onBody(payload));
  noDelay(client);
  await client.subscribeAsync(`${role}.OUT`, { qos: 1 });
  return wire;
}

/**
 * Wait until the participant answers: send probes until one comes back.
 * Resolves with the time (`performance.now()`) of the first answer.
 */
export async function waitForAnswer(wire: Wire, timeoutMs: number): Promise<number> {
  const started = performance.now();
  let answeredAt: number | undefined;
  wire.onBody = (body) => {
    if (answeredAt === undefined && body.includes('probe')) {
      answeredAt = performance.now();
    }
  };
  while (answeredAt === undefined) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`no answer within ${timeoutMs} ms`);
    }
    wire.send(Buffer.from(JSON.stringify('probe')));
    await sleep(50);
  }
  // Probes still in flight may come back during the next measurement; they are ignored.
  await sleep(300);
  return answeredAt;
}

/** What to send. */
export interface LoadOptions {
  /** Messages in flight at any time. */
  readonly inFlight: number;
  /** Body size in bytes. */
  readonly size: number;
  /** Sent before measuring (time, ms), for the JIT and the broker to settle. */
  readonly warmupMs: number;
  /** Measured period, ms; or stop after `messages`. */
  readonly measureMs?: number;
  /** Stop after this many answers (counted after warm-up); also bounded by `measureMs` when given. */
  readonly messages?: number;
  /** Called every `every` answers during measurement. */
  readonly progress?: { readonly every: number; readonly call: (answered: number) => void };
  /** How long to wait for the last answers after sending stops. */
  readonly drainMs: number;
  /** Reads the CPU seconds (user + system) the participant has used so far, read at the start and end of the measured period. */
  readonly cpuSeconds?: () => number;
}

/** What came of it. */
export interface LoadResult {
  /** Answers received in the measured period. */
  readonly answered: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Milliseconds, over the measured period's answers. */
  readonly p50: number;
  readonly p99: number;
  /** Messages sent and never answered. */
  readonly lost: number;
  /** Answers received more than once. */
  readonly duplicated: number;
  /** Messages sent in all, warm-up included. */
  readonly sent: number;
  /** Every latency of the measured period, sorted, for merging runs. */
  readonly latencies: number[];
  /** CPU seconds the participant used in the measured period; undefined when not read. */
  readonly cpuSeconds: number | undefined;
  /** Messages per second of each run merged (one for a single run), for medians. */
  readonly rates: number[];
}

/** Several runs of one point as one result. */
export function merge(runs: readonly LoadResult[]): LoadResult {
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const answered = runs.reduce((sum, r) => sum + r.answered, 0);
  const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
  const total = (field: 'lost' | 'duplicated' | 'sent'): number => runs.reduce((sum, r) => sum + r[field], 0);
  const cpu = runs.every((r) => r.cpuSeconds !== undefined) ? runs.reduce((sum, r) => sum + (r.cpuSeconds ?? 0), 0) : undefined;
  const merged = result(latencies, answered, seconds, { lost: total('lost'), duplicated: total('duplicated'), sent: total('sent') }, cpu);
  return { ...merged, rates: runs.flatMap((r) => r.rates) };
}

/** A result from sorted latencies and counts. */
function result(latencies: number[], answered: number, seconds: number, counts: Pick<LoadResult, 'lost' | 'duplicated' | 'sent'>, cpuSeconds: number | undefined): LoadResult {
  const perSecond = answered / seconds;
  return { answered, seconds, perSecond, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), ...counts, latencies, cpuSeconds, rates: [perSecond] };
}

/** Drive a participant with `options.inFlight` messages in flight. */
export async function drive(wire: Wire, options: LoadOptions): Promise<LoadResult> {
  const pending = new Map<number, number>();
  const latencies: number[] = [];
  let next = 0;
  let duplicated = 0;
  let measuring = false;
  let sending = true;
  let answered = 0;
  let measureStart = 0;
  let measureEnd = 0;
  let cpuStart = 0;
  let cpuEnd = 0;
  const padding = 'x'.repeat(Math.max(0, options.size));
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  let drained: () => void = () => undefined;

  const send = (): void => {
    const seq = next;
    next += 1;
    const now = performance.now();
    const head = `${seq}:${now.toFixed(3)}:`;
    // A JSON string of `size` bytes in all, quotes included.
    const text = head + padding.slice(0, Math.max(0, options.size - head.length - 2));
    pending.set(seq, now);
    wire.send(Buffer.from(JSON.stringify(text)));
  };
  const stop = (): void => {
    if (!sending) {
      return;
    }
    sending = false;
    measureEnd = performance.now();
    cpuEnd = options.cpuSeconds?.() ?? 0;
    finished();
  };

  wire.onBody = (body) => {
    // `"<seq>:<time>:xxx..."`: read the sequence number without parsing the rest.
    const colon = body.indexOf(0x3a);
    if (body[0] !== 0x22 || colon < 0) {
      return; // A probe, or something else.
    }
    const seq = Number(body.toString('latin1', 1, colon));
    const sentAt = pending.get(seq);
    if (sentAt === undefined) {
      if (seq < next) {
        duplicated += 1;
      }
      return;
    }
    pending.delete(seq);
    if (measuring) {
      answered += 1;
      latencies.push(performance.now() - sentAt);
      if (options.progress && answered % options.progress.every === 0) {
        options.progress.call(answered);
      }
      if (options.messages !== undefined && answered >= options.messages) {
        stop();
      }
    }
    if (sending) {
      send();
    } else if (pending.size === 0) {
      drained();
    }
  };

  for (let i = 0; i < options.inFlight; i += 1) {
    send();
  }
  await sleep(options.warmupMs);
  measuring = true;
  cpuStart = options.cpuSeconds?.() ?? 0;
  measureStart = performance.now();
  const timer = options.measureMs === undefined ? undefined : setTimeout(stop, options.measureMs);
  await done;
  clearTimeout(timer);
  measuring = false;
  if (pending.size > 0) {
    await new Promise<void>((resolve) => {
      const timeout = setTimeout(resolve, options.drainMs);
      drained = () => {
        clearTimeout(timeout);
        resolve();
      };
    });
  }
  // Duplicates come after the original answer; give them a moment.
  await sleep(200);
  wire.onBody = () => undefined;
  const seconds = (measureEnd - measureStart) / 1000;
  latencies.sort((a, b) => a - b);
  return result(latencies, answered, seconds, { lost: pending.size, duplicated, sent: next }, options.cpuSeconds ? cpuEnd - cpuStart : undefined);
}

/** What a bare repeater is told: `node repeater-PROTOCOL.js URL ROLE PREFETCH`. */
export interface RepeaterArgs {
  readonly url: string;
  readonly inqueue: string;
  readonly outqueue: string;
  readonly prefetch: number;
}

/**
 * Run a bare repeater's `main` with its command line; a failure is one line
 * on stderr naming the repeater, and exit code 1.
 */
export function runRepeater(name: string, main: (args: RepeaterArgs) => Promise<void>): void {
  const [url, role, prefetchText] = process.argv.slice(2);
  const run = async (): Promise<void> => {
    if (!url || !role || !prefetchText) {
      throw new Error(`usage: ${name} URL ROLE PREFETCH`);
    }
    await main({ url, inqueue: `${role}.IN`, outqueue: `${role}.OUT`, prefetch: Number(prefetchText) });
  };
  run().catch((err: unknown) => {
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

/** Nagle's algorithm off on an mqtt.js client's socket (mqtt.js has no option for it). */
export function noDelay(client: mqtt.MqttClient): void {
  (client.stream as { setNoDelay?: (noDelay: boolean) => unknown }).setNoDelay?.(true);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
