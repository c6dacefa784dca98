import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import noflo from 'noflo';
import { Coordinator } from '../../src/coordinator/coordinator';
import { describeFailure, type SystemFailure } from '../../src/coordinator/failures';
import { describeIipDelivery, type IipDelivery } from '../../src/coordinator/initials';
import { ParticipantRegistry } from '../../src/coordinator/registry';
import { downstreamOf, graphBindings, roleEdges, type Binding, type SystemGraph } from '../../src/protocol/bindings';
import type { ParticipantDefinition } from '../../src/protocol/definition';
import { memoryBroker, type MemoryBroker } from '../../src/transport';
import { MemoryTransport } from '../../src/transport/memory';

const definition = (role: string, id = `${role}-1`): ParticipantDefinition => ({
  id,
  role,
  component: 'core/Repeat',
  inports: [{ id: 'in', type: 'all', queue: `${role}.IN` }],
  outports: [{ id: 'out', type: 'all', queue: `${role}.OUT` }, { id: 'error', type: 'object', queue: `${role}.ERROR` }],
});
const discovery = (payload: unknown): unknown => ({ protocol: 'discovery', command: 'participant', payload });

describe('participant registry', () => {
  test('adds, updates, and forgets participants not heard from within the timeout', () => {
    let now = 0;
    const registry = new ParticipantRegistry(1000, () => now);
    const events: string[] = [];
    for (const change of ['added', 'updated', 'removed'] as const) {
      registry.on(change, (d) => events.push(`${change} ${d.id}`));
    }
    registry.handle(discovery(definition('a')));
    registry.handle(discovery(definition('b')));
    now = 600;
    registry.handle(discovery(definition('a'))); // Same definition: no event.
    registry.handle(discovery({ ...definition('a'), label: 'relabelled' }));
    now = 1500;
    registry.expire();
    assert.deepEqual(events, ['added a-1', 'added b-1', 'updated a-1', 'removed b-1']);
    assert.deepEqual(registry.list().map((d) => d.id), ['a-1']);
    assert.equal(registry.byRole('a')?.label, 'relabelled');
  });

  test('ignores malformed discovery messages, saying why', () => {
    const registry = new ParticipantRegistry();
    const reasons: string[] = [];
    registry.on('invalid', (reason) => reasons.push(reason));
    registry.handle('not json at all');
    registry.handle({ protocol: 'runtime', command: 'ports', payload: {} });
    registry.handle(discovery({ role: 'a', component: 'c', inports: [], outports: [] }));
    registry.handle(discovery({ ...definition('a'), inports: 'all of them' }));
    registry.handle(discovery({ ...definition('a'), outports: [{ type: 'all' }] }));
    assert.deepEqual(reasons, [
      'not a JSON object: "not json at all"',
      'not a discovery message (protocol "runtime", command "ports")',
      'payload.id is missing or not a string',
      'payload.inports is not an array',
      'payload.outports[0] has no id',
    ]);
    assert.equal(registry.list().length, 0);
  });
});

