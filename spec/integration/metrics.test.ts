/**
 * `--http-port`: metrics counted exactly after a known load, health and
 * readiness (also across a broker loss, on both brokers and for the
 * coordinator), JSON job logs without credentials.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { METRIC_NAMES as M } from '../../src/ops/metrics';
import { startMosquitto, startRabbitMQ } from '../harness/brokers';
import { startCli } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { brokerUrls } from '../harness/env';
import { endpointFrom, get, pollUntil, sample } from '../harness/metrics';
import { temporaryFile } from '../harness/files';
import { FIXTURES } from '../harness/participants';

for (const broker of brokerUrls()) {
  describe(`metrics on ${broker.kind}`, () => {
    test('10 good, 2 failing and 1 timed-out message are counted exactly', async (t) => {
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const role = uniqueRole('metrics');
      const cli = startCli(t, [
        '--name', role, '--graph', 'fixtures/Fail', '--basedir', FIXTURES, '--broker', broker.url,
        '--deadletter', 'in', '--job-timeout', '300', '--prefetch', '4', '--http-port', '0', '--log-format', 'json',
      ]);
      await cli.waitForStderr(/is running on/);
      const out = await peer.listen(`${role}.OUT`);
      const dead = await peer.drain(`dead-${role}.IN`);
      const base = endpointFrom(cli.stderr);
      assert.equal((await get(`${base}/healthz`)).status, 200);
      const ready = await get(`${base}/readyz`);
      assert.equal(ready.status, 200, ready.body);

      for (let i = 0; i < 10; i += 1) {
        await peer.send(`${role}.IN`, JSON.stringify({ i }));
      }
      await peer.send(`${role}.IN`, '{"fail": "bad one"}');
      await peer.send(`${role}.IN`, '{"fail": "bad two"}');
      await peer.send(`${role}.IN`, '{"delay": 2000}');
      await out.waitFor(10);
      await dead.waitFor(3);
      const labels = { role, port: 'in' };
      await pollUntil(`${base}/metrics`, ({ body }) => sample(body, `${M.duration}_count`, labels) >= 13);
      const text = (await get(`${base}/metrics`)).body;
      assert.equal(sample(text, M.received, labels), 13);
      assert.equal(sample(text, M.acked, labels), 10);
      assert.equal(sample(text, M.nacked, labels), 3);
      assert.equal(sample(text, M.deadLettered, labels), 3);
      assert.equal(sample(text, M.timedOut, labels), 1);
      assert.equal(sample(text, `${M.duration}_count`, labels), 13);
      assert.equal(sample(text, `${M.duration}_count`, { ...labels, outcome: 'ack' }), 10);
      assert.equal(sample(text, `${M.duration}_count`, { ...labels, outcome: 'nack' }), 3);
      assert.equal(sample(text, M.published, { role, port: 'out' }), 10);
      assert.equal(sample(text, M.published, { role, port: 'error' }), 2, 'the failures, not the timeout, go out on error');
      assert.equal(sample(text, M.inFlight, { role }), 0);
      assert.ok(sample(text, M.announced, { role }) >= 1, 'discovery counted');
      assert.match(text, new RegExp(`^${M.unroutable}\\{broker="`, 'm'));
      assert.match(text, new RegExp(`^${M.reconnects}\\{broker="[^"]*"\\} 0$`, 'm'));

      // One JSON line per job, none with the broker's password.
      const jobs = cli.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.equal(jobs.length, 13);
      assert.deepEqual(jobs.map((j) => j.outcome).sort(), [...Array(10).fill('ack'), ...Array(3).fill('nack')]);
      for (const job of jobs) {
        assert.equal(job.role, role);
        assert.equal(job.port, 'in');
        assert.equal(typeof job.duration_ms, 'number');
        assert.equal(typeof job.job, 'string');
      }
      assert.ok(jobs.some((j) => typeof j.reason === 'string' && j.reason.startsWith('job timed out after')));
      const password = new URL(broker.url).password;
      if (password) {
        assert.ok(!`${cli.stdout}${cli.stderr}${text}`.includes(`:${password}@`), 'no password in logs or metrics');
      }
    });
  });
}

describe('readiness', () => {
  for (const kind of ['amqp', 'mqtt'] as const) {
    test(`/readyz turns 503 with the reason while the ${kind} broker is gone, and 200 once it is back`, async (t) => {
      const broker = kind === 'amqp' ? await startRabbitMQ() : await startMosquitto();
      t.after(() => broker.stop());
      const role = uniqueRole('ready');
      const cli = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--broker', broker.url, '--http-port', '0']);
      await cli.waitForStderr(/is running on/, 30_000);
      const base = endpointFrom(cli.stderr);
      assert.equal((await get(`${base}/readyz`)).status, 200);
      await broker.kill();
      const down = await pollUntil(`${base}/readyz`, ({ status }) => status === 503);
      assert.match(down.body, new RegExp(`^not ready: ${role}: not connected to ${kind}://`));
      assert.ok(!down.body.includes(':guest@'), `no password in the reason: ${down.body}`);
      assert.equal((await get(`${base}/healthz`)).status, 200, 'alive all along');
      await broker.start();
      await pollUntil(`${base}/readyz`, ({ status }) => status === 200, 60_000);
    });
  }

  test("the coordinator's /readyz turns 503 while its broker is gone, and 200 once it is back", async (t) => {
    const broker = await startMosquitto();
    t.after(() => broker.stop());
    const cli = startCli(t, ['coordinator', '--broker', broker.url, '--port', '0', '--http-port', '0']);
    await cli.waitForStderr(/live system page on/, 30_000);
    const base = /live system page on (http:\/\/\S+)\//.exec(cli.stderr)?.[1] as string;
    assert.equal((await get(`${base}/readyz`)).status, 200);
    await broker.kill();
    const down = await pollUntil(`${base}/readyz`, ({ status }) => status === 503);
    assert.match(down.body, /^not ready: coordinator: not connected to mqtt:\/\/127\.0\.0\.1:/);
    assert.equal((await get(`${base}/healthz`)).status, 200, 'alive all along');
    await broker.start();
    await pollUntil(`${base}/readyz`, ({ status }) => status === 200, 60_000);
    assert.equal(cli.child.exitCode, null, 'the coordinator is still running');
  });
});

describe('setup --participants --http-port', () => {
  test('serves the metrics of the participants it hosts, each port at 0 from the start', async (t) => {
    const [mqtt] = brokerUrls().filter((b) => b.kind === 'mqtt');
    const [a, b] = [uniqueRole('first'), uniqueRole('second')];
    const graph = await temporaryFile(t, 'Pair.fbp', `${a}(core/Repeat) OUT -> IN ${b}(core/Repeat)\n`);
    const cli = startCli(t, ['setup', graph, '--participants', '--forever', '--basedir', FIXTURES, '--http-port', '0', '--broker', mqtt?.url ?? ''], { MSGFLO_DISCOVERY_PERIOD: '2' });
    await cli.waitForStderr(/coordinating until SIGTERM/, 30_000);
    const base = endpointFrom(cli.stderr);
    assert.equal((await get(`${base}/readyz`)).status, 200);
    const text = (await get(`${base}/metrics`)).body;
    for (const role of [a, b]) {
      assert.match(text, new RegExp(`^${M.received}\\{role="${role}",port="in"\\} 0$`, 'm'));
      assert.match(text, new RegExp(`^${M.inFlight}\\{role="${role}"\\} 0$`, 'm'));
    }
  });
});
