/**
 * `status`: the table of what discovery announces, with AMQP queue depths.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli, startCli } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { Coordinator } from '../../src/coordinator/coordinator';
import { createTransport } from '../../src/transport';
import { amqpUrl, brokerUrls } from '../harness/env';
import { FIXTURES } from '../harness/participants';
import { eventually } from '../harness/wait';

for (const broker of brokerUrls()) {
  describe(`status on ${broker.kind}`, () => {
    test('prints roles, participants, ports and queues (and depths where the broker has them)', async (t) => {
      const role = uniqueRole('status');
      const env = { MSGFLO_BROKER: broker.url, MSGFLO_DISCOVERY_PERIOD: '2' };
      const participant = startCli(t, ['--name', role, '--graph', 'fixtures/Fail', '--basedir', FIXTURES, '--deadletter', 'in'], env);
      await participant.waitForStderr(/is running on/);
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      await peer.send(`${role}.IN`, '{"fail": "one"}');
      await peer.send(`${role}.IN`, '{"fail": "two"}');

      const result = await runCli(t, ['status', '--broker', broker.url, '--wait', '2.5'], {}, 30_000);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.split('\n');
      const header = lines[0]?.split(/\s{2,}/);
      const row = lines.find((line) => line.startsWith(`${role} `))?.split(/\s{2,}/);
      const out = lines[lines.findIndex((line) => line.startsWith(`${role} `)) + 1]?.trim().split(/\s{2,}/);
      if (broker.kind === 'amqp') {
        assert.deepEqual(header, ['ROLE', 'COMPONENT', 'PARTICIPANTS', 'PORT', 'QUEUE', 'MESSAGES', 'CONSUMERS', 'DEAD-LETTERED']);
        assert.deepEqual(row, [role, 'fixtures/Fail', '1', 'in in', `${role}.IN`, '0', '1', '2']);
      } else {
        assert.deepEqual(header, ['ROLE', 'COMPONENT', 'PARTICIPANTS', 'PORT', 'QUEUE']);
        assert.deepEqual(row, [role, 'fixtures/Fail', '1', 'in in', `${role}.IN`]);
        assert.match(result.stderr, /queue depths are not available on MQTT/);
      }
      assert.deepEqual(out, ['out out', `${role}.OUT`]);
      assert.match(result.stdout, new RegExp(`^${role}-\\S+\\s+${role}\\s+fixtures/Fail$`, 'm'), 'the participant listed by id');
      assert.doesNotMatch(result.stdout + result.stderr, /guest:guest@/, 'no password printed');
    });
  });
}

describe('status', () => {
  test('says so, and exits 1, when nobody answers', async (t) => {
    const [mqtt] = brokerUrls().filter((b) => b.kind === 'mqtt');
    const result = await runCli(t, ['status', '--broker', mqtt?.url ?? '', '--wait', '0.5']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /no participant answered or announced itself on mqtt:\/\/\S+ in 0\.\d s \(the time given\)$/m);
    assert.equal(result.stdout, '');
  });
});

describe('status beside a coordinator (AMQP)', () => {
  test('announcements it takes from fbp are held, not taken: they reach the coordinator once it exits', async (t) => {
    const url = amqpUrl();
    const status = startCli(t, ['status', '--broker', url, '--wait', '3']);
    await eventually(() => status.stderr.includes('listening to discovery'), () => `status listening; stderr: ${status.stderr}`);
    // A participant of another MsgFlo program: one announcement on fbp, taken
    // by status (no coordinator listens yet), and no answer to requests.
    const role = uniqueRole('held');
    const peer = await connectClient('amqp', url);
    t.after(() => peer.close());
    await peer.send('fbp', JSON.stringify({ protocol: 'discovery', command: 'participant', payload: { id: `${role}-1`, role, component: 'python/Thing', inports: [], outports: [] } }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const coordinator = new Coordinator(createTransport(url));
    await coordinator.start();
    t.after(() => coordinator.stop());
    assert.equal(coordinator.registry.byRole(role), undefined, 'held by status for now');
    const result = await status.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^${role} `, 'm'));
    await eventually(() => coordinator.registry.byRole(role) !== undefined, `the coordinator to hear of ${role} after status exited`);
  });
});
