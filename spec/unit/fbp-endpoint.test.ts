/**
 * The participant's FBP protocol replies, checked against the schemas of the
 * fbp-protocol package.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import noflo from 'noflo';
import type { Flowtrace } from 'flowtrace';
import { handle, type EndpointSubject } from '../../src/participant/fbp-endpoint';
import { DEFAULT_GRAPH, naming } from '../../src/participant/fbp-full';
import { DEFAULT_TRACE_BUFFER, MAX_TRACE_BUFFER, ParticipantTrace, type Traceable } from '../../src/participant/trace';
import type { Reply, Request } from '../../src/fbp/messages';
import { protocolMessage } from '../../src/fbp/schema';
import { assertFbpMessages } from '../harness/fbp-schema';

async function subject(trace: boolean): Promise<EndpointSubject> {
  const graph = await noflo.loadFBP("INPORT=r.IN:IN\nOUTPORT=r.OUT:OUT\nr(core/Repeat)\n");
  return {
    definition: {
      id: 'rep-1',
      role: 'rep',
      component: 'project/Rep',
      label: 'Repeats',
      inports: [{ id: 'in', type: 'all', queue: 'rep.IN' }],
      outports: [{ id: 'out', type: 'all', queue: 'rep.OUT' }],
    },
    graph,
    running: true,
    trace: new ParticipantTrace({ label: 'rep' }, trace),
  };
}

/** A network as the trace sees it: what it was told to record in, call by call. */
function network(): Traceable & { calls: Array<Flowtrace | undefined> } {
  const calls: Array<Flowtrace | undefined> = [];
  return { calls, setFlowtrace: (flowtrace) => void calls.push(flowtrace) };
}

const trace = (command: string, payload: Record<string, unknown> = {}): Request => ({ protocol: 'trace', command, payload: { graph: 'project/Rep', ...payload }, requestId: command });

/** The one reply to `request`, valid by the schemas. */
function only(request: Request, of: EndpointSubject): Reply {
  const replies = handle(request, of);
  assert.equal(replies.length, 1, `one reply to ${request.protocol}:${request.command}: ${JSON.stringify(replies)}`);
  assertFbpMessages(replies);
  return replies[0] as Reply;
}

/** The events of a `trace:dump` reply's Flowtrace, as `command` strings. */
function dumped(reply: Reply): string[] {
  assert.equal(`${reply.protocol}:${reply.command}`, 'trace:dump');
  const payload = reply.payload as { graph: string; type: string; flowtrace: unknown };
  assert.equal(typeof payload.flowtrace, 'string', 'the schema has the Flowtrace as a string');
  const parsed = JSON.parse(payload.flowtrace as string) as { header: { metadata: { label?: string } }; events: Array<{ protocol: string; command: string }> };
  assert.deepEqual(Object.keys(parsed).sort(), ['events', 'header']);
  return parsed.events.map((event) => `${event.protocol}:${event.command}`);
}

describe('participant FBP protocol endpoint', () => {
  const requests: Array<[string, Record<string, unknown>, string[]]> = [
    ['runtime:getruntime', { protocol: 'runtime', command: 'getruntime', payload: { secret: 's3cret' }, requestId: 'a' }, ['runtime:runtime']],
    ['component:list', { protocol: 'component', command: 'list', payload: {} }, ['component:component', 'component:componentsready']],
    ['component:getsource', { protocol: 'component', command: 'getsource', payload: { name: 'project/Rep' } }, ['component:source']],
    ['component:getsource of another', { protocol: 'component', command: 'getsource', payload: { name: 'x/Y' } }, ['component:error']],
    ['network:getstatus', { protocol: 'network', command: 'getstatus', payload: { graph: 'project/Rep' } }, ['network:status']],
    ['trace:dump', { protocol: 'trace', command: 'dump', payload: { graph: 'project/Rep', type: 'flowtrace.json' } }, ['trace:dump']],
    ['trace:clear', { protocol: 'trace', command: 'clear', payload: { graph: 'project/Rep' } }, ['trace:clear']],
    ['graph:addnode (not allowed)', { protocol: 'graph', command: 'addnode', payload: { id: 'n', component: 'c', graph: 'g' } }, ['graph:error']],
  ];
  for (const [what, request, expected] of requests) {
    test(`answers ${what} with ${expected.join(' and ')}, valid by the protocol's schemas, strictly`, async () => {
      const replies = handle(request as never, await subject(true));
      assert.deepEqual(replies.map((r) => `${r.protocol}:${r.command}`), expected);
      assertFbpMessages(replies);
    });
  }

  test('answers requestId with responseTo and never echoes the request', async () => {
    const [reply] = handle({ protocol: 'runtime', command: 'getruntime', payload: { secret: 's3cret' }, requestId: 'req-7' }, await subject(false));
    assert.equal(reply?.responseTo, 'req-7');
    assert.doesNotMatch(JSON.stringify(reply), /s3cret/);
  });

  test('a dump or clear before anything was traced is answered trace:error, saying to send trace:start', async () => {
    const of = await subject(false);
    for (const command of ['dump', 'clear']) {
      const reply = only(trace(command, { type: 'flowtrace.json' }), of);
      assert.equal(reply.command, 'error');
      assert.equal(reply.responseTo, command);
      assert.match((reply.payload as { message: string }).message, new RegExp(`^trace:${command}: nothing was traced; send trace:start first`));
    }
    assert.equal(of.trace.recording, false);
  });
});

