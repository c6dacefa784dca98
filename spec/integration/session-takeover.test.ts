/**
 * Two MQTT processes with one client id take the broker's session from each
 * other, about once a second, forever. Each recognises it, says so once
 * with the fix, and counts it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startCli } from '../harness/cli';
import { uniqueRole } from '../harness/client';
import { mqttUrl } from '../harness/env';
import { get, sample } from '../harness/metrics';
import { METRIC_NAMES } from '../../src/ops/metrics';

describe('MQTT session takeovers', () => {
  test('two participants with one --client-id: each says so once, and counts it', async (t) => {
    const url = mqttUrl();
    const role = uniqueRole('takeover');
    const clientId = `${role}-fixed`;
    const args = ['--name', role, '--graph', 'core/Repeat', '--broker', url, '--client-id', clientId];
    const first = startCli(t, [...args, '--http-port', '0']);
    await first.waitForStderr(/is running on/);
    const second = startCli(t, args);
    const said = new RegExp(`^noflo-runtime-msgflo: another client took over the MQTT session "${clientId}-[^"]+" \\(two processes with one --client-id\\?\\): give each process its own --client-id$`, 'm');
    const started = Date.now();
    await Promise.all([first.waitForStderr(said, 15_000), second.waitForStderr(said, 15_000)]);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 12_000, `said after ${elapsed} ms`);

    const base = /metrics on (http:\/\/\S+)\/metrics/.exec(first.stderr)?.[1] as string;
    const metrics = (await get(`${base}/metrics`)).body;
    assert.ok(sample(metrics, METRIC_NAMES.sessionTakeovers, { broker: url }) >= 3, metrics);
    // The fight goes on, but the warning is not repeated.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (const process of [first, second]) {
      assert.equal(process.stderr.split('\n').filter((line) => said.test(line)).length, 1, process.stderr);
    }
    first.child.kill('SIGTERM');
    second.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 0);
    assert.equal((await second.exited).code, 0);
  });
});
