/**
 * Every job answered or dead-lettered with its reason, on real RabbitMQ and
 * real Mosquitto: a packet held inside the graph, an error the graph drops,
 * components written for plain NoFlo, a node that holds packets by design.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { JobOutcome, Participant } from '../../src/participant/participant';
import { brokerUrls } from '../harness/env';
import { connectClient, uniqueRole, type Collector, type TestClient } from '../harness/client';
import { startParticipant } from '../harness/participants';
import { eventually } from '../harness/wait';

for (const broker of brokerUrls()) {
  describe(`jobs on ${broker.kind}`, () => {
    interface Running {
      readonly role: string;
      readonly peer: TestClient;
      readonly participant: Participant;
      readonly jobs: JobOutcome[];
      readonly dead: Collector;
      /** Wait for `count` settled jobs; their outcomes, a reason for each failed one. */
      settled(count: number): Promise<string[]>;
    }

    /** Run `graph`; `deadPort` is the inport whose dead letters the test reads. */
    const run = async (t: TestContext, graph: string, deadPort: string, prefetch = 1, configWait?: number): Promise<Running> => {
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const role = uniqueRole();
      const participant = await startParticipant(t, broker.url, { name: role, graph, prefetch, deadletter: '*', configWait });
      const jobs: JobOutcome[] = [];
      participant.on('job', (job) => jobs.push(job));
      const dead = await peer.drain(`dead-${role}.${deadPort.toUpperCase()}`);
      return {
        role,
        peer,
        participant,
        jobs,
        dead,
        async settled(count) {
          await eventually(() => jobs.length >= count, () => `${count} jobs settled, got ${JSON.stringify(jobs)}`);
          return jobs.map((job) => job.reason ?? job.outcome);
        },
      };
    };

    /** The dead letter's reason, where the broker carries one (AMQP). */
    const assertDeadLetterReason = (p: Running, index: number, reason: RegExp): void => {
      if (broker.kind === 'amqp') {
        assert.match(String(p.dead.headers[index]?.['x-msgflo-error']), reason);
      }
    };

    test('a job whose packet a join keeps, waiting for its other half, is dead-lettered naming node and port', async (t) => {
      const p = await run(t, 'fixtures/Pair', 'left');
      await p.peer.send(`${p.role}.LEFT`, '"alone"');
      assert.deepEqual(await p.dead.waitFor(1), ['alone']);
      const [reason] = await p.settled(1);
      const expected = /node "main" keeps the job's packet on inport "left", waiting for input on "right"/;
      assert.match(reason ?? '', expected);
      assertDeadLetterReason(p, 0, expected);
    });

    test('a job waiting for a configuration that never came is dead-lettered naming node and port, once --config-wait is over', async (t) => {
      const p = await run(t, 'fixtures/Prefix', 'in', 1, 600);
      const sent = Date.now();
      await p.peer.send(`${p.role}.IN`, '"x"');
      assert.deepEqual(await p.dead.waitFor(1), ['x']);
      const [reason] = await p.settled(1);
      assert.ok(Date.now() - sent >= 600, `failed after its wait, ${Date.now() - sent} ms after it was sent`);
      const expected = /node "main" keeps the job's packet on inport "in", waiting for input on "prefix" \(its configuration did not come within 600 ms: --config-wait\)/;
      assert.match(reason ?? '', expected);
      assertDeadLetterReason(p, 0, expected);
    });

    test('jobs that come before their configuration (a restarted participant: its backlog) wait for it, then are answered in order', async (t) => {
      const p = await run(t, 'fixtures/Prefix', 'in');
      const out = await p.peer.listen(`${p.role}.OUT`);
      await p.peer.send(`${p.role}.IN`, '"early"');
      await eventually(() => p.participant.jobsInFlight > 0, () => 'the early job in flight');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(p.jobs, [], 'nothing settled before the configuration came');
      await p.peer.send(`${p.role}.PREFIX`, '"cfg:"');
      assert.deepEqual(await out.waitFor(1), ['cfg:early']);
      await p.peer.send(`${p.role}.IN`, '"late"');
      assert.deepEqual(await out.waitFor(2), ['cfg:early', 'cfg:late']);
      assert.deepEqual(await p.settled(3), ['ack', 'ack', 'ack']);
      assert.equal(p.dead.bodies.length, 0, 'nothing dead-lettered');
    });

    for (const [graph, node] of [
      ['fixtures/UnexportedError', 'check'],
      ['fixtures/WrappedChecker', 'inner/check'],
    ] as const) {
      test(`an error sent to an error port connected nowhere fails its job (${graph})`, async (t) => {
        const p = await run(t, graph, 'in');
        const out = await p.peer.listen(`${p.role}.OUT`);
        await p.peer.send(`${p.role}.IN`, '{"n": 1}');
        await p.peer.send(`${p.role}.IN`, '{"fail": "rejected 2"}');
        await p.peer.send(`${p.role}.IN`, '{"n": 3}');
        assert.deepEqual(await p.dead.waitFor(1), [{ fail: 'rejected 2' }]);
        assert.deepEqual(await out.waitFor(2), [{ n: 1 }, { n: 3 }]);
        const expected = `node "${node}" failed: rejected 2`;
        assert.deepEqual(await p.settled(3), ['ack', expected, 'ack']);
        assertDeadLetterReason(p, 0, new RegExp(expected));
      });
    }

    test('an exception of a node without an error port, inside the graph, fails its job', async (t) => {
      const p = await run(t, 'fixtures/Shouting', 'in');
      const out = await p.peer.listen(`${p.role}.OUT`);
      await p.peer.send(`${p.role}.IN`, '42');
      await p.peer.send(`${p.role}.IN`, '"fine"');
      assert.deepEqual(await p.dead.waitFor(1), [42]);
      assert.deepEqual(await out.waitFor(1), ['FINE']);
      assert.deepEqual(await p.settled(2), ['node "upcase" failed: not a string: 42', 'ack']);
    });

    test('a component reading its one inport (not "in") without asking first answers every job', async (t) => {
      const p = await run(t, 'fixtures/Upcase', 'data', 4);
      const out = await p.peer.listen(`${p.role}.OUT`);
      const words = ['one', 'two', 'three', 'four', 'five', 'six'];
      for (const word of words) {
        await p.peer.send(`${p.role}.DATA`, JSON.stringify(word));
      }
      const answers = (await out.waitFor(words.length)) as string[];
      assert.deepEqual([...answers].sort(), words.map((w) => w.toUpperCase()).sort());
      assert.deepEqual(await p.settled(words.length), words.map(() => 'ack'));
      assert.equal(p.dead.bodies.length, 0);
    });

    test('a node declared to hold packets keeps them across jobs, and its jobs are acked', async (t) => {
      const p = await run(t, 'fixtures/Zip', 'left');
      const out = await p.peer.listen(`${p.role}.OUT`);
      await p.peer.send(`${p.role}.LEFT`, '"l1"');
      assert.deepEqual(await p.settled(1), ['ack']);
      await p.peer.send(`${p.role}.RIGHT`, '"r1"');
      assert.deepEqual(await out.waitFor(1), [{ left: 'l1', right: 'r1' }]);
      assert.deepEqual(await p.settled(2), ['ack', 'ack']);
      assert.equal(p.dead.bodies.length, 0);
    });
  });
}