describe('graph bindings', () => {
  const graph: SystemGraph = {
    nodes: new Map([['a', 'core/Repeat'], ['b', 'core/Repeat'], ['rr', 'msgflo/RoundRobin'], ['w', 'core/Repeat'], ['dead', 'core/Repeat']]),
    edges: [
      { src: { process: 'a', port: 'out' }, tgt: { process: 'b', port: 'in' } },
      { src: { process: 'b', port: 'out' }, tgt: { process: 'rr', port: 'in' } },
      { src: { process: 'rr', port: 'out' }, tgt: { process: 'w', port: 'in' } },
      { src: { process: 'rr', port: 'deadletter' }, tgt: { process: 'dead', port: 'in' } },
    ],
  };

  test('pubsub between roles, round robin through a msgflo/RoundRobin node, queues from discovery', () => {
    const definitions = new Map(['a', 'b', 'w', 'dead'].map((role) => [role, definition(role)]));
    const { bindings, waiting, problems } = graphBindings(graph, definitions);
    assert.deepEqual(bindings, [
      { type: 'pubsub', src: 'a.OUT', tgt: 'b.IN' },
      { type: 'roundrobin', src: 'b.OUT', tgt: 'w.IN', deadletter: 'dead.IN' },
    ]);
    assert.deepEqual(waiting, []);
    assert.deepEqual(problems, []);
  });

  test('role edges: every connection the graph asks for, through round-robin nodes, whether discovered or not', () => {
    assert.deepEqual(roleEdges(graph), [
      { type: 'pubsub', src: { role: 'a', port: 'out' }, tgt: { role: 'b', port: 'in' } },
      { type: 'roundrobin', src: { role: 'b', port: 'out' }, tgt: { role: 'w', port: 'in' } },
    ]);
  });

  test('waits for roles not discovered yet, and names ports that do not exist', () => {
    const definitions = new Map([['a', definition('a')], ['b', { ...definition('b'), inports: [] }]]);
    const { bindings, waiting, problems } = graphBindings(graph, definitions);
    assert.deepEqual(bindings, []);
    assert.deepEqual(waiting.sort(), ['dead', 'w']);
    assert.deepEqual(problems, ['role "b" (core/Repeat) has no inport "in" with a queue']);
  });

  test('says edge by edge which binding it became, or why it cannot be bound', () => {
    const definitions = new Map(['a', 'w', 'dead'].map((role) => [role, definition(role)]));
    definitions.set('b', { ...definition('b'), outports: [] });
    const { edges } = graphBindings(graph, definitions);
    assert.deepEqual(
      edges.map((outcome) => [outcome.binding ?? null, outcome.problem ?? null]),
      [
        [{ type: 'pubsub', src: 'a.OUT', tgt: 'b.IN' }, null],
        [null, 'role "b" (core/Repeat) has no outport "out" with a queue'],
        [null, null],
        [null, null],
      ],
    );
    const dangling: SystemGraph = { nodes: new Map([['a', 'core/Repeat'], ['rr', 'msgflo/RoundRobin']]), edges: [{ src: { process: 'a', port: 'out' }, tgt: { process: 'rr', port: 'in' } }] };
    assert.deepEqual(graphBindings(dangling, definitions).problems, ['round-robin node "rr" has no edge from its OUT port']);
  });

  test('what an IIP waits for: its role and every role downstream, through round-robin nodes', () => {
    const { roles, edges } = downstreamOf(graph, 'b');
    assert.deepEqual([...roles].sort(), ['b', 'dead', 'w']);
    assert.deepEqual(edges, graph.edges.slice(1));
    assert.deepEqual([...downstreamOf(graph, 'w').roles], ['w']);
    assert.deepEqual(downstreamOf(graph, 'w').edges, []);
    const cycle: SystemGraph = { nodes: new Map([['x', 'core/Repeat'], ['y', 'core/Repeat']]), edges: [{ src: { process: 'x', port: 'out' }, tgt: { process: 'y', port: 'in' } }, { src: { process: 'y', port: 'out' }, tgt: { process: 'x', port: 'in' } }] };
    assert.deepEqual([...downstreamOf(cycle, 'x').roles].sort(), ['x', 'y']);
  });
});

/** A coordinator on an in-process broker of its own, with what it says collected. */
async function memoryCoordinator(t: TestContext, fbp: string, transport?: MemoryTransport): Promise<{ coordinator: Coordinator; broker: MemoryBroker; deliveries: IipDelivery[]; failures: SystemFailure[]; announce: (d: ParticipantDefinition) => Promise<void> }> {
  const host = `coordinator-${randomBytes(4).toString('hex')}`;
  const own = transport ?? new MemoryTransport(new URL(`memory://${host}`));
  const broker = memoryBroker(new URL(own.displayUrl).hostname);
  const coordinator = new Coordinator(own);
  t.after(() => coordinator.stop());
  const deliveries: IipDelivery[] = [];
  const failures: SystemFailure[] = [];
  coordinator.on('iips', (delivery) => deliveries.push(delivery));
  coordinator.on('failed', (failure) => failures.push(failure));
  await coordinator.start();
  await coordinator.load(await noflo.loadFBP(fbp));
  const announce = async (d: ParticipantDefinition): Promise<void> => {
    // The participant's queues, as it declares them at its start.
    for (const port of d.inports) {
      await own.createQueue('inqueue', port.queue as string);
    }
    for (const port of d.outports) {
      await own.createQueue('outqueue', port.queue as string);
    }
    coordinator.registry.handle(discovery(d));
    await coordinator.settled();
  };
  return { coordinator, broker, deliveries, failures, announce };
}

