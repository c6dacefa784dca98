/**
 * Many participants in one process, on the real brokers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Host } from '../../src/host/host';
import { connectClient, uniqueRole } from '../harness/client';
import { runCli, startCli } from '../harness/cli';
import { brokerUrls } from '../harness/env';
import { FIXTURES } from '../harness/participants';
import { temporaryFile } from '../harness/files';
import { eventually } from '../harness/wait';

for (const broker of brokerUrls()) {
  describe(`one process, many participants, on ${broker.kind}`, () => {
    test('each announces itself, answers its own queues, fails alone, and can be removed', async (t) => {
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const [a, b, c, d] = [uniqueRole('a'), uniqueRole('b'), uniqueRole('c'), uniqueRole('d')];
      const announced = await Promise.all([a, b, c, d].map((role) => peer.discovery(role)));
      const host = new Host({ broker: broker.url, basedir: FIXTURES, discoveryPeriod: 0.5, deadletter: '*' }, {});
      t.after(() => host.stop());
      await host.add({ name: a, graph: 'core/Repeat' });
      await host.add({ name: b, graph: 'fixtures/Prefixed', iips: { prefix: 'b:' } });
      await host.add({ name: c, graph: 'fixtures/Prefixed', iips: { prefix: 'c:' }, prefetch: 4 });
      await host.add({ name: d, graph: 'fixtures/Throw' });

      const definitions = host.list();
      assert.deepEqual(definitions.map((def) => def.role), [a, b, c, d]);
      assert.equal(new Set(definitions.map((def) => def.id)).size, 4, 'every participant its own id');
      for (const [index, collector] of announced.entries()) {
        const [message] = (await collector.waitFor(1)) as Array<{ payload: { id: string } }>;
        assert.equal(message?.payload.id, definitions[index]?.id);
      }

      const outs = await Promise.all([a, b, c, d].map((role) => peer.listen(`${role}.OUT`)));
      const dead = await peer.drain(`dead-${d}.IN`);
      await peer.send(`${d}.IN`, '{"throw": "d fails alone"}');
      await peer.send(`${d}.IN`, '{"fail": "and again"}');
      await peer.send(`${a}.IN`, '"to a"');
      await peer.send(`${b}.IN`, '"to b"');
      await peer.send(`${c}.IN`, '"to c"');
      await peer.send(`${d}.IN`, '"d still works"');
      assert.deepEqual(await outs[0]?.waitFor(1), ['to a']);
      assert.deepEqual(await outs[1]?.waitFor(1), ['b:to b']);
      assert.deepEqual(await outs[2]?.waitFor(1), ['c:to c']);
      assert.deepEqual(await outs[3]?.waitFor(1), ['d still works']);
      assert.equal((await dead.waitFor(2)).length, 2);

      // Removing one at run time: no more consumption, no more discovery.
      assert.equal(await host.remove(a), 1);
      const count = announced[0]?.bodies.length ?? 0;
      await peer.send(`${a}.IN`, '"nobody home"');
      await peer.send(`${b}.IN`, '"b goes on"');
      assert.deepEqual(await outs[1]?.waitFor(2), ['b:to b', 'b:b goes on']);
      const before = announced[1]?.bodies.length ?? 0;
      await eventually(() => (announced[1]?.bodies.length ?? 0) > before + 1, 'b announced again');
      assert.equal(announced[0]?.bodies.length, count, `${a} is no longer announced`);
      assert.deepEqual(outs[0]?.messages, ['to a'], `${a} consumes no more`);
    });
  });
}

describe('command line hosting many participants', () => {
  const [broker] = brokerUrls();
  const url = broker?.url as string;

  test('--system hosts the NoFlo nodes of a system graph with its IIPs, and lists the rest', async (t) => {
    const runtime = startCli(t, ['--system', 'systems/Chain.fbp', '--basedir', FIXTURES, '--broker', url]);
    await runtime.waitForStderr(/hosting 2 participants/);
    assert.match(runtime.stderr, /left alone: split \(msgflo\/RoundRobin\): a round-robin binding/);
    assert.match(runtime.stderr, /left alone: worker \(python\/Worker\): no NoFlo component of that name here/);
    assert.match(runtime.stderr, /prefixer-[0-9a-f-]+ \(fixtures\/Prefix\) is running/);
    assert.match(runtime.stderr, /repeater-[0-9a-f-]+ \(core\/Repeat\) is running/);
    const peer = await connectClient('amqp', url);
    t.after(() => peer.close());
    const out = await peer.listen('prefixer.OUT');
    await peer.send('prefixer.IN', '"chain"');
    assert.deepEqual(await out.waitFor(1), ['sys:chain'], 'the system graph\'s IIP reached its node');
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('--participants: one that cannot start stops the start, unless --keep-going', async (t) => {
    const good = uniqueRole('good');
    const file = await temporaryFile(t, 'participants.json', JSON.stringify([{ name: good, graph: 'core/Repeat' }, { name: 'broken', graph: 'fixtures/Nope' }]));

    const strict = await runCli(t, ['--participants', file, '--basedir', FIXTURES, '--broker', url]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /cannot start participant "broken" \(fixtures\/Nope\)/);
    assert.match(strict.stderr, /1 participant could not start; --keep-going runs the others/);

    const lenient = startCli(t, ['--participants', file, '--basedir', FIXTURES, '--broker', url, '--keep-going']);
    await lenient.waitForStderr(/hosting 1 participant, 1 could not start/);
    const peer = await connectClient('amqp', url);
    t.after(() => peer.close());
    const out = await peer.listen(`${good}.OUT`);
    await peer.send(`${good}.IN`, '"kept going"');
    assert.deepEqual(await out.waitFor(1), ['kept going']);
    lenient.child.kill('SIGTERM');
    assert.equal((await lenient.exited).code, 0);
  });

  test('an exception thrown later by one participant fails its job only; the others answer', async (t) => {
    const [thrower, repeater] = [uniqueRole('thrower'), uniqueRole('repeater')];
    const file = await temporaryFile(t, 'participants.json', JSON.stringify([{ name: thrower, graph: 'fixtures/Throw', deadletter: '*' }, { name: repeater, graph: 'core/Repeat' }]));
    const runtime = startCli(t, ['--participants', file, '--basedir', FIXTURES, '--broker', url]);
    await runtime.waitForStderr(/hosting 2 participants/);
    const peer = await connectClient('amqp', url);
    t.after(() => peer.close());
    const dead = await peer.drain(`dead-${thrower}.IN`);
    const out = await peer.listen(`${repeater}.OUT`);
    await peer.send(`${thrower}.IN`, '{"later": "from a timer"}');
    await peer.send(`${repeater}.IN`, '"unaffected"');
    assert.deepEqual(await out.waitFor(1), ['unaffected']);
    await dead.waitFor(1);
    assert.equal(dead.headers[0]?.['x-msgflo-error'], 'from a timer');
    assert.equal(runtime.child.exitCode, null);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('--name with --participants is refused with one line', async (t) => {
    const result = await runCli(t, ['--participants', 'x.json', '--name', 'r']);
    assert.equal(result.code, 1);
    assert.match(result.stderr.trim(), /^noflo-runtime-msgflo: --name and --graph are for one participant/);
  });
});
