/**
 * A stream of numbered messages through a participant, counted at both ends
 * by a peer that survives broker restarts: durable collector queues and a
 * recovering connection on AMQP, a persistent session on MQTT.
 */
import * as amqp from 'amqplib';
import * as mqtt from 'mqtt';
import type { Figures } from './figures';

/** Counts of answers and dead letters by sequence number. */
export class Tally {
  readonly answers = new Map<number, number>();
  readonly deadLetters = new Map<number, number>();
  /** Dead letters' reasons (AMQP header), by sequence number. */
  readonly reasons = new Map<number, string>();
  /** Answers that were `0`, `false`, `""` or `null`. */
  falsy = 0;

  add(kind: 'answer' | 'dead', body: Buffer, reason?: unknown): void {
    const seq = sequenceOf(body);
    if (seq === undefined) {
      if (kind === 'answer' && ['0', 'false', '""', 'null'].includes(body.toString('utf8'))) {
        this.falsy += 1;
      }
      return;
    }
    const map = kind === 'answer' ? this.answers : this.deadLetters;
    map.set(seq, (map.get(seq) ?? 0) + 1);
    if (kind === 'dead' && typeof reason === 'string') {
      this.reasons.set(seq, reason);
    }
  }

  /** Inputs settled one way or the other. */
  get settled(): number {
    let count = 0;
    for (const seq of new Set([...this.answers.keys(), ...this.deadLetters.keys()])) {
      count += seq >= 0 ? 1 : 0;
    }
    return count;
  }

  /** Sequence numbers seen more than once, for failure messages. */
  duplicates(): number[] {
    return [...this.answers, ...this.deadLetters].filter(([, n]) => n > 1).map(([seq]) => seq);
  }

  figures(scenario: string, broker: 'amqp' | 'mqtt', sent: number): Figures {
    const copies = (map: Map<number, number>): number => [...map.values()].reduce((sum, n) => sum + n - 1, 0);
    return {
      scenario,
      broker,
      sent,
      answered: this.answers.size,
      deadLettered: this.deadLetters.size,
      lost: sent - this.settled,
      duplicated: copies(this.answers) + copies(this.deadLetters),
    };
  }
}

/**
 * The sequence number in a body: `{"seq": n, ...}`, or `garbage-<n>` as sent
 * (not JSON) or as answered (a JSON string); undefined for anything else.
 */
function sequenceOf(body: Buffer): number | undefined {
  const text = body.toString('utf8');
  let data: unknown = text;
  try {
    data = JSON.parse(text);
  } catch {
    // Not JSON: garbage, as sent.
  }
  if (data && typeof data === 'object' && typeof (data as { seq?: unknown }).seq === 'number') {
    return (data as { seq: number }).seq;
  }
  const match = typeof data === 'string' ? /^garbage-(\d+)$/.exec(data) : null;
  return match ? Number(match[1]) : undefined;
}

/** A peer that sends a stream to a role and tallies what comes out. */
export interface StreamPeer {
  readonly tally: Tally;
  send(body: string): Promise<void>;
  close(): Promise<void>;
}

/** Send `{"seq": n, "delay": 1-3}` for every n from `from` to `to`, one after another: quick jobs of the Throw fixture. */
export async function sendRange(peer: StreamPeer, from: number, to: number): Promise<void> {
  for (let seq = from; seq <= to; seq += 1) {
    await peer.send(JSON.stringify({ seq, delay: 1 + (seq % 3) }));
  }
}

/** Wait until `count` inputs are answered or dead-lettered; rejects after `timeoutMs`. */
export async function settledAll(tally: Tally, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (tally.settled < count) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${count} inputs settled, got ${tally.settled}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Connect a stream peer for `role` on `url`. Its collector queues (AMQP) or
 * session (MQTT) exist from now on, so no output is missed while a broker or
 * the peer's own connection is down.
 */
export async function connectStream(kind: 'amqp' | 'mqtt', url: string, role: string, options: StreamOptions = {}): Promise<StreamPeer> {
  return kind === 'amqp' ? amqpStream(url, role, options) : mqttStream(url, role);
}

/** Options of {@link connectStream}. */
export interface StreamOptions {
  /** AMQP: collector queues of type quorum (replicated on a cluster), instead of classic. */
  quorum?: boolean;
}

async function amqpStream(url: string, role: string, options: StreamOptions): Promise<StreamPeer> {
  const tally = new Tally();
  const collectors: Array<[string, string, 'answer' | 'dead']> = [
    [`collect-${role}.OUT`, `${role}.OUT`, 'answer'],
    [`collect-dead-${role}.IN`, `dead-${role}.IN`, 'dead'],
  ];
  let publisher: amqp.ConfirmChannel | undefined;
  const connection = await amqp.connect(url, {
    recovery: {
      maxRetries: Infinity,
      initialDelay: 200,
      maxDelay: 1000,
      setup: async (model: amqp.ChannelModel) => {
        const channel = await model.createChannel();
        await channel.prefetch(500);
        for (const [queue, exchange, kind] of collectors) {
          await channel.assertExchange(exchange, 'fanout', {});
          await channel.assertQueue(queue, { durable: true, ...(options.quorum ? { arguments: { 'x-queue-type': 'quorum' } } : {}) });
          await channel.bindQueue(queue, exchange, '');
          await channel.consume(queue, (message) => {
            if (message) {
              tally.add(kind, message.content, message.properties.headers?.['x-msgflo-error']);
              channel.ack(message);
            }
          });
        }
        publisher = await model.createConfirmChannel();
      },
    },
  });
  return {
    tally,
    async send(body) {
      for (;;) {
        try {
          const channel = publisher as amqp.ConfirmChannel;
          channel.sendToQueue(`${role}.IN`, Buffer.from(body), { persistent: true });
          await channel.waitForConfirms();
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 200)); // Broker away: try again.
        }
      }
    },
    async close() {
      await connection.close();
    },
  };
}

async function mqttStream(url: string, role: string): Promise<StreamPeer> {
  const tally = new Tally();
  const client = await mqtt.connectAsync(url, { clientId: `collect-${role}`, clean: false, reconnectPeriod: 200 });
  client.on('error', () => undefined);
  client.on('message', (topic, payload) => tally.add(topic === `${role}.OUT` ? 'answer' : 'dead', payload));
  await client.subscribeAsync({ [`${role}.OUT`]: { qos: 1 }, [`dead-${role}.IN`]: { qos: 1 } });
  return {
    tally,
    async send(body) {
      await client.publishAsync(`${role}.IN`, Buffer.from(body), { qos: 1 });
    },
    async close() {
      await client.endAsync();
    },
  };
}
