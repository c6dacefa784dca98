/**
 * The participant's FBP protocol replies, checked against the schemas of the
 * fbp-protocol package.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import noflo from 'noflo';
import { Flowtrace } from 'flowtrace';
import { handle, type EndpointSubject } from '../../src/participant/fbp-endpoint';

interface Tv4 {
  getSchema(uri: string): unknown;
  validateMultiple(data: unknown, schema: unknown): { valid: boolean; errors: Array<{ message: string; dataPath: string }> };
}
const tv4 = require('fbp-protocol/schema') as Tv4;

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

function assertValid(reply: { protocol: string; command: string }): void {
  const uri = `/${reply.protocol}/output/${reply.command}`;
  const schema = tv4.getSchema(uri);
  assert.ok(schema, `a schema ${uri}`);
  const result = tv4.validateMultiple(reply, schema);
  assert.ok(result.valid, `${uri}: ${result.errors.map((e) => `${e.dataPath} ${e.message}`).join('; ')}\n${JSON.stringify(reply)}`);
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
    test(`answers ${what} with ${expected.join(' and ')}, valid by the protocol's schemas`, async () => {
      const replies = handle(request as never, await subject(true));
      assert.deepEqual(replies.map((r) => `${r.protocol}:${r.command}`), expected);
      for (const reply of replies) {
        assertValid(reply);
      }
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
    assertValid(reply as { protocol: string; command: string });
  });
});
