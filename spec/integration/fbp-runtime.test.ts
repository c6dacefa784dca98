/**
 * The coordinator as an FBP runtime over WebSocket, as Flowhub connects to it.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { Host } from '../../src/host/host';
import { uniqueRole } from '../harness/client';
import { runCli, startCli } from '../harness/cli';
import { amqpUrl } from '../harness/env';
import { temporaryFile } from '../harness/files';
import { FIXTURES } from '../harness/participants';
import { assertFbpMessages } from '../harness/fbp-schema';
import { openFbpSocket, type FbpMessage } from '../harness/fbp-socket';
import { eventually } from '../harness/wait';

type Message = FbpMessage;

async function connect(t: TestContext, address: string): Promise<(request: unknown, until: number | ((replies: Message[]) => boolean)) => Promise<Message[]>> {
  const { received, send } = await openFbpSocket(t, address);
  return async (request, until) => {
    const before = received.length;
    send(request);
    const deadline = Date.now() + 5000;
    const done = typeof until === 'number' ? (replies: Message[]) => replies.length >= until : until;
    while (!done(received.slice(before)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const replies = received.slice(before);
    assertFbpMessages(replies);
    return replies;
  };
}

describe('coordinator command: the system as one FBP runtime', () => {
  test('serves the system graph it was started with: components, source, status', async (t) => {
    const [repeater, prefixer] = [uniqueRole('rep'), uniqueRole('pre')];
    const file = await temporaryFile(t, 'Shown.fbp', `${repeater}(core/Repeat) OUT -> IN ${prefixer}(fixtures/Prefix)\n`);
    const host = new Host({ broker: amqpUrl(), basedir: FIXTURES, discoveryPeriod: 1 }, {});
    t.after(() => host.stop());
    await host.add({ name: repeater, graph: 'core/Repeat' });
    await host.add({ name: prefixer, graph: 'fixtures/Prefix' });

    const runtime = startCli(t, ['coordinator', '--graph', file, '--broker', amqpUrl(), '--port', '0']);
    await runtime.waitForStderr(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    await runtime.waitForStderr(/PUBSUB:/);
    const address = /on (ws:\/\/127\.0\.0\.1:\d+)/.exec(runtime.stderr)?.[1] as string;
    const ask = await connect(t, address);

    const [info, ports] = await ask({ protocol: 'runtime', command: 'getruntime', payload: {}, requestId: 'q1' }, 2);
    assert.equal(info?.responseTo, 'q1');
    assert.equal(info?.payload.graph, 'Shown');
    assert.equal(info?.payload.type, 'msgflo');
    assert.deepEqual(ports?.payload, { graph: 'Shown', inPorts: [], outPorts: [] });
    const listed = await ask({ protocol: 'component', command: 'list', payload: {} }, (replies) => replies.some((m) => m.command === 'componentsready'));
    const names = listed.filter((m) => m.command === 'component').map((m) => m.payload.name);
    // The discovered participants' components, and what can be started here.
    for (const name of ['core/Repeat', 'fixtures/Prefix', 'core/Drop']) {
      assert.ok(names.includes(name), `${name} listed`);
    }
    assert.ok(!names.includes('Graph') && !names.some((name) => String(name).endsWith('/RoundRobin')), `no markers listed: ${names.join(', ')}`);
    const [source] = await ask({ protocol: 'component', command: 'getsource', payload: { name: 'Shown' } }, 1);
    const code = JSON.parse(String(source?.payload.code)) as { processes: Record<string, unknown> };
    assert.deepEqual(Object.keys(code.processes).sort(), [prefixer, repeater].sort());
    const [status] = await ask({ protocol: 'network', command: 'getstatus', payload: { graph: 'Shown' } }, 1);
    // Started with the command; not running: nothing in flight.
    assert.deepEqual(status?.payload, { graph: 'Shown', started: true, running: false });
    // Its schema has no room for responseTo: a strict client would refuse the reply with one.
    const [edges] = await ask({ protocol: 'network', command: 'edges', payload: { graph: 'Shown', edges: [] }, requestId: 'e1' }, 1);
    assert.deepEqual(edges, { protocol: 'network', command: 'edges', payload: { edges: [], graph: 'Shown' } });
    const [refused] = await ask({ protocol: 'graph', command: 'addnode', payload: { id: 'x', component: 'none/Such', graph: 'Shown' } }, 1);
    assert.equal(refused?.command, 'error');
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('tells every connected client of a change one of them made', async (t) => {
    const runtime = startCli(t, ['coordinator', '--broker', amqpUrl(), '--port', '0']);
    await runtime.waitForStderr(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const address = /on (ws:\/\/127\.0\.0\.1:\d+)/.exec(runtime.stderr)?.[1] as string;
    const editor = await connect(t, address);
    const watcher = await openFbpSocket(t, address);
    const role = uniqueRole('shared');
    await editor({ protocol: 'graph', command: 'clear', payload: { id: 'shared', main: true }, requestId: 'c1' }, 1);
    const [added] = await editor({ protocol: 'graph', command: 'addnode', payload: { id: role, component: 'core/Repeat', metadata: {}, graph: 'shared' }, requestId: 'a1' }, 1);
    assert.equal(added?.responseTo, 'a1');
    await eventually(() => watcher.received.length >= 2, () => `the watcher told of both changes: ${JSON.stringify(watcher.received)}`);
    assert.deepEqual(watcher.received, [
      { protocol: 'graph', command: 'clear', payload: { id: 'shared', main: true } },
      { protocol: 'graph', command: 'addnode', payload: { id: role, component: 'core/Repeat', metadata: {}, graph: 'shared' } },
    ]);
    assertFbpMessages(watcher.received);
  });

  test('with --secret, answers only requests that carry it, and never echoes it', async (t) => {
    const file = await temporaryFile(t, 'Secret.fbp', `${uniqueRole('s')}(core/Repeat)\n`);
    const runtime = startCli(t, ['coordinator', '--graph', file, '--broker', amqpUrl(), '--port', '0', '--secret', 'Op3nSesame']);
    await runtime.waitForStderr(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const ask = await connect(t, /on (ws:\/\/127\.0\.0\.1:\d+)/.exec(runtime.stderr)?.[1] as string);
    const [denied] = await ask({ protocol: 'runtime', command: 'getruntime', payload: {} }, 1);
    assert.equal(denied?.command, 'error');
    const [allowed] = await ask({ protocol: 'runtime', command: 'getruntime', payload: {}, secret: 'Op3nSesame' }, 1);
    assert.equal(allowed?.command, 'runtime');
    assert.doesNotMatch(JSON.stringify([denied, allowed]), /Op3nSesame/);
  });

  test('refuses to listen beyond loopback without a secret', async (t) => {
    const file = await temporaryFile(t, 'Open.fbp', 'a(core/Repeat)\n');
    const result = await runCli(t, ['coordinator', '--graph', file, '--broker', amqpUrl(), '--host', '0.0.0.0', '--port', '0']);
    assert.equal(result.code, 1);
    assert.match(result.stderr.trim(), /^noflo-runtime-msgflo: --host 0\.0\.0\.0 is not loopback: give a --secret/);
  });
});