describe('tracing turned on and off over the protocol', () => {
  test('trace:start records the networks followed, trace:stop stops, and the dump holds what was recorded in between', async () => {
    const of = await subject(false);
    const net = network();
    of.trace.follow(net);
    assert.deepEqual([...net.calls], [undefined], 'not recording at first');

    const started = only(trace('start'), of);
    assert.deepEqual(started, { protocol: 'trace', command: 'start', payload: { graph: 'project/Rep', buffersize: DEFAULT_TRACE_BUFFER }, responseTo: 'start' });
    assert.equal(net.calls.length, 2);
    const recording = net.calls[1];
    assert.ok(recording, 'the network records in the trace');
    assert.equal(of.trace.recording, true);
    recording.addNetworkStarted('project/Rep');
    recording.addNetworkPacket('network:data', null, { node: 'r', port: 'in' }, 'project/Rep', { data: 1 });

    assert.deepEqual(only(trace('stop'), of), { protocol: 'trace', command: 'stop', payload: { graph: 'project/Rep' }, responseTo: 'stop' });
    assert.deepEqual(net.calls.slice(2), [undefined], 'told to stop recording, once');
    assert.equal(of.trace.recording, false);
    assert.deepEqual(dumped(only(trace('dump', { type: 'flowtrace.json' }), of)), ['network:started', 'network:data'], 'kept after the stop');

    // A network that starts while tracing is off is not traced; one that starts while it is on is.
    const later = network();
    of.trace.follow(later);
    assert.deepEqual([...later.calls], [undefined]);
    only(trace('start'), of);
    assert.equal(later.calls[1], recording, 'the same trace, recording on');
    assert.equal(net.calls[3], recording);
    of.trace.unfollow(net);
    only(trace('stop'), of);
    assert.equal(net.calls.length, 4, 'a network unfollowed is left alone');
    assert.deepEqual(later.calls.slice(2), [undefined]);
  });

  test('trace:clear empties the trace and trace:start with a buffersize keeps that many of the newest events', async () => {
    const of = await subject(true);
    const recording = of.trace.active as Flowtrace;
    for (const n of [1, 2, 3]) {
      recording.addNetworkPacket('network:data', null, { node: 'r', port: 'in' }, 'project/Rep', { data: n });
    }
    const start = only(trace('start', { buffersize: 2 }), of);
    assert.deepEqual(start.payload, { graph: 'project/Rep', buffersize: 2 });
    recording.addNetworkStopped('project/Rep');
    const events = JSON.parse((only(trace('dump'), of).payload as { flowtrace: string }).flowtrace) as { events: Array<{ command: string; payload: { data?: number } }> };
    assert.deepEqual(events.events.map((e) => e.payload.data ?? e.command), [3, 'stopped'], 'the newest two, in order');

    assert.deepEqual(only(trace('clear'), of), { protocol: 'trace', command: 'clear', payload: { graph: 'project/Rep' }, responseTo: 'clear' });
    assert.deepEqual(dumped(only(trace('dump'), of)), []);
    assert.equal(of.trace.recording, true, 'clearing does not stop it');
  });

  test('answers the graph `default` of older clients with its own graph', async () => {
    const of = await subject(true);
    const reply = only({ protocol: 'trace', command: 'dump', payload: { graph: 'default', type: 'flowtrace.json' } }, of);
    assert.equal((reply.payload as { graph: string }).graph, 'project/Rep');
    const status = only({ protocol: 'network', command: 'getstatus', payload: { graph: 'default' } }, of);
    assert.deepEqual(status.payload, { graph: 'project/Rep', started: true, running: true });
  });

  test('refuses a bad buffersize, a dump of another type and an unknown trace command, changing nothing', async () => {
    const of = await subject(false);
    const refusals: Array<[Request, RegExp]> = [
      [trace('start', { buffersize: 0 }), /^trace:start: buffersize must be a whole number of events from 1 to 100000 \(got 0\)$/],
      [trace('start', { buffersize: MAX_TRACE_BUFFER + 1 }), /\(got 100001\)$/],
      [trace('start', { buffersize: 'big' }), /\(got "big"\)$/],
      [trace('dump', { type: 'other.json' }), /^trace:dump: only type "flowtrace.json" is known \(asked for "other.json"\)$/],
      [trace('replay'), /^trace:replay is not a command of the trace protocol$/],
    ];
    for (const [request, message] of refusals) {
      const reply = only(request, of);
      assert.equal(`${reply.protocol}:${reply.command}`, 'trace:error');
      assert.match((reply.payload as { message: string }).message, message);
    }
    assert.equal(of.trace.recording, false);
    assert.equal(of.trace.recorded, undefined);
  });
});

