import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '../../src/errors';
import { Host, ParticipantStartError } from '../../src/host/host';
import { parseManifest } from '../../src/host/manifest';
import { TransportPool } from '../../src/host/pool';
import { planSystem } from '../../src/host/system';
import { createComponentLoader } from '../../src/runtime/graph-source';
import { createTransport, memoryBroker } from '../../src/transport';
import { FIXTURES } from '../harness/participants';
import { eventually } from '../harness/wait';

describe('participants file', () => {
  test('takes an array of participant options', () => {
    const entries = parseManifest([{ name: 'a', graph: 'core/Repeat', prefetch: 4, iips: { x: 1 } }, { name: 'b', graph: 'g.fbp' }], 'p.json');
    assert.deepEqual(entries.map((e) => e.name), ['a', 'b']);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['not an array', { name: 'a' }, /"p.json": expected a non-empty JSON array/],
    ['an empty array', [], /non-empty/],
    ['an entry that is not an object', ['core/Repeat'], /entry 1: expected an object/],
    ['an entry without a name', [{ graph: 'core/Repeat' }], /entry 1: "name" is required/],
    ['an entry with an unknown key', [{ name: 'a', graph: 'g' }, { name: 'b', graph: 'g', colour: 'red' }], /entry 2: unknown option "colour"/],
  ];
  for (const [what, entries, message] of bad) {
    test(`refuses ${what}`, () => {
      assert.throws(() => parseManifest(entries, 'p.json'), (err: unknown) => err instanceof InvalidOptionError && message.test(err.message));
    });
  }
});

describe('system graph', () => {
  test('hosts the nodes NoFlo can load, with their IIPs, and leaves the rest alone', async () => {
    const loader = await createComponentLoader(FIXTURES);
    const plan = await planSystem('systems/Chain.fbp', loader, FIXTURES);
    const byName = [...plan.participants].sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(byName, [
      { name: 'prefixer', graph: 'fixtures/Prefix', iips: { prefix: 'sys:' } },
      { name: 'repeater', graph: 'core/Repeat', iips: {} },
    ]);
    assert.deepEqual(plan.leftAlone.map((n) => [n.node, n.component]).sort(), [['split', 'msgflo/RoundRobin'], ['worker', 'python/Worker']]);
  });
});

describe('transport pool', () => {
  test('shares one connection per broker URL and closes it with the last lease', async () => {
    let created = 0;
    let closed = 0;
    const pool = new TransportPool((url, options) => {
      created += 1;
      const transport = createTransport(url, options);
      const close = transport.close.bind(transport);
      transport.close = async () => {
        closed += 1;
        await close();
      };
      return transport;
    });
    const a = pool.lease('memory://pool-a', {});
    const b = pool.lease('memory://pool-a', {});
    const c = pool.lease('memory://pool-b', {});
    await Promise.all([a.connect(), b.connect(), c.connect()]);
    assert.equal(created, 2);
    await a.close();
    await a.close();
    assert.equal(closed, 0, 'b still uses it');
    await b.close();
    assert.equal(closed, 1);
    await c.close();
    assert.equal(closed, 2);
    assert.equal(pool.size, 0);
  });
});

describe('host (in-process transport)', () => {
  test('runs participants side by side, adds and removes them at run time', async (t) => {
    const broker = `memory://${randomBytes(4).toString('hex')}`;
    const host = new Host({ broker, basedir: FIXTURES }, {});
    t.after(() => host.stop());
    await host.add({ name: 'one', graph: 'core/Repeat' });
    await host.add({ name: 'two', graph: 'fixtures/Prefixed', iips: { prefix: '2:' } });
    assert.deepEqual(host.list().map((d) => d.role), ['one', 'two']);
    const peer = createTransport(broker);
    const outputs: unknown[] = [];
    await peer.tap('one.OUT', (d) => outputs.push(['one', d]));
    await peer.tap('two.OUT', (d) => outputs.push(['two', d]));
    await peer.send('inqueue', 'one.IN', 'x');
    await peer.send('inqueue', 'two.IN', 'y');
    await eventually(() => outputs.length === 2, 'two answers');
    assert.deepEqual(outputs.sort(), [['one', 'x'], ['two', '2:y']]);

    assert.equal(await host.remove('one'), 1);
    assert.deepEqual(host.list().map((d) => d.role), ['two']);
    await peer.send('inqueue', 'one.IN', 'unanswered');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(outputs.length, 2, 'a removed participant consumes no more');
    assert.equal(memoryBroker(broker.slice('memory://'.length)).depth('one.IN'), 1, 'its message waits in the queue');
  });

  test('names the participant that cannot start', async (t) => {
    const host = new Host({ broker: 'memory://host-fail', basedir: FIXTURES }, {});
    t.after(() => host.stop());
    await assert.rejects(host.add({ name: 'broken', graph: 'fixtures/Nope' }), (err: unknown) => err instanceof ParticipantStartError && err.role === 'broken' && /participant "broken" \(fixtures\/Nope\): graph "fixtures\/Nope" not found/.test(err.message));
    await host.add({ name: 'fine', graph: 'core/Repeat' });
    assert.deepEqual(host.list().map((d) => d.role), ['fine']);
  });
});
