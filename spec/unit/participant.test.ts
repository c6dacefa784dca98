/**
 * Participant behaviour on the in-process transport: no broker needed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { GraphLoadError, InvalidOptionError } from '../../src/errors';
import type { ParticipantInput } from '../../src/participant/options';
import type { JobOutcome, Participant } from '../../src/participant/participant';
import { createTransport, memoryBroker } from '../../src/transport';
import { startParticipant } from '../harness/participants';

interface Setup {
  participant: Participant;
  outputs: Map<string, unknown[]>;
  jobs: JobOutcome[];
  send: (port: string, data: unknown) => Promise<void>;
  depth: (queue: string) => number;
  host: string;
  until: (done: () => boolean) => Promise<void>;
}

async function setup(t: TestContext, input: Omit<ParticipantInput, 'broker'>): Promise<Setup> {
  const host = randomBytes(4).toString('hex');
  const broker = `memory://${host}`;
  const participant = await startParticipant(t, broker, input);
  const peer = createTransport(broker);
  const outputs = new Map<string, unknown[]>();
  for (const port of participant.definition.outports) {
    if (port.queue) {
      const list: unknown[] = [];
      outputs.set(port.id, list);
      await peer.tap(port.queue, (data) => list.push(data));
    }
  }
  const jobs: JobOutcome[] = [];
  participant.on('job', (job) => jobs.push(job));
  return {
    participant,
    outputs,
    jobs,
    send: async (port, data) => {
      const queue = participant.definition.inports.find((p) => p.id === port)?.queue as string;
      await peer.send('inqueue', queue, data);
    },
    depth: (queue) => memoryBroker(host).depth(queue),
    host,
    until: async (done) => {
      const deadline = Date.now() + 5000;
      while (!done()) {
        if (Date.now() > deadline) {
          throw new Error(`timed out; jobs: ${JSON.stringify(jobs)}, outputs: ${JSON.stringify([...outputs])}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  };
}

describe('participant (in-process transport)', () => {
  test('with prefetch 5, settles each job once: ack on out, nack on error or throw', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Fail', prefetch: 5, deadletter: 'in' });
    const inputs = [{ n: 1, delay: 30 }, { fail: 'x' }, { n: 2, delay: 5 }, 0, { throw: 'boom' }, { n: 3, delay: 15 }];
    for (const data of inputs) {
      await s.send('in', data);
    }
    await s.until(() => s.jobs.length === inputs.length);
    assert.deepEqual(s.jobs.map((j) => j.outcome).sort(), ['ack', 'ack', 'ack', 'ack', 'nack', 'nack']);
    assert.deepEqual(s.jobs.filter((j) => j.outcome === 'nack').map((j) => j.reason).sort(), ['boom', 'x']);
    const sorted = (list: unknown[]): string[] => list.map((item) => JSON.stringify(item)).sort();
    assert.deepEqual(sorted(s.outputs.get('out') ?? []), sorted([{ n: 1, delay: 30 }, { n: 2, delay: 5 }, 0, { n: 3, delay: 15 }]));
    assert.equal(s.depth('dead-p.IN'), 2);
    assert.deepEqual([...memoryBroker(s.host).reasons('dead-p.IN')].sort(), ['boom', 'x'], 'dead letters carry their reasons');
    assert.equal(s.participant.jobsInFlight, 0);
  });

  test('runs each job in a network of its own with --dedicated-network', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Prefixed', dedicatedNetwork: true, iips: { prefix: '#' } });
    await s.send('in', 'a');
    await s.send('in', 'b');
    await s.until(() => s.jobs.length === 2);
    assert.deepEqual(s.outputs.get('out'), ['#a', '#b']);
    assert.deepEqual(s.jobs.map((j) => j.outcome), ['ack', 'ack']);
  });

  test('with --dedicated-network, traces the network of each job while tracing is on over the FBP protocol', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'core/Repeat', dedicatedNetwork: true });
    const peer = createTransport(`memory://${s.host}`);
    const replies: Array<{ command: string; payload: { flowtrace?: string } }> = [];
    await peer.tap(s.participant.definition.outqueue as string, (data) => replies.push(data as (typeof replies)[number]));
    const ask = async (command: string, payload: Record<string, unknown> = {}): Promise<(typeof replies)[number]> => {
      const before = replies.length;
      await peer.send('inqueue', s.participant.definition.inqueue as string, { protocol: 'trace', command, payload: { graph: 'default', ...payload } });
      await s.until(() => replies.length > before);
      assert.equal(replies.length, before + 1);
      return replies[before] as (typeof replies)[number];
    };
    const job = async (data: string): Promise<void> => {
      const before = s.jobs.length;
      await s.send('in', data);
      await s.until(() => s.jobs.length > before);
    };
    const traced = async (): Promise<unknown[]> => {
      const dump = await ask('dump', { type: 'flowtrace.json' });
      assert.equal(dump.command, 'dump');
      const events = (JSON.parse(dump.payload.flowtrace as string) as { events: Array<{ command: string; payload: { data: unknown } }> }).events;
      return events.filter((e) => e.command === 'data').map((e) => e.payload.data);
    };

    await job('before');
    assert.equal((await ask('start')).command, 'start');
    await job('a');
    await job('b');
    assert.equal((await ask('stop')).command, 'stop');
    await job('after');
    assert.deepEqual(await traced(), ['a', 'a', 'b', 'b'], 'in and out of each job while on, nothing before or after');
    assert.deepEqual(s.outputs.get('out'), ['before', 'a', 'b', 'after']);
  });

  test('acks jobs that send nothing, one after another', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Sink' });
    for (let i = 0; i < 10; i += 1) {
      await s.send('in', i);
    }
    await s.until(() => s.jobs.length === 10);
    assert.ok(s.jobs.every((j) => j.outcome === 'ack'));
  });

  test('completes a job only when every node of the graph is done with it', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Pipeline' });
    const outputsAtCompletion: number[] = [];
    s.participant.on('job', () => outputsAtCompletion.push(s.outputs.get('passed')?.length ?? 0));
    await s.send('items', [1]);
    await s.until(() => s.jobs.length === 1);
    // Past NoFlo's own end-of-network debounce (50 ms), after which it reports no process as active.
    await new Promise((resolve) => setTimeout(resolve, 120));
    // Split is done at once, Fail only after the delay: the job is not done before that.
    await s.send('items', [{ delay: 60 }]);
    await s.until(() => s.jobs.length === 2);
    assert.deepEqual(outputsAtCompletion, [1, 2]);
  });

  test('drains in-flight jobs on stop', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Fail', prefetch: 3 });
    for (const delay of [50, 80, 100]) {
      await s.send('in', { delay });
    }
    await s.until(() => s.participant.jobsInFlight === 3);
    await s.participant.stop(5000);
    assert.equal(s.jobs.length, 3);
    assert.equal(s.outputs.get('out')?.length, 3);
  });

  // A job is slow after 10 times the median job, and at least 30 s.
  for (const [median, slowAfter] of [[1000, 30_000], [8000, 80_000]] as const) {
    test(`with jobs of ${median} ms, says a job slow once, after ${slowAfter / 1000} s`, async (t) => {
      // Only the clock and the slow-job check are mocked; the jobs run on real timers.
      t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
      const s = await setup(t, { name: 'p', graph: 'fixtures/Throw', prefetch: 5 });
      // Stopping waits for the hung job's network on a timer that holds no process open: this one does, until then.
      const alive = setTimeout(() => undefined, 30_000);
      t.after(() => clearTimeout(alive));
      const warnings: string[] = [];
      s.participant.on('warning', (err) => warnings.push(err.message));
      const settle = async (done: () => boolean): Promise<void> => {
        for (let i = 0; i < 400 && !done(); i += 1) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        assert.ok(done(), `jobs: ${JSON.stringify(s.jobs)}`);
      };
      // Three jobs, each `median` ms on the clock.
      for (let i = 0; i < 3; i += 1) {
        await s.send('in', { i, delay: 300 });
      }
      await settle(() => s.participant.jobsInFlight === 3);
      t.mock.timers.tick(median);
      await settle(() => s.jobs.length === 3);
      assert.deepEqual(s.jobs.map((job) => job.duration), [median, median, median]);

      await s.send('in', { hang: true });
      await settle(() => s.participant.jobsInFlight === 1);
      t.mock.timers.tick(slowAfter - 1000);
      assert.deepEqual(warnings, [], `not slow at ${slowAfter - 1000} ms`);
      t.mock.timers.tick(2000);
      assert.equal(warnings.length, 1);
      const took = `${(median / 1000).toFixed(1)} s`;
      assert.equal(
        warnings[0],
        `job on inport in still running after ${(slowAfter + 1000) / 1000} s (the median job takes ${took}), held by component fixtures/Throw: slow, or stalled by a component that never calls output.done()`,
      );
      t.mock.timers.tick(60_000);
      assert.equal(warnings.length, 1, 'said once');
    });
  }

  const failures: Array<[string, Omit<ParticipantInput, 'broker'>, new (...args: never[]) => Error, RegExp]> = [
    ['an unknown component', { name: 'p', graph: 'fixtures/Nope' }, GraphLoadError, /graph "fixtures\/Nope" not found/],
    ['a missing graph file', { name: 'p', graph: 'graphs/Missing.fbp' }, GraphLoadError, /Missing.fbp": no such file/],
    ['an IIP for a port the graph lacks', { name: 'p', graph: 'core/Repeat', iips: { nope: 1 } }, GraphLoadError, /IIP for "nope".*it has: in/],
    ['an override of a port the graph lacks', { name: 'p', graph: 'core/Repeat', inports: { nope: { queue: 'q' } } }, InvalidOptionError, /inports.nope.*it has: in/],
    ['a dead-letter port the graph lacks', { name: 'p', graph: 'core/Repeat', deadletter: 'nope' }, InvalidOptionError, /--deadletter "nope"/],
  ];
  for (const [what, input, kind, message] of failures) {
    test(`refuses to start with ${what}`, async (t) => {
      await assert.rejects(setup(t, input), (err: unknown) => err instanceof kind && message.test(err.message));
    });
  }
});
