/**
 * How jobs are carried through a NoFlo network and when they complete, on
 * the in-process transport and on the network itself: no broker needed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import type { ParticipantInput } from '../../src/participant/options';
import type { JobOutcome } from '../../src/participant/participant';
import { createComponentLoader, resolveGraph } from '../../src/runtime/graph-source';
import { GraphNetwork } from '../../src/runtime/network';
import { graphNodes } from '../../src/runtime/nodes';
import { createTransport, memoryBroker } from '../../src/transport';
import { FIXTURES, startParticipant } from '../harness/participants';
import { eventually } from '../harness/wait';

interface Setup {
  readonly outputs: unknown[];
  readonly jobs: JobOutcome[];
  send(port: string, data: unknown): Promise<void>;
  reasons(port: string): string[];
}

/** A participant on a broker of its own; `outputs` collects its `out` port. */
async function setup(t: TestContext, input: Omit<ParticipantInput, 'broker'>): Promise<Setup> {
  const host = randomBytes(4).toString('hex');
  const broker = `memory://${host}`;
  const participant = await startParticipant(t, broker, { deadletter: '*', ...input });
  const peer = createTransport(broker);
  const outputs: unknown[] = [];
  await peer.tap(`${input.name}.OUT`, (data) => outputs.push(data));
  const jobs: JobOutcome[] = [];
  participant.on('job', (job) => jobs.push(job));
  return {
    outputs,
    jobs,
    send: (port, data) => peer.send('inqueue', `${input.name}.${port.toUpperCase()}`, data),
    reasons: (port) => [...memoryBroker(host).reasons(`dead-${input.name}.${port.toUpperCase()}`)],
  };
}

const outcomes = (jobs: readonly JobOutcome[]): string[] => jobs.map((job) => job.reason ?? job.outcome);

describe('jobs', () => {
  test('a slow job holds back no other: each completes on its own', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Fail', prefetch: 4 });
    await s.send('in', { n: 1, delay: 300 });
    await s.send('in', { n: 2 });
    await s.send('in', { n: 3, delay: 20 });
    await eventually(() => s.jobs.length === 3, () => `3 jobs, got ${JSON.stringify(s.jobs)}`);
    assert.deepEqual(s.outputs, [{ n: 2 }, { n: 3, delay: 20 }, { n: 1, delay: 300 }]);
    assert.deepEqual(outcomes(s.jobs), ['ack', 'ack', 'ack']);
  });

  test('a message on a control port configures the jobs that follow, and is acked', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Prefix' });
    await s.send('prefix', '> ');
    await eventually(() => s.jobs.length === 1, 'the prefix job');
    await s.send('in', 'a');
    await s.send('in', 'b');
    await eventually(() => s.jobs.length === 3, () => `3 jobs, got ${JSON.stringify(s.jobs)}`);
    assert.deepEqual(s.outputs, ['> a', '> b']);
    assert.deepEqual(outcomes(s.jobs), ['ack', 'ack', 'ack']);
  });

  test('held jobs fail among jobs that complete, with prefetch > 1', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Pair', prefetch: 5 });
    await s.send('left', 'l1');
    await s.send('right', 'r1');
    await s.send('left', 'l2');
    await eventually(() => s.jobs.length === 3, () => `3 jobs, got ${JSON.stringify(s.jobs)}`);
    // Each job is a scope of its own: l1 and r1 never meet.
    assert.deepEqual(s.outputs, []);
    const held = (port: string, other: string): string =>
      `held in the graph: node "main" keeps the job's packet on inport "${port}", waiting for input on "${other}" (a node that keeps packets on purpose says so with "holds": true in its metadata)`;
    assert.deepEqual(outcomes(s.jobs), [held('left', 'right'), held('right', 'left'), held('left', 'right')]);
    assert.deepEqual(s.reasons('left'), [held('left', 'right'), held('left', 'right')]);
  });

  test('a held job fails in a dedicated network too', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Pair', dedicatedNetwork: true });
    await s.send('left', 'l1');
    await eventually(() => s.jobs.length === 1, 'the job');
    assert.match(s.jobs[0]?.reason ?? '', /node "main" keeps the job's packet on inport "left"/);
  });

  test('what a timed-out job sends later is dropped', async (t) => {
    const s = await setup(t, { name: 'p', graph: 'fixtures/Fail', prefetch: 2, jobTimeout: 100 });
    await s.send('in', { n: 1, delay: 300 });
    await s.send('in', { n: 2 });
    await eventually(() => s.jobs.length === 2, 'both jobs');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.deepEqual(s.outputs, [{ n: 2 }]);
    assert.equal(s.jobs[0]?.outcome, 'ack');
    assert.match(s.jobs[1]?.reason ?? '', /^job timed out after 100 ms: .*held by component fixtures\/Fail/);
  });

  test('nothing of a job stays in the network once it is over', async () => {
    const loader = await createComponentLoader(FIXTURES);
    for (const name of ['fixtures/Pipeline', 'fixtures/Pair', 'fixtures/WrappedChecker']) {
      const network = await GraphNetwork.start<number>(await resolveGraph(name, loader, FIXTURES), { loader, basedir: FIXTURES });
      const completed: Array<string | undefined> = [];
      network.attach({ output: () => undefined, complete: (_job, error) => completed.push(error) });
      const port = network.inports[0]?.definition.id as string;
      for (let i = 0; i < 20; i += 1) {
        network.run(port, i % 3 === 0 ? [{ fail: 'no' }, 'a'] : ['b', { delay: 5 }], i);
      }
      await eventually(() => completed.length === 20, () => `${name}: 20 jobs, got ${completed.length}`);
      const left: string[] = [];
      for (const { path, component } of graphNodes(network.nofloNetwork)) {
        for (const [portName, inPort] of Object.entries(component.inPorts.ports)) {
          if (Object.keys(inPort.scopedBuffer ?? {}).length > 0) {
            left.push(`${path}.${portName} buffers ${Object.keys(inPort.scopedBuffer).join()}`);
          }
        }
        for (const [kind, ports] of Object.entries(component.bracketContext)) {
          for (const [portName, scopes] of Object.entries(ports as Record<string, object>)) {
            if (Object.keys(scopes).length > 0) {
              left.push(`${path} ${kind}.${portName} bracket contexts ${Object.keys(scopes).join()}`);
            }
          }
        }
      }
      await network.shutdown();
      assert.deepEqual(left, [], name);
    }
  });
});
