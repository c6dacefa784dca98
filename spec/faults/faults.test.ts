/**
 * Fault injection: a few thousand messages through participant processes on
 * brokers of this file's own, while the broker restarts, a participant is
 * killed, a participant is stopped, or the input is bad. Every input must be
 * answered or dead-lettered; the figures are printed at the end of the run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { startMosquitto, startRabbitMQ, type BrokerHandle } from '../harness/brokers';
import { startCli, type RunningCommand } from '../harness/cli';
import { uniqueRole } from '../harness/client';
import { recordFigures } from '../harness/figures';
import { FIXTURES } from '../harness/participants';
import { connectStream, type StreamPeer } from '../harness/stream';
import { eventually } from '../harness/wait';

const MESSAGES = 2000;
const SETTLE_TIMEOUT_MS = 120_000;

for (const kind of ['amqp', 'mqtt'] as const) {
  describe(`delivery under faults on ${kind}`, () => {
    let broker: BrokerHandle;
    before(async () => {
      broker = kind === 'amqp' ? await startRabbitMQ() : await startMosquitto();
    });
    after(() => broker.stop());

    /** A participant process of `role`; `clientId` names its MQTT session. */
    const participant = (t: TestContext, role: string, clientId: string, extra: string[] = []): RunningCommand =>
      startCli(
        t,
        ['--name', role, '--graph', 'fixtures/Throw', '--basedir', FIXTURES, '--prefetch', '8', '--deadletter', '*', '--client-id', clientId, ...extra],
        { MSGFLO_BROKER: broker.url },
      );

    const stream = async (t: TestContext, role: string): Promise<StreamPeer> => {
      const peer = await connectStream(kind, broker.url, role);
      t.after(() => peer.close());
      return peer;
    };

    const sendStream = async (peer: StreamPeer, count: number): Promise<void> => {
      for (let seq = 1; seq <= count; seq += 1) {
        // 10-19 ms a job: with prefetch 8, the stream lasts a few seconds, so faults land mid-stream.
        await peer.send(JSON.stringify({ seq, delay: 10 + (seq % 10) }));
      }
    };

    const settled = (peer: StreamPeer, count: number): Promise<void> =>
      eventually(() => peer.tally.settled >= count, () => `${count} inputs settled, got ${peer.tally.settled}`, SETTLE_TIMEOUT_MS);

    test('the broker restarts in the middle of the stream: every input answered', async (t) => {
      const role = uniqueRole('restart');
      const peer = await stream(t, role);
      const worker = participant(t, role, `${role}-a`);
      await worker.waitForStderr(/is running/);
      await sendStream(peer, MESSAGES);
      await settled(peer, MESSAGES / 4);
      await broker.restart();
      await worker.waitForStderr(/reconnected to/, 30_000);
      await settled(peer, MESSAGES);
      const figures = peer.tally.figures('broker restart', kind, MESSAGES);
      recordFigures(figures);
      assert.equal(figures.lost, 0);
      assert.equal(figures.answered, MESSAGES);
      assert.equal(worker.child.exitCode, null, 'the participant stayed up');
    });

    test('kill -9 of one of two participants of a role: every input answered', async (t) => {
      const role = uniqueRole('kill');
      const peer = await stream(t, role);
      const first = participant(t, role, `${role}-a`);
      const second = participant(t, role, `${role}-b`);
      await Promise.all([first.waitForStderr(/is running/), second.waitForStderr(/is running/)]);
      const sending = sendStream(peer, MESSAGES);
      await settled(peer, MESSAGES / 4);
      first.child.kill('SIGKILL');
      await first.exited;
      if (kind === 'mqtt') {
        // An MQTT session keeps what it was given until its client comes back.
        const again = participant(t, role, `${role}-a`);
        await again.waitForStderr(/is running/);
      }
      await sending;
      await settled(peer, MESSAGES);
      const figures = peer.tally.figures('kill -9 one of two', kind, MESSAGES);
      recordFigures(figures);
      assert.equal(figures.lost, 0);
      assert.equal(figures.answered, MESSAGES);
    });

    test('SIGTERM during load: exit 0, then every input answered once', async (t) => {
      const role = uniqueRole('term');
      const peer = await stream(t, role);
      const worker = participant(t, role, `${role}-a`);
      await worker.waitForStderr(/is running/);
      const sending = sendStream(peer, MESSAGES);
      await settled(peer, MESSAGES / 4);
      worker.child.kill('SIGTERM');
      const exit = await worker.exited;
      assert.equal(exit.code, 0, exit.stderr);
      assert.ok(peer.tally.settled < MESSAGES * 0.9, `stopped mid-stream (${peer.tally.settled} settled)`);
      await sending;
      const successor = participant(t, role, `${role}-a`);
      await successor.waitForStderr(/is running/);
      await settled(peer, MESSAGES);
      await new Promise((resolve) => setTimeout(resolve, 500)); // Room for a late duplicate to show.
      const figures = peer.tally.figures('SIGTERM under load', kind, MESSAGES);
      recordFigures(figures);
      assert.equal(figures.lost, 0);
      assert.equal(figures.duplicated, 0, `duplicates: ${peer.tally.duplicates().join(', ')}`);
      assert.equal(figures.answered, MESSAGES);
    });

    test('garbage, falsy, oversized, over-deep and throwing inputs among good ones', async (t) => {
      const role = uniqueRole('bad');
      const peer = await stream(t, role);
      const worker = participant(t, role, `${role}-a`, ['--max-message-size', '1000', '--attr', 'maxDepth=50', '--job-timeout', '5000']);
      await worker.waitForStderr(/is running/);
      const kinds = ['good', 'garbage', 'oversized', 'deep', 'later', 'reject', 'fail', 'throw'] as const;
      const expected = { answered: 0, dead: 0 };
      const reasons = new Map<number, RegExp>();
      const total = 1000;
      for (let seq = 1; seq <= total; seq += 1) {
        const which = kinds[seq % kinds.length] ?? 'good';
        switch (which) {
          case 'good':
            await peer.send(JSON.stringify({ seq }));
            expected.answered += 1;
            break;
          case 'garbage':
            await peer.send(`garbage-${seq}`);
            expected.answered += 1;
            break;
          case 'oversized':
            await peer.send(JSON.stringify({ seq, pad: 'x'.repeat(2000) }));
            reasons.set(seq, /too large/);
            break;
          case 'deep':
            await peer.send(`{"seq": ${seq}, "deep": ${'['.repeat(60)}${']'.repeat(60)}}`);
            reasons.set(seq, /nested too deeply/);
            break;
          default:
            await peer.send(JSON.stringify({ seq, [which]: `${which} ${seq}` }));
            reasons.set(seq, new RegExp(`${which} ${seq}`));
        }
        if (which !== 'good' && which !== 'garbage') {
          expected.dead += 1;
        }
      }
      for (const falsy of ['0', 'false', '""', 'null']) {
        await peer.send(falsy);
      }
      await settled(peer, total);
      await eventually(() => peer.tally.falsy === 4, () => `4 falsy answers, got ${peer.tally.falsy}`);
      const figures = peer.tally.figures('bad input mixed in', kind, total);
      recordFigures(figures);
      assert.equal(figures.lost, 0);
      assert.equal(figures.answered, expected.answered);
      assert.equal(figures.deadLettered, expected.dead);
      assert.equal(figures.duplicated, 0);
      if (kind === 'amqp') {
        for (const [seq, reason] of reasons) {
          assert.match(peer.tally.reasons.get(seq) ?? '(none)', reason, `reason of dead letter ${seq}`);
        }
      }
      assert.equal(worker.child.exitCode, null, 'the participant stayed up');
    });
  });
}
