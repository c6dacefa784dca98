/**
 * A participant's full FBP runtime protocol (`--protocol-full`), checked by
 * the official suite of the fbp-protocol package over its WebSocket, and by
 * hand over its queue pair; the read-only endpoint refusing the same edits.
 * Every message the endpoints send here is validated strictly. On MQTT: the
 * coordinator's tests list what they discover on RabbitMQ, and these
 * participants are none of theirs.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { Participant } from '../../src/participant/participant';
import { connectClient, uniqueRole } from '../harness/client';
import { mqttUrl } from '../harness/env';
import { assertFbpMessages } from '../harness/fbp-schema';
import { openFbpSocket } from '../harness/fbp-socket';
import { runFbpTestSuite } from '../harness/fbp-test';
import { startParticipant } from '../harness/participants';

type Message = { protocol: string; command: string; payload: Record<string, unknown>; responseTo?: string };
type Ask = (request: unknown, until: (messages: Message[]) => boolean) => Promise<Message[]>;

/**
 * Ask over the participant's queue pair, until what came back since satisfies
 * `until`; `received()` is everything the endpoint sent to the pair so far.
 */
async function queuePair(t: TestContext, participant: Participant): Promise<{ ask: Ask; received: () => Message[] }> {
  const peer = await connectClient('mqtt', mqttUrl());
  t.after(() => peer.close());
  const { inqueue, outqueue } = participant.definition;
  const replies = await peer.listen(outqueue as string);
  const since = async (before: number, until: (messages: Message[]) => boolean, what: string): Promise<Message[]> => {
    const deadline = Date.now() + 10_000;
    let messages = (replies.messages as Message[]).slice(before);
    while (!until(messages)) {
      assert.ok(Date.now() < deadline, `no answer to ${what}; got ${JSON.stringify(messages)}`);
      await replies.waitFor(replies.bodies.length + 1, deadline - Date.now()).catch(() => undefined);
      messages = (replies.messages as Message[]).slice(before);
    }
    return messages;
  };
  const ask: Ask = async (request, until) => {
    const before = replies.bodies.length;
    await peer.send(inqueue as string, JSON.stringify(request));
    return since(before, until, JSON.stringify(request));
  };
  return { ask, received: () => replies.messages as Message[] };
}

const has = (command: string) => (messages: Message[]) => messages.some((m) => m.command === command);

