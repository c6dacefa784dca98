/**
 * The harness's RabbitMQ cluster (./cluster) as the runner provides it: three
 * running nodes, quorum queues with a member on each, a confirmed message that
 * survives kill -9 of the node it was published to, the killed node rejoining,
 * and a paused node that stops answering heartbeats. Uses the shared cluster
 * through attachCluster(), so the control path from a test process is tested
 * too; `after` leaves the cluster whole for the other test files.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as amqp from 'amqplib';
import { attachCluster, type ClusterControl } from './cluster';

const unique = (prefix: string): string => `${prefix}-${randomBytes(6).toString('hex')}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const sorted = (names: readonly string[]): string[] => [...names].sort();

/** amqplib's heartbeat timeout is two silent intervals: 4 to 6 s with `heartbeat=2`. */
const HEARTBEAT_S = 2;
const HEARTBEAT_TIMEOUT_MAX_MS = 9_000;

let cluster: ClusterControl;

before(() => {
  cluster = attachCluster();
});

after(async () => {
  // Whatever a failed test left behind: other test files share this cluster.
  await cluster?.restore();
}, { timeout: 180_000 });

function nodeUrl(index: number): string {
  const url = cluster.urls[index];
  assert.ok(url !== undefined, `no URL for node ${index}`);
  return url;
}

function nodeName(index: number): string {
  const name = cluster.nodeNames[index];
  assert.ok(name !== undefined, `no name for node ${index}`);
  return name;
}

/** Connect, recording connection errors instead of letting them crash the test process (a killed node resets the socket). */
async function connect(url: string): Promise<{ connection: amqp.ChannelModel; errors: Error[] }> {
  const connection = await amqp.connect(url);
  const errors: Error[] = [];
  connection.on('error', (err: Error) => errors.push(err));
  return { connection, errors };
}

/** `running_nodes` of `rabbitmqctl cluster_status` on `node`. */
async function runningNodes(node: number): Promise<string[]> {
  const status = JSON.parse(await cluster.ctl(node, 'cluster_status', '--formatter', 'json')) as { running_nodes: string[]; disk_nodes: string[] };
  return status.running_nodes;
}

interface QueueRow {
  readonly name: string;
  readonly type: string;
  readonly leader: string;
  readonly members: string[];
  readonly online: string[];
}

/** The row of `queue` in `rabbitmqctl list_queues` on `node`. */
async function queueRow(node: number, queue: string): Promise<QueueRow> {
  const rows = JSON.parse(await cluster.ctl(node, 'list_queues', 'name', 'type', 'leader', 'members', 'online', '--formatter', 'json')) as QueueRow[];
  const row = rows.find((candidate) => candidate.name === queue);
  assert.ok(row, `list_queues on node ${node} does not list ${queue}: ${JSON.stringify(rows)}`);
  return row;
}

async function declareQuorumQueue(url: string, queue: string): Promise<void> {
  const { connection } = await connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  } finally {
    await connection.close();
  }
}

async function deleteQueue(url: string, queue: string): Promise<void> {
  const { connection } = await connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
  } finally {
    await connection.close();
  }
}

/**
 * basic.get from `queue` via `url` until a message comes, retrying connection
 * and channel errors (a quorum queue whose leader died answers once a new one is
 * elected). Acks it, checks that nothing else is queued, and returns it.
 */
async function getOne(url: string, queue: string, timeoutMs: number): Promise<{ body: string; deliveryMode: unknown; attempts: number }> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt made';
  for (let attempts = 1; ; attempts += 1) {
    try {
      const { connection } = await connect(url);
      try {
        const channel = await connection.createChannel();
        const message = await channel.get(queue, { noAck: false });
        if (message !== false) {
          assert.equal(await channel.get(queue, { noAck: false }), false, `a second message in ${queue}`);
          channel.ack(message);
          return { body: message.content.toString(), deliveryMode: message.properties.deliveryMode, attempts };
        }
        last = 'queue empty';
      } finally {
        await connection.close().catch(() => undefined);
      }
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) assert.fail(`nothing from ${queue} via ${url} within ${timeoutMs} ms (last: ${last})`);
    await sleep(250);
  }
}

