/**
 * A test peer on the real broker, written straight on amqplib and mqtt.js so
 * that tests check the runtime against the wire, not against its own
 * transport code.
 */
import * as amqp from 'amqplib';
import { randomBytes } from 'node:crypto';
import * as mqtt from 'mqtt';

/** Messages collected from one queue or topic, in arrival order. */
export class Collector {
  /** Raw bodies as text. */
  readonly bodies: string[] = [];
  /** AMQP headers of each kept message (undefined on MQTT). */
  readonly headers: Array<Record<string, unknown> | undefined> = [];
  private waiters: Array<() => void> = [];

  /** @param accept - which bodies to keep; all of them by default */
  constructor(private readonly accept: (body: string) => boolean = () => true) {}

  /** Bodies parsed as JSON (text when not JSON). */
  get messages(): unknown[] {
    return this.bodies.map((body) => {
      try {
        return JSON.parse(body);
      } catch {
        return body;
      }
    });
  }

  push(body: string, headers?: Record<string, unknown>): void {
    if (!this.accept(body)) {
      return;
    }
    this.bodies.push(body);
    this.headers.push(headers);
    for (const wake of this.waiters.splice(0)) {
      wake();
    }
  }

  /** Wait until at least `count` messages arrived; reject after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 10_000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.bodies.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`expected ${count} messages, got ${this.bodies.length}: ${JSON.stringify(this.bodies).slice(0, 500)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.messages;
  }

  /** Wait `ms` and return everything that arrived, to check nothing more comes. */
  async settle(ms = 300): Promise<unknown[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.messages;
  }
}

/** The broker operations tests need. */
export interface TestClient {
  readonly kind: 'amqp' | 'mqtt';
  /** Put a raw body on an inqueue (AMQP: via the default exchange). */
  send(queue: string, body: string | Buffer): Promise<void>;
  /** Collect what is published to an outqueue (AMQP: a private queue bound to its exchange). */
  listen(queue: string): Promise<Collector>;
  /** Collect what stands in, or arrives in, a queue such as `dead-Q` (AMQP: consumes it). */
  drain(queue: string): Promise<Collector>;
  /** Collect discovery messages of one role. */
  discovery(role: string): Promise<Collector>;
  close(): Promise<void>;
}

/** A unique name for a test's role, so its queues are its own. */
export function uniqueRole(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/** Connect a test peer to `url`. */
export async function connectClient(kind: 'amqp' | 'mqtt', url: string): Promise<TestClient> {
  return kind === 'amqp' ? connectAmqp(url) : connectMqtt(url);
}

async function connectAmqp(url: string): Promise<TestClient> {
  const model = await amqp.connect(url);
  const channel = await model.createConfirmChannel();
  const discoveries = new Map<string, Collector>();
  let discovering: Promise<void> | undefined;
  const consume = async (queue: string, collector: Collector): Promise<Collector> => {
    await channel.consume(queue, (message) => {
      if (message) {
        collector.push(message.content.toString('utf8'), message.properties.headers as Record<string, unknown> | undefined);
      }
    }, { noAck: true });
    return collector;
  };
  return {
    kind: 'amqp',
    async send(queue, body) {
      channel.sendToQueue(queue, Buffer.from(body));
      await channel.waitForConfirms();
    },
    async listen(queue) {
      // When it is not there yet, declared as the participant declares its
      // outports, so that listening may come first.
      const probe = await model.createChannel();
      probe.on('error', () => undefined);
      const exists = await probe.checkExchange(queue).then(() => true, () => false);
      if (exists) {
        await probe.close();
      } else {
        await channel.assertExchange(queue, 'fanout', {});
      }
      const { queue: own } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
      await channel.bindQueue(own, queue, '');
      return consume(own, new Collector());
    },
    async drain(queue) {
      return consume(queue, new Collector());
    },
    async discovery(role) {
      // One consumer of fbp for all the roles asked for, handing each message to
      // its role's collector: consumers of one queue take turns, so a consumer
      // per role would get the messages of others, in step, tick after tick.
      const collector = new Collector();
      discoveries.set(role, collector);
      if (!discovering) {
        discovering = (async () => {
          await channel.assertQueue('fbp');
          await channel.consume('fbp', (message) => {
            if (message) {
              const body = message.content.toString('utf8');
              discoveries.get(roleOf(body))?.push(body);
            }
          }, { noAck: true });
        })();
      }
      await discovering;
      return collector;
    },
    async close() {
      await model.close();
    },
  };
}

async function connectMqtt(url: string): Promise<TestClient> {
  const client = await mqtt.connectAsync(url);
  const topics = new Map<string, Collector>();
  const discoveries = new Map<string, Collector>();
  client.on('message', (topic, payload) => {
    const body = payload.toString('utf8');
    if (topic === 'fbp') {
      discoveries.get(roleOf(body))?.push(body);
      return;
    }
    topics.get(topic)?.push(body);
  });
  const subscribe = async (topic: string): Promise<Collector> => {
    const collector = new Collector();
    topics.set(topic, collector);
    await client.subscribeAsync(topic, { qos: 1 });
    return collector;
  };
  return {
    kind: 'mqtt',
    async send(queue, body) {
      await client.publishAsync(queue, Buffer.from(body), { qos: 1 });
    },
    listen: subscribe,
    drain: subscribe,
    async discovery(role) {
      const collector = new Collector();
      discoveries.set(role, collector);
      await client.subscribeAsync('fbp', { qos: 1 });
      return collector;
    },
    async close() {
      await client.endAsync();
    },
  };
}

function roleOf(discoveryBody: string): string {
  try {
    return (JSON.parse(discoveryBody) as { payload?: { role?: string } }).payload?.role ?? '';
  } catch {
    return '';
  }
}