describe('participant FBP protocol, full (--protocol-full)', () => {
  test('passes the official fbp-protocol suite over its WebSocket: 22 of 22', async (t) => {
    const participant = await startParticipant(t, mqttUrl(), { name: uniqueRole('full'), graph: 'core/Repeat', protocolPort: 0, protocolFull: true });
    const address = participant.protocolAddress as string;
    // A second client sees every broadcast (graph changes, network events) the suite causes.
    const observer = await openFbpSocket(t, address);
    const observed = observer.received;
    observer.send({ protocol: 'runtime', command: 'getruntime', payload: {}, requestId: 'observer' });

    const port = Number(new URL(address).port);
    const result = await runFbpTestSuite({ host: '127.0.0.1', port });
    assert.deepEqual(result.failed, []);
    assert.equal(result.passes, 22);
    assert.equal(result.total, 22);

    const [runtime] = observed;
    assert.equal(runtime?.command, 'runtime');
    assert.equal(runtime?.responseTo, 'observer');
    assert.equal(runtime?.payload.graph, 'core/Repeat');
    assert.equal(runtime?.payload.id, participant.definition.id);
    const seen = new Set(observed.map((m) => `${m.protocol}:${m.command}`));
    for (const expected of ['graph:clear', 'graph:addnode', 'graph:addedge', 'graph:removenode', 'network:started', 'network:data']) {
      assert.ok(seen.has(expected), `the observer saw ${expected} (saw ${[...seen].join(', ')})`);
    }
    assertFbpMessages(observed);
  });

  test('edits the participant graph over the queue pair, live, and keeps serving jobs', async (t) => {
    const role = uniqueRole('full');
    const participant = await startParticipant(t, mqttUrl(), { name: role, graph: 'core/Repeat', protocolFull: true });
    const { ask, received } = await queuePair(t, participant);

    const [runtime] = await ask({ protocol: 'runtime', command: 'getruntime', payload: { secret: 'n0t-echoed' }, requestId: 'q1' }, has('runtime'));
    assert.equal(runtime?.responseTo, 'q1');
    assert.equal(runtime?.payload.graph, 'core/Repeat');
    assert.ok((runtime?.payload.capabilities as string[]).includes('protocol:graph'));

    const added = await ask(
      { protocol: 'graph', command: 'addnode', payload: { id: 'Extra', component: 'core/Repeat', metadata: { x: 1, y: 2 }, graph: 'core/Repeat', secret: 'n0t-echoed' } },
      has('addnode'),
    );
    assert.deepEqual(added.find((m) => m.command === 'addnode')?.payload, { id: 'Extra', component: 'core/Repeat', metadata: { x: 1, y: 2 }, graph: 'core/Repeat' });
    await ask({ protocol: 'graph', command: 'addedge', payload: { src: { node: 'main', port: 'out' }, tgt: { node: 'Extra', port: 'in' }, graph: 'core/Repeat' } }, has('addedge'));
    const [source] = await ask({ protocol: 'component', command: 'getsource', payload: { name: 'core/Repeat' }, requestId: 'q2' }, has('source'));
    assert.equal(source?.responseTo, 'q2');
    const code = JSON.parse(String(source?.payload.code)) as { processes: Record<string, { component: string }>; connections: unknown[] };
    assert.deepEqual(Object.keys(code.processes).sort(), ['Extra', 'main']);
    assert.equal(code.connections.length, 1);
    const [status] = await ask({ protocol: 'network', command: 'getstatus', payload: { graph: 'core/Repeat' } }, has('status'));
    assert.equal(status?.payload.started, true);

    // A job still goes through, and its packet shows on the new edge.
    const peer = await connectClient('mqtt', mqttUrl());
    t.after(() => peer.close());
    const out = await peer.listen(`${role}.OUT`);
    await peer.send(`${role}.IN`, JSON.stringify({ n: 1 }));
    assert.deepEqual(await out.waitFor(1), [{ n: 1 }]);
    const deadline = Date.now() + 5000;
    const onEdge = (): Message | undefined => received().find((m) => m.command === 'data' && (m.payload.tgt as { node: string }).node === 'Extra');
    while (!onEdge() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(onEdge()?.payload, { id: 'main() OUT -> IN Extra()', graph: 'core/Repeat', src: { node: 'main', port: 'out' }, tgt: { node: 'Extra', port: 'in' }, data: { n: 1 } });

    // Broadcasts may come between (the network goes idle after the job): the answer is the error.
    const refused = (await ask({ protocol: 'graph', command: 'addnode', payload: { id: 'X', component: 'core/Repeat', graph: 'nope' } }, has('error'))).find((m) => m.command === 'error');
    assert.deepEqual(refused?.payload, { message: 'Requested graph not found' });
    assert.doesNotMatch(JSON.stringify(received()), /n0t-echoed/);
    assertFbpMessages(received());
  });

  test('takes the graph id default of older clients as the main graph, and traces it on trace:start, as --trace and the read-only endpoint do', async (t) => {
    const role = uniqueRole('full');
    const participant = await startParticipant(t, mqttUrl(), { name: role, graph: 'core/Repeat', protocolFull: true });
    const { ask, received } = await queuePair(t, participant);
    const answer = async (request: Record<string, unknown>, command: string): Promise<Message> => {
      const messages = await ask(request, (m) => m.some((x) => x.command === command || x.command === 'error'));
      const found = messages.find((m) => m.command === command);
      assert.ok(found, `${command} in answer to ${JSON.stringify(request)}: ${JSON.stringify(messages)}`);
      return found;
    };

    const status = await answer({ protocol: 'network', command: 'getstatus', payload: { graph: 'default' } }, 'status');
    assert.equal(status.payload.graph, 'core/Repeat');
    assert.equal(status.payload.started, true);
    const added = await answer({ protocol: 'graph', command: 'addnode', payload: { id: 'Extra', component: 'core/Repeat', graph: 'default' } }, 'addnode');
    assert.deepEqual(added.payload, { id: 'Extra', component: 'core/Repeat', metadata: {}, graph: 'core/Repeat' });
    await answer({ protocol: 'graph', command: 'addedge', payload: { src: { node: 'main', port: 'out' }, tgt: { node: 'Extra', port: 'in' }, graph: 'default' } }, 'addedge');

    const start = await answer({ protocol: 'trace', command: 'start', payload: { graph: 'default', buffersize: 50 }, requestId: 't1' }, 'start');
    assert.deepEqual(start, { protocol: 'trace', command: 'start', payload: { graph: 'core/Repeat', buffersize: 50 }, responseTo: 't1' });
    assert.equal(participant.tracing, true);
    const peer = await connectClient('mqtt', mqttUrl());
    t.after(() => peer.close());
    const out = await peer.listen(`${role}.OUT`);
    await peer.send(`${role}.IN`, JSON.stringify({ n: 1 }));
    assert.deepEqual(await out.waitFor(1), [{ n: 1 }]);

    const dump = await answer({ protocol: 'trace', command: 'dump', payload: { graph: 'default', type: 'flowtrace.json' } }, 'dump');
    assert.equal(dump.payload.graph, 'core/Repeat');
    assert.equal(typeof dump.payload.flowtrace, 'string', 'the schema has the Flowtrace as a string');
    const trace = JSON.parse(dump.payload.flowtrace as string) as { events: Array<{ command: string; payload: { src: { node: string } | null; tgt: { node: string } | null; data: unknown } }> };
    const edges = trace.events.filter((e) => e.command === 'data').map((e) => `${e.payload.src?.node ?? 'DATA'} -> ${e.payload.tgt?.node ?? 'OUT'}`);
    assert.deepEqual(edges.sort(), ['DATA -> main', 'main -> Extra', 'main -> OUT'], 'the job on the queue in, on the new edge, on the queue out');
    assert.ok(trace.events.every((e) => e.command !== 'data' || JSON.stringify(e.payload.data) === '{"n":1}'));

    const stop = await answer({ protocol: 'trace', command: 'stop', payload: { graph: 'default' } }, 'stop');
    assert.deepEqual(stop.payload, { graph: 'core/Repeat' });
    assert.equal(participant.tracing, false);
    assertFbpMessages(received());
  });

  test('answers trace:dump of a graph a client built as the schema says, the Flowtrace as a string', async (t) => {
    const participant = await startParticipant(t, mqttUrl(), { name: uniqueRole('full'), graph: 'core/Repeat', protocolFull: true });
    const { ask, received } = await queuePair(t, participant);
    const until = (command: string) => (m: Message[]) => m.some((x) => x.command === command || x.command === 'error');
    await ask({ protocol: 'graph', command: 'clear', payload: { id: 'mine', name: 'mine' } }, until('clear'));
    await ask({ protocol: 'graph', command: 'addnode', payload: { id: 'r', component: 'core/Repeat', graph: 'mine' } }, until('addnode'));
    await ask({ protocol: 'network', command: 'start', payload: { graph: 'mine' } }, until('started'));
    const started = (await ask({ protocol: 'trace', command: 'start', payload: { graph: 'mine' } }, until('start'))).find((m) => m.command === 'start');
    assert.deepEqual(started?.payload, { graph: 'mine', buffersize: 400 });
    const dump = (await ask({ protocol: 'trace', command: 'dump', payload: { graph: 'mine', type: 'flowtrace.json' } }, until('dump'))).find((m) => m.command === 'dump');
    assert.equal(dump?.payload.graph, 'mine');
    assert.equal(typeof dump?.payload.flowtrace, 'string');
    assert.deepEqual(Object.keys(JSON.parse(dump?.payload.flowtrace as string) as object).sort(), ['events', 'header']);
    assert.equal(participant.tracing, false, "the participant's own trace is another");
    assertFbpMessages(received());
  });

  test('checks a node before adding it: a component not installed, and a graph including the graph it goes into, are refused', async (t) => {
    const participant = await startParticipant(t, mqttUrl(), { name: uniqueRole('full'), graph: 'fixtures/Shouting', protocolFull: true });
    const { ask, received } = await queuePair(t, participant);
    const addnode = (id: string, component: string) => ({ protocol: 'graph', command: 'addnode', payload: { id, component, graph: 'fixtures/Shouting' } });

    const missing = (await ask(addnode('m', 'fixtures/NotThere'), has('error'))).find((m) => m.command === 'error');
    assert.match(String(missing?.payload.message), /^cannot add node "m" to graph "fixtures\/Shouting": .*node "m" uses component "fixtures\/NotThere", which is not installed/);
    const itself = (await ask(addnode('again', 'Shouting'), has('error'))).find((m) => m.command === 'error');
    assert.match(String(itself?.payload.message), /cannot add node "again" to graph "fixtures\/Shouting": graph fixtures\/Shouting includes itself: fixtures\/Shouting → again \(Shouting\)/);
    // Through another graph: WrappedChecker includes Checker, which does not include Shouting; it is accepted.
    const added = await ask(addnode('w', 'fixtures/WrappedChecker'), (m) => m.some((x) => x.command === 'addnode' || x.command === 'error'));
    assert.equal(added.find((m) => m.command === 'addnode')?.payload.id, 'w');

    const [source] = await ask({ protocol: 'component', command: 'getsource', payload: { name: 'fixtures/Shouting' } }, has('source'));
    const code = JSON.parse(String(source?.payload.code)) as { processes: Record<string, unknown> };
    assert.ok(!('m' in code.processes) && !('again' in code.processes), `refused nodes are not in the graph: ${Object.keys(code.processes).join(', ')}`);
    assert.ok('w' in code.processes);
    assertFbpMessages(received());
  });
});

describe('participant FBP protocol, read-only (default)', () => {
  test('refuses graph and network edits with <protocol>:error, over the queue pair and the WebSocket', async (t) => {
    const participant = await startParticipant(t, mqttUrl(), { name: uniqueRole('ro'), graph: 'core/Repeat', protocolPort: 0 });
    const { ask, received } = await queuePair(t, participant);
    const edits = [
      { protocol: 'graph', command: 'clear', payload: { id: 'foo', main: true } },
      { protocol: 'graph', command: 'addnode', payload: { id: 'X', component: 'core/Repeat', graph: 'core/Repeat' } },
      { protocol: 'network', command: 'start', payload: { graph: 'core/Repeat' } },
      { protocol: 'network', command: 'stop', payload: { graph: 'core/Repeat' } },
      { protocol: 'runtime', command: 'packet', payload: { graph: 'core/Repeat', port: 'in', event: 'data', payload: 1 } },
    ];
    for (const edit of edits) {
      const [reply] = await ask(edit, has('error'));
      assert.equal(`${reply?.protocol}:${reply?.command}`, `${edit.protocol}:error`);
    }

    const socket = await openFbpSocket(t, participant.protocolAddress as string);
    const overSocket = socket.received;
    for (const edit of edits) {
      socket.send(edit);
    }
    const deadline = Date.now() + 5000;
    while (overSocket.length < edits.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(overSocket.map((m) => `${m.protocol}:${m.command}`), edits.map((e) => `${e.protocol}:error`));
    assertFbpMessages([...received(), ...overSocket]);
  });

  test('sends the packets on the running graph\'s edges as network:data, once asked something, and only selected edges after network:edges', async (t) => {
    const role = uniqueRole('ro');
    const participant = await startParticipant(t, mqttUrl(), { name: role, graph: 'fixtures/Pipeline', inports: { items: { queue: `${role}.ITEMS` } } });
    const { ask, received } = await queuePair(t, participant);
    const [runtime] = await ask({ protocol: 'runtime', command: 'getruntime', payload: {} }, has('runtime'));
    assert.ok((runtime?.payload.capabilities as string[]).includes('network:data'));
    const peer = await connectClient('mqtt', mqttUrl());
    t.after(() => peer.close());
    const onEdge = (): Message[] => received().filter((m) => m.command === 'data');
    await peer.send(`${role}.ITEMS`, JSON.stringify({ group: 'g', items: ['a'] }));
    const deadline = Date.now() + 5000;
    while (onEdge().length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(onEdge()[0]?.payload, { id: 'split() OUT -> IN fail()', graph: 'fixtures/Pipeline', src: { node: 'split', port: 'out' }, tgt: { node: 'fail', port: 'in' }, data: 'a' });
    const groups = received().filter((m) => m.command === 'begingroup').map((m) => m.payload.group);
    assert.deepEqual(groups, ['g'], "the graph's own bracket shows, and no bracket of the job: it travels as the packets' scope");

    const [selected] = await ask({ protocol: 'network', command: 'edges', payload: { graph: 'fixtures/Pipeline', edges: [] }, requestId: 'e1' }, has('edges'));
    assert.deepEqual(selected, { protocol: 'network', command: 'edges', payload: { graph: 'fixtures/Pipeline', edges: [] } }, 'no responseTo: its schema has none');
    const before = onEdge().length;
    await peer.send(`${role}.ITEMS`, JSON.stringify(['b']));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(onEdge().length, before, 'no packets of edges not selected');
    assertFbpMessages(received());
  });
});

describe('participant FBP protocol, status', () => {
  test('a paused participant says it is not running, and running again once resumed', async (t) => {
    const participant = await startParticipant(t, mqttUrl(), { name: uniqueRole('paused'), graph: 'core/Repeat', protocolPort: 0 });
    const client = await openFbpSocket(t, participant.protocolAddress as string);
    const status = async (): Promise<unknown> => {
      const next = client.next();
      client.send({ protocol: 'network', command: 'getstatus', payload: { graph: 'core/Repeat' } });
      return (await next).payload;
    };
    assert.deepEqual(await status(), { graph: 'core/Repeat', started: true, running: true });
    await participant.pause();
    assert.deepEqual(await status(), { graph: 'core/Repeat', started: false, running: false });
    await participant.resume();
    assert.deepEqual(await status(), { graph: 'core/Repeat', started: true, running: true });
    assertFbpMessages(client.received);
  });
});