const CHAIN = `
'World' -> IN a(core/Repeat)
'cfg' -> IN c(core/Repeat)
a OUT -> IN b(core/Repeat)
b OUT -> IN rr(msgflo/RoundRobin)
rr OUT -> IN c
`;

describe('coordinator: when IIPs go', () => {
  test('an IIP waits for its role and every role downstream (through round robin) to be discovered and bound, then goes once', async (t) => {
    const { coordinator, broker, deliveries, announce } = await memoryCoordinator(t, CHAIN);
    await announce(definition('c'));
    assert.equal(broker.depth('c.IN'), 1, 'nothing downstream of c: its IIP goes at once');
    await announce(definition('a'));
    assert.equal(broker.depth('a.IN'), 0, 'a waits for b, and for c behind the round robin');
    assert.equal(coordinator.pendingIips(), 1);
    await announce(definition('b'));
    assert.equal(broker.depth('a.IN'), 1, 'sent once b was bound to both');
    assert.deepEqual(coordinator.bindings().map((b: Binding) => `${b.type} ${b.src} ${b.tgt}`), ['pubsub a.OUT b.IN', 'roundrobin b.OUT c.IN']);
    assert.deepEqual(deliveries.map(describeIipDelivery), ['sent 1 IIP to c.IN', 'sent 1 IIP to a.IN']);

    // Reconciliations after that (announcements, changed definitions) send nothing more.
    await announce(definition('a'));
    await announce({ ...definition('a'), label: 'changed' });
    await announce({ ...definition('c'), label: 'changed' });
    assert.deepEqual([broker.depth('a.IN'), broker.depth('c.IN'), deliveries.length, coordinator.pendingIips()], [1, 1, 2, 0]);

    // Loading the graph again is a new system start: each once more.
    await coordinator.load(await noflo.loadFBP(CHAIN));
    assert.deepEqual([broker.depth('a.IN'), broker.depth('c.IN')], [2, 2]);
  });

  test('a binding the broker refuses holds the IIPs upstream of it; recorded until it is made', async (t) => {
    class Refusing extends MemoryTransport {
      refuse = true;
      override async addBinding(binding: Binding): Promise<void> {
        if (this.refuse && binding.src === 'b.OUT') {
          throw new Error('NOT_FOUND - no exchange');
        }
        await super.addBinding(binding);
      }
    }
    const transport = new Refusing(new URL(`memory://refusing-${randomBytes(4).toString('hex')}`));
    const { coordinator, broker, failures, announce } = await memoryCoordinator(t, CHAIN, transport);
    for (const role of ['c', 'a', 'b']) {
      await announce(definition(role));
    }
    assert.equal(broker.depth('a.IN'), 0);
    assert.deepEqual(coordinator.failures().map(describeFailure), ['cannot bind ROUNDROBIN b.OUT -> c.IN (edge b OUT -> IN rr, rr OUT -> IN c): NOT_FOUND - no exchange']);
    await announce({ ...definition('b'), label: 'reconciled again' });
    assert.equal(failures.length, 1, 'said once, though tried again');
    assert.equal(coordinator.failures().length, 1, 'still failing');

    transport.refuse = false;
    await announce({ ...definition('b'), label: 'and again' });
    assert.deepEqual(coordinator.failures(), [], 'cleared once made');
    assert.equal(broker.depth('a.IN'), 1, 'the IIP goes once the binding is made');
  });

  test('an edge naming a port its role lacks is a failure, and holds the IIPs upstream of it', async (t) => {
    const { coordinator, broker, failures, announce } = await memoryCoordinator(t, `'World' -> IN a(core/Repeat)\na NOPE -> IN b(core/Repeat)\n'x' -> MISSING b`);
    await announce(definition('a'));
    await announce(definition('b'));
    await coordinator.waitForSystem(1000);
    assert.equal(broker.depth('a.IN'), 0);
    assert.deepEqual(coordinator.failures().map(describeFailure).sort(), [
      'cannot bind edge a NOPE -> IN b: role "a" (core/Repeat) has no outport "nope" with a queue',
      'cannot send the IIP to MISSING b: role "b" (core/Repeat) has no inport "missing" with a queue',
    ]);
    assert.equal(failures.length, 2);
  });

  describe('a participant that starts later gets its role\'s IIPs again', () => {
    const CONFIGURED = `'cfg' -> PREFIX p(fixtures/Prefix)`;
    const prefix = (id: string, started?: number): ParticipantDefinition => ({
      id,
      role: 'p',
      component: 'fixtures/Prefix',
      inports: [{ id: 'in', type: 'string', queue: 'p.IN' }, { id: 'prefix', type: 'string', queue: 'p.PREFIX' }],
      outports: [{ id: 'out', type: 'string', queue: 'p.OUT' }],
      ...(started === undefined ? {} : { started }),
    });

    test('by its start time when it says it; else when first heard of after they were sent', async (t) => {
      const { coordinator, broker, deliveries, announce } = await memoryCoordinator(t, CONFIGURED);
      const now = Date.now();
      await announce(prefix('p-1', now - 10_000));
      assert.equal(broker.depth('p.PREFIX'), 1, 'sent at the system start');
      await announce(prefix('p-2', now + 1000));
      assert.equal(broker.depth('p.PREFIX'), 2, 'a participant started later: sent again');
      await announce(prefix('p-3', now - 5000));
      assert.equal(broker.depth('p.PREFIX'), 2, 'heard only now, but running before they were sent (a replayed announcement): not again');
      await announce(prefix('p-2', now + 1000));
      await announce(prefix('p-1', now - 10_000));
      assert.equal(broker.depth('p.PREFIX'), 2, 'heard again: not again');
      await announce(prefix('p-4'));
      assert.equal(broker.depth('p.PREFIX'), 3, 'no start time, first heard of after they were sent: sent again');
      await announce(prefix('p-2', now + 2000));
      assert.equal(broker.depth('p.PREFIX'), 4, 'the same id started again');
      assert.deepEqual(deliveries.map(describeIipDelivery), [
        'sent 1 IIP to p.PREFIX',
        'sent the IIPs of role p again: a new participant p-2 started',
        'sent the IIPs of role p again: participant p-4 appeared after they were sent',
        'sent the IIPs of role p again: a new participant p-2 started',
      ]);
      assert.equal(coordinator.pendingIips(), 0);
    });

    test('IIPs set again keep their state: only new ones go, removed ones are not sent again', async (t) => {
      const { coordinator, broker, announce } = await memoryCoordinator(t, CONFIGURED);
      await announce(prefix('p-1', Date.now() - 1000));
      await coordinator.setIips([{ process: 'p', port: 'prefix', data: 'cfg' }, { process: 'p', port: 'in', data: 'first job' }]);
      assert.deepEqual([broker.depth('p.PREFIX'), broker.depth('p.IN')], [1, 1]);
      await coordinator.setIips([{ process: 'p', port: 'in', data: 'first job' }]);
      await announce(prefix('p-2', Date.now() + 1000));
      assert.deepEqual([broker.depth('p.PREFIX'), broker.depth('p.IN')], [1, 2], 'the removed IIP is not sent to the new participant');
      await coordinator.setIips([]);
      await announce(prefix('p-3', Date.now() + 2000));
      assert.deepEqual([broker.depth('p.PREFIX'), broker.depth('p.IN')], [1, 2], 'none held: none sent');
      await coordinator.setIips([{ process: 'p', port: 'prefix', data: 'cfg' }], { fresh: true });
      assert.deepEqual([broker.depth('p.PREFIX'), broker.depth('p.IN')], [2, 2], 'a fresh start sends them again');
    });
  });
});
