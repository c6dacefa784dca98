/**
 * Live participants only: leave messages, announcement times, and the
 * messages of discovery requests.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Coordinator } from '../../src/coordinator/coordinator';
import { ParticipantRegistry } from '../../src/coordinator/registry';
import { discoveryMessage, leaveMessage, type ParticipantDefinition } from '../../src/protocol/definition';
import { DISCOVERY_CONTROL_TOPIC, discoveryRequest, parseDiscoveryRequest, parseFbpMessage, parseRequestAnswer } from '../../src/protocol/discovery';
import { createTransport } from '../../src/transport';
import { requestAnnouncements } from '../../src/coordinator/discovery-request';

const definition = (role: string, id = `${role}-1`): ParticipantDefinition => ({
  id,
  role,
  component: 'core/Repeat',
  inports: [{ id: 'in', type: 'all', queue: `${role}.IN` }],
  outports: [{ id: 'out', type: 'all', queue: `${role}.OUT` }],
});

function recorder(registry: ParticipantRegistry): string[] {
  const events: string[] = [];
  for (const change of ['added', 'updated', 'removed'] as const) {
    registry.on(change, (d) => events.push(`${change} ${d.id}`));
  }
  registry.on('stale', (d, age) => events.push(`stale ${d.id} ${age}`));
  return events;
}

describe('registry of live participants', () => {
  test('a leave message forgets the participant at once, and its older announcements still queued are ignored', () => {
    let now = 10_000;
    const registry = new ParticipantRegistry(60_000, () => now);
    const events = recorder(registry);
    registry.handle(discoveryMessage(definition('a'), 9_000));
    registry.handle(leaveMessage(definition('a'), 9_500));
    // Read after the leave, sent before it (a replay): ignored.
    registry.handle(discoveryMessage(definition('a'), 9_400));
    registry.handle(discoveryMessage(definition('a')));
    now = 11_000;
    registry.handle(discoveryMessage(definition('b'), 10_900));
    assert.deepEqual(events, ['added a-1', 'removed a-1', 'added b-1']);
    assert.deepEqual(registry.list().map((d) => d.id), ['b-1']);
  });

  test('a participant that left and runs again (same id, newer announcement) is known again', () => {
    const now = 10_000;
    const registry = new ParticipantRegistry(60_000, () => now);
    const events = recorder(registry);
    registry.handle(leaveMessage(definition('a'), 9_000));
    registry.handle(discoveryMessage(definition('a'), 9_500));
    assert.deepEqual(events, ['added a-1']);
  });

  test('announcements read at the start count from when they were sent: one older than the timeout is ignored, a younger one expires on time', () => {
    let now = 100_000;
    const registry = new ParticipantRegistry(60_000, () => now);
    const events = recorder(registry);
    registry.start();
    registry.stop();
    registry.handle(discoveryMessage(definition('gone'), now - 61_000));
    registry.handle(discoveryMessage(definition('old'), now - 50_000));
    registry.handle(discoveryMessage(definition('fresh'), now - 100));
    assert.deepEqual(events, ['stale gone-1 61000', 'added old-1', 'added fresh-1']);
    now += 11_000;
    registry.expire();
    assert.deepEqual(events.slice(3), ['removed old-1'], 'forgotten 60 s after it was sent, not 60 s after it was read');
    assert.deepEqual(registry.list().map((d) => d.id), ['fresh-1']);
  });

  test('after its first timeout, announcements count from when they are read (clocks a little apart do not make participants come and go)', () => {
    let now = 100_000;
    const registry = new ParticipantRegistry(60_000, () => now);
    const events = recorder(registry);
    registry.start();
    registry.stop();
    now += 70_000;
    registry.handle(discoveryMessage(definition('behind'), now - 40_000));
    now += 30_000;
    registry.expire();
    assert.deepEqual(events, ['added behind-1']);
  });

  test('prune forgets participants of ours known only from announcements sent before a request; others stay', () => {
    const now = 100_000;
    const registry = new ParticipantRegistry(60_000, () => now);
    const events = recorder(registry);
    registry.handle(discoveryMessage(definition('gone'), now - 5_000));
    registry.handle(discoveryMessage(definition('live'), now - 5_000));
    registry.handle(discoveryMessage(definition('live'), now + 10)); // Its answer to the request.
    registry.handle({ protocol: 'discovery', command: 'participant', payload: definition('other') });
    registry.prune(now);
    assert.deepEqual(events, ['added gone-1', 'added live-1', 'added other-1', 'removed gone-1']);
    assert.deepEqual(registry.list().map((d) => d.id).sort(), ['live-1', 'other-1']);
  });

  test('messages without a time (other MsgFlo programs) count from when they are read', () => {
    const now = 100_000;
    const registry = new ParticipantRegistry(60_000, () => now);
    registry.handle({ protocol: 'discovery', command: 'participant', payload: definition('other') });
    assert.deepEqual(registry.entries(), [{ definition: definition('other'), lastSeen: now }]);
  });
});

describe('discovery messages of our own', () => {
  test('leave, request and registry answers read back; malformed ones are told apart', () => {
    assert.deepEqual(parseFbpMessage(leaveMessage(definition('a'), 5)), { kind: 'leave', id: 'a-1', role: 'a', time: 5 });
    assert.equal(parseFbpMessage({ protocol: 'discovery', command: 'leave', payload: {} }).kind, 'invalid');
    assert.deepEqual(parseDiscoveryRequest(discoveryRequest()), { replyTo: undefined });
    assert.deepEqual(parseDiscoveryRequest(discoveryRequest('fbp.reply.x')), { replyTo: 'fbp.reply.x' });
    assert.equal(parseDiscoveryRequest(discoveryMessage(definition('a'))), null);
    const answer = parseRequestAnswer({ protocol: 'discovery', command: 'registry', payload: { participants: [{ definition: definition('a'), lastSeen: 7 }, { definition: { id: 'x' }, lastSeen: 1 }] } });
    assert.deepEqual(answer, { kind: 'registry', participants: [{ definition: definition('a'), lastSeen: 7 }] }, 'the malformed entry left out');
    assert.deepEqual(parseRequestAnswer(discoveryMessage(definition('b'), 3)), { kind: 'participant', definition: definition('b'), time: 3 });
  });

  test('a coordinator forgets a participant that sends a leave notice on the control topic', async (t) => {
    const url = `memory://leave-${process.pid}`;
    const coordinator = new Coordinator(createTransport(url));
    await coordinator.start();
    t.after(() => coordinator.stop());
    coordinator.registry.handle(discoveryMessage(definition('leaving'), Date.now()));
    assert.ok(coordinator.registry.byRole('leaving'));
    const participant = createTransport(url);
    await participant.connect();
    t.after(() => participant.close());
    await participant.broadcast(DISCOVERY_CONTROL_TOPIC, leaveMessage(definition('leaving')));
    assert.equal(coordinator.registry.byRole('leaving'), undefined);
  });

  test('a coordinator answers a request naming an inbox with every participant it knows', async (t) => {
    const url = `memory://answers-${process.pid}`;
    const coordinator = new Coordinator(createTransport(url));
    await coordinator.start();
    t.after(() => coordinator.stop());
    coordinator.registry.handle({ protocol: 'discovery', command: 'participant', payload: definition('foreign') });
    const asking = createTransport(url);
    await asking.connect();
    t.after(() => asking.close());
    const answers: unknown[] = [];
    const inbox = await asking.inbox((message) => answers.push(message));
    await requestAnnouncements(asking, inbox.address);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(answers.length, 1);
    const answer = parseRequestAnswer(answers[0]);
    assert.equal(answer.kind, 'registry');
    assert.deepEqual(answer.kind === 'registry' ? answer.participants.map((p) => p.definition.id) : [], ['foreign-1']);
  });
});
