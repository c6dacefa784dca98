/**
 * A job that never ends (a component that never calls output.done()) is
 * said: once as slow, naming the node that holds it; in the reason of a
 * --job-timeout failure; and in the warning of a stop whose drain timeout
 * passed with it still running.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { startCli, type RunningCommand } from '../harness/cli';
import { connectClient, uniqueRole, type TestClient } from '../harness/client';
import { amqpUrl, mqttUrl } from '../harness/env';
import { FIXTURES } from '../harness/participants';

/** The node of fixtures' graphs/Stalled.fbp that never calls output.done(). */
const HOLDER = 'node stall \\(fixtures/NeverDone\\)';

/** A participant of graphs/Stalled.fbp on `url`, started with `flags`, and a client of the same broker. */
async function stalled(t: TestContext, kind: 'amqp' | 'mqtt', url: string, flags: readonly string[]): Promise<{ role: string; peer: TestClient; runtime: RunningCommand }> {
  const role = uniqueRole('stalled');
  const peer = await connectClient(kind, url);
  t.after(() => peer.close());
  const runtime = startCli(t, ['--name', role, '--graph', 'graphs/Stalled.fbp', '--basedir', FIXTURES, '--broker', url, ...flags]);
  await runtime.waitForStderr(/is running on/);
  return { role, peer, runtime };
}

describe('jobs that never finish', () => {
  test('a job in flight longer than --slow-job is said once, with the node holding it', async (t) => {
    const { role, peer, runtime } = await stalled(t, 'mqtt', mqttUrl(), ['--slow-job', '0.3', '--drain-timeout', '1']);
    await peer.send(`${role}.IN`, '"never done"');
    const slow = new RegExp(`job on inport in still running after \\d+ ms \\(--slow-job 300 ms\\), held by ${HOLDER}: slow, or stalled by a component that never calls output\\.done\\(\\)`);
    await runtime.waitForStderr(slow, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(runtime.stderr.split('\n').filter((line) => slow.test(line)).length, 1, `said once: ${runtime.stderr}`);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('a --job-timeout failure hints at a missing output.done(), in the dead letter', async (t) => {
    const { role, peer, runtime } = await stalled(t, 'amqp', amqpUrl(), ['--deadletter', '*', '--job-timeout', '500']);
    const dead = await peer.drain(`dead-${role}.IN`);
    await peer.send(`${role}.IN`, '"never done"');
    assert.deepEqual(await dead.waitFor(1), ['never done']);
    const reason = String(dead.headers[0]?.['x-msgflo-error']);
    assert.match(reason, new RegExp(`^job timed out after 500 ms: no component finished it \\(one that never calls output\\.done\\(\\)\\?\\); held by ${HOLDER}$`));
    await runtime.waitForStderr(/failed: job timed out after 500 ms/);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('a stop whose drain timeout passes names the unfinished jobs', async (t) => {
    const { role, peer, runtime } = await stalled(t, 'mqtt', mqttUrl(), ['--drain-timeout', '1']);
    await peer.send(`${role}.IN`, '"never done"');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stopping = Date.now();
    runtime.child.kill('SIGTERM');
    const exit = await runtime.exited;
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stderr, /^SIGTERM: finishing 1 job in flight, then stopping$/m);
    assert.match(exit.stderr, new RegExp(`drain timeout \\(1\\.0 s\\) passed with 1 job unfinished \\(inport in, \\d\\.\\d s old, held by ${HOLDER}\\); the broker delivers them again`));
    assert.ok(Date.now() - stopping < 10_000, 'stopped after the drain timeout');
  });
});
