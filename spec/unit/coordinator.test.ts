import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParticipantRegistry } from '../../src/coordinator/registry';
import { graphBindings, type SystemGraph } from '../../src/protocol/bindings';
import type { ParticipantDefinition } from '../../src/protocol/definition';

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

  test('waits for roles not discovered yet, and names ports that do not exist', () => {
    const definitions = new Map([['a', definition('a')], ['b', { ...definition('b'), inports: [] }]]);
    const { bindings, waiting, problems } = graphBindings(graph, definitions);
    assert.deepEqual(bindings, []);
    assert.deepEqual(waiting.sort(), ['dead', 'w']);
    assert.deepEqual(problems, ['role "b" (core/Repeat) has no inport "in" with a queue']);
  });
});