describe('the graph `default` in the full protocol', () => {
  const request = (protocol: string, command: string, payload: Record<string, unknown>): Request => ({ protocol, command, payload, requestId: 'r' });

  test('is the main graph wherever a request names a graph, and graph:clear\'s id', () => {
    assert.equal(DEFAULT_GRAPH, 'default');
    const named = [
      request('graph', 'addnode', { id: 'n', component: 'core/Repeat', graph: 'default' }),
      request('network', 'start', { graph: 'default' }),
      request('network', 'getstatus', { graph: 'default' }),
      request('runtime', 'packet', { graph: 'default', port: 'in', event: 'data', payload: 1 }),
      request('trace', 'dump', { graph: 'default', type: 'flowtrace.json' }),
    ];
    for (const asked of named) {
      const mapped = naming(asked, 'project/Rep');
      assert.equal(mapped.payload.graph, 'project/Rep');
      assert.deepEqual({ ...mapped, payload: { ...mapped.payload, graph: 'default' } }, asked, 'nothing else changes');
    }
    assert.deepEqual(naming(request('graph', 'clear', { id: 'default', main: true }), 'project/Rep').payload, { id: 'project/Rep', main: true });
  });

  test('leaves other graphs, and a component named default, alone', () => {
    const other = request('graph', 'addnode', { id: 'n', component: 'c', graph: 'mine' });
    assert.equal(naming(other, 'project/Rep'), other);
    const source = request('component', 'getsource', { name: 'default' });
    assert.equal(naming(source, 'project/Rep'), source);
    const clear = request('graph', 'clear', { id: 'mine', graph: 'default' });
    assert.equal(naming(clear, 'project/Rep'), clear, 'graph:clear names its graph by id');
  });
});

describe('FBP protocol messages cut to the schemas', () => {
  test('an Error payload becomes {message}, without its stack', () => {
    const message = protocolMessage('graph', 'error', new Error('Requested graph not found'), 'r1');
    assert.deepEqual(message, { protocol: 'graph', command: 'error', payload: { message: 'Requested graph not found' }, responseTo: 'r1' });
    assertFbpMessages([message]);
  });

  test('keys the protocol does not define are dropped, a secret among them; packet contents are kept whole', () => {
    const message = protocolMessage('runtime', 'packet', { port: 'out', event: 'data', graph: 'g', payload: { any: { deep: 1 } }, secret: 's3cret', extra: 1 });
    assert.deepEqual(message?.payload, { port: 'out', event: 'data', graph: 'g', payload: { any: { deep: 1 } } });
    const edges = protocolMessage('network', 'edges', { graph: 'g', secret: 's3cret', edges: [{ src: { node: 'a', port: 'out', extra: 1 }, tgt: { node: 'b', port: 'in' } }] });
    assert.deepEqual(edges?.payload, { graph: 'g', edges: [{ src: { node: 'a', port: 'out' }, tgt: { node: 'b', port: 'in' } }] });
    const component = protocolMessage('component', 'component', { name: 'c', subgraph: false, inPorts: [{ id: 'in', type: 'all', default: { a: 1 }, bogus: true }], outPorts: [] });
    assert.deepEqual(component?.payload, { name: 'c', subgraph: false, inPorts: [{ id: 'in', type: 'all', default: { a: 1 } }], outPorts: [] });
    assertFbpMessages([message, edges, component]);
  });

  test('a message the protocol does not define is not sent', () => {
    assert.equal(protocolMessage('network', 'setdebug', { enable: true }), undefined);
  });

  test('dates become strings, as on the wire', () => {
    const message = protocolMessage('network', 'started', { time: new Date(0), graph: 'g', started: true, running: true });
    assert.deepEqual(message?.payload, { time: '1970-01-01T00:00:00.000Z', graph: 'g', started: true, running: true });
    assertFbpMessages([message]);
  });
});
