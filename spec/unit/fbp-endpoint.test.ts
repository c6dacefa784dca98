/**
 * The participant's FBP protocol replies, checked against the schemas of the
 * fbp-protocol package.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import noflo from 'noflo';
import { Flowtrace } from 'flowtrace';
import { handle, type EndpointSubject } from '../../src/participant/fbp-endpoint';
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
    flowtrace: trace ? new Flowtrace({}) : undefined,
  };
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

  test('refuses trace commands when tracing is off', async () => {
    const [reply] = handle({ protocol: 'trace', command: 'dump', payload: { graph: 'project/Rep' } }, await subject(false));
    assert.equal(reply?.command, 'error');
    assertFbpMessages([reply]);
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