describe('RabbitMQ cluster (shared, via attachCluster)', () => {
  test('has 3 nodes on distinct loopback ports, all running in cluster_status', { timeout: 60_000 }, async () => {
    assert.equal(cluster.urls.length, 3);
    assert.equal(cluster.nodeNames.length, 3);
    for (const url of cluster.urls) assert.match(url, /^amqp:\/\/guest:guest@127\.0\.0\.1:\d+$/);
    assert.equal(new Set(cluster.urls).size, 3, `URLs not distinct: ${cluster.urls.join(', ')}`);
    assert.equal(new Set(cluster.nodeNames).size, 3, `node names not distinct: ${cluster.nodeNames.join(', ')}`);
    assert.deepEqual(sorted(await runningNodes(0)), sorted(cluster.nodeNames));
    for (const url of cluster.urls) {
      const { connection } = await connect(url);
      await connection.close();
    }
  });

  test('the control rejects an unknown node with a clear error', { timeout: 10_000 }, async () => {
    await assert.rejects(cluster.kill(3), /kill\(3\): no such node; the cluster has nodes 0 to 2/);
    await assert.rejects(cluster.ctl(-1, 'status'), /ctl\(-1\): no such node/);
  });

  test('a quorum queue declared via node 1 has a member on each node', { timeout: 60_000 }, async () => {
    const queue = unique('cluster-quorum');
    await declareQuorumQueue(nodeUrl(0), queue);
    try {
      const row = await queueRow(0, queue);
      assert.equal(row.type, 'quorum');
      assert.deepEqual(sorted(row.members), sorted(cluster.nodeNames));
    } finally {
      await deleteQueue(nodeUrl(0), queue);
    }
  });

  test('a confirmed persistent message survives kill -9 of its node; the node rejoins after start()', { timeout: 180_000 }, async (t) => {
    const queue = unique('cluster-crash');
    const body = unique('body');
    await declareQuorumQueue(nodeUrl(0), queue);
    try {
      const { connection, errors } = await connect(nodeUrl(0));
      const channel = await connection.createConfirmChannel();
      channel.on('error', () => undefined); // the kill below ends the channel too
      channel.sendToQueue(queue, Buffer.from(body), { persistent: true });
      await channel.waitForConfirms();
      t.diagnostic(`leader before the kill: ${(await queueRow(1, queue)).leader}`);

      let started = Date.now();
      const closed = new Promise<void>((resolve) => connection.once('close', () => resolve()));
      await cluster.kill(0);
      t.diagnostic(`kill(0) took ${Date.now() - started} ms`);
      await closed;
      // A reset or a plain end of the socket, depending on what was unread when the kernel closed it.
      assert.match(errors.map((err) => err.message).join('; '), /ECONNRESET|Unexpected close/, 'the connection to the killed node did not fail');
      await assert.rejects(amqp.connect(nodeUrl(0), { timeout: 1_000 }), 'node 1 still accepts connections after kill()');

      started = Date.now();
      const message = await getOne(nodeUrl(1), queue, 30_000);
      t.diagnostic(`message via node 2 after ${Date.now() - started} ms (${message.attempts} attempts)`);
      assert.deepEqual({ body: message.body, deliveryMode: message.deliveryMode }, { body, deliveryMode: 2 });

      started = Date.now();
      await cluster.start(0);
      t.diagnostic(`start(0) took ${Date.now() - started} ms`);
      assert.deepEqual(sorted(await runningNodes(1)), sorted(cluster.nodeNames), 'node 2 does not see all nodes running');
      assert.deepEqual(sorted(await runningNodes(0)), sorted(cluster.nodeNames), 'the restarted node does not see all nodes running');
      const { connection: again } = await connect(nodeUrl(0));
      await again.close();
      // Its quorum member is back too (it may take a moment to be counted online).
      let row = await queueRow(1, queue);
      for (let attempt = 0; attempt < 20 && !row.online.includes(nodeName(0)); attempt += 1) {
        await sleep(500);
        row = await queueRow(1, queue);
      }
      assert.deepEqual(sorted(row.online), sorted(cluster.nodeNames), `members online: ${row.online.join(', ')}`);
    } finally {
      await cluster.start(0); // no-op unless the test failed before
      await deleteQueue(nodeUrl(1), queue);
    }
  });

  test(`a paused node lets a heartbeat=${HEARTBEAT_S} connection time out; after resume() it serves again`, { timeout: 90_000 }, async (t) => {
    const node = 2;
    const url = nodeUrl(node);
    const { connection, errors } = await connect(`${url}?heartbeat=${HEARTBEAT_S}`);
    const closed = new Promise<number>((resolve) => connection.once('close', () => resolve(Date.now())));
    const pausedAt = Date.now();
    await cluster.pause(node);
    try {
      const timedOut = await Promise.race([closed, sleep(HEARTBEAT_TIMEOUT_MAX_MS + 5_000).then(() => undefined)]);
      assert.ok(timedOut !== undefined, `connection to the paused node still open after ${HEARTBEAT_TIMEOUT_MAX_MS + 5_000} ms`);
      const elapsed = timedOut - pausedAt;
      t.diagnostic(`heartbeat timeout after ${elapsed} ms`);
      assert.match(errors.map((err) => err.message).join('; '), /Heartbeat timeout/);
      assert.ok(elapsed >= HEARTBEAT_S * 1_000 && elapsed <= HEARTBEAT_TIMEOUT_MAX_MS, `heartbeat timeout after ${elapsed} ms`);
      // Frozen, not gone: the port still accepts TCP, but no AMQP handshake completes.
      await assert.rejects(amqp.connect(url, { timeout: 1_500 }), 'the paused node completed an AMQP handshake');
    } finally {
      await cluster.resume(node);
    }

    const resumedAt = Date.now();
    const { connection: fresh, errors: freshErrors } = await connect(`${url}?heartbeat=${HEARTBEAT_S}`);
    t.diagnostic(`reconnected ${Date.now() - resumedAt} ms after resume()`);
    try {
      const channel = await fresh.createChannel();
      const { queue } = await channel.assertQueue('', { exclusive: true });
      const body = unique('after-resume');
      channel.sendToQueue(queue, Buffer.from(body));
      let message: amqp.GetMessage | false = false;
      for (let attempt = 0; attempt < 50 && message === false; attempt += 1) {
        message = await channel.get(queue, { noAck: true });
        if (message === false) await sleep(20);
      }
      assert.ok(message, 'no message after resume()');
      assert.equal(message.content.toString(), body);
      // Longer than the heartbeat timeout: the node answers heartbeats again.
      await sleep(HEARTBEAT_S * 3_000);
      assert.deepEqual(freshErrors.map((err) => err.message), []);
      await channel.checkQueue(queue);
    } finally {
      await fresh.close();
    }
  });
});
