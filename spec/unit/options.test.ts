import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '../../src/errors';
import { normalizeOptions } from '../../src/participant/options';

describe('participant options', () => {
  test('fills defaults', () => {
    const options = normalizeOptions({ name: 'repeat', graph: 'core/Repeat' }, {});
    assert.equal(options.prefetch, 1);
    assert.equal(options.broker, undefined);
    assert.equal(options.basedir, process.cwd());
    assert.deepEqual(options.deadletter, []);
    assert.deepEqual(options.iips, {});
    assert.equal(options.discoveryPeriod, 60);
    assert.equal(options.dedicatedNetwork, false);
    assert.equal(options.slowJob, undefined, 'slow jobs: from the median job');
  });

  test('takes the broker from MSGFLO_BROKER, then CLOUDAMQP_URL', () => {
    const base = { name: 'r', graph: 'core/Repeat' };
    assert.equal(normalizeOptions(base, { MSGFLO_BROKER: 'mqtt://a', CLOUDAMQP_URL: 'amqp://b' }).broker, 'mqtt://a');
    assert.equal(normalizeOptions(base, { CLOUDAMQP_URL: 'amqp://b' }).broker, 'amqp://b');
    assert.equal(normalizeOptions({ ...base, broker: 'amqp://c' }, { MSGFLO_BROKER: 'mqtt://a' }).broker, 'amqp://c');
  });

  test('reads the discovery period from MSGFLO_DISCOVERY_PERIOD', () => {
    assert.equal(normalizeOptions({ name: 'r', graph: 'g' }, { MSGFLO_DISCOVERY_PERIOD: '22' }).discoveryPeriod, 22);
    assert.throws(() => normalizeOptions({ name: 'r', graph: 'g' }, { MSGFLO_DISCOVERY_PERIOD: 'soon' }), /MSGFLO_DISCOVERY_PERIOD.*"soon"/);
  });

  test('replaces * in the name with a random string', () => {
    const a = normalizeOptions({ name: 'compute_*', graph: 'g' }, {}).name;
    const b = normalizeOptions({ name: 'compute_*', graph: 'g' }, {}).name;
    assert.match(a, /^compute_[0-9a-f]{8}$/);
    assert.notEqual(a, b);
  });

  test('applies --attr to nested options, with booleans', () => {
    const options = normalizeOptions(
      { name: 'r', graph: 'g', attr: ['inports.in.queue=my=queue', 'outports.error.hidden=true', 'prefetch=4'] },
      {},
    );
    assert.deepEqual(options.inports, { in: { queue: 'my=queue' } });
    assert.deepEqual(options.outports, { error: { hidden: true } });
    assert.equal(options.prefetch, 4);
  });

  test('splits --deadletter and parses --iips', () => {
    const options = normalizeOptions({ name: 'r', graph: 'g', deadletter: 'in, other', iips: '{"prefix": ">"}' }, {});
    assert.deepEqual(options.deadletter, ['in', 'other']);
    assert.deepEqual(options.iips, { prefix: '>' });
  });

  test('sends the extra discovery keys unless --attr discovery.extra=false', () => {
    assert.deepEqual(normalizeOptions({ name: 'r', graph: 'g' }, {}).discovery, { extra: true });
    assert.deepEqual(normalizeOptions({ name: 'r', graph: 'g', attr: ['discovery.extra=false'] }, {}).discovery, { extra: false });
    assert.deepEqual(normalizeOptions({ name: 'r', graph: 'g', attr: ['discovery.extra=true'] }, {}).discovery, { extra: true });
    assert.deepEqual(normalizeOptions({ name: 'r', graph: 'g', discovery: { extra: false } }, {}).discovery, { extra: false }, 'a participants file says it so');
  });

  const invalid: Array<[string, Parameters<typeof normalizeOptions>[0], RegExp]> = [
    ['a missing name', { name: '', graph: 'g' }, /missing --name/],
    ['a missing graph', { name: 'r', graph: '' }, /missing --graph/],
    ['a name with spaces', { name: 'a b', graph: 'g' }, /--name "a b"/],
    ['prefetch 0', { name: 'r', graph: 'g', prefetch: '0' }, /--prefetch "0"/],
    ['a slow-job threshold that is not a number', { name: 'r', graph: 'g', slowJob: 'soon' }, /--slow-job "soon"/],
    ['prefetch 1.5', { name: 'r', graph: 'g', prefetch: 1.5 }, /--prefetch "1.5"/],
    ['iips that are not JSON', { name: 'r', graph: 'g', iips: '{nope' }, /--iips "\{nope": not JSON/],
    ['iips that are not an object', { name: 'r', graph: 'g', iips: '[1]' }, /--iips "\[1\]": expected a JSON object/],
    ['an attr without =', { name: 'r', graph: 'g', attr: ['inports.in.queue'] }, /--attr "inports.in.queue"/],
    ['an attr of an unknown option', { name: 'r', graph: 'g', attr: ['colour=red'] }, /unknown option "colour"/],
    ['an unknown port setting', { name: 'r', graph: 'g', attr: ['inports.in.colour=red'] }, /inports.in.colour/],
    ['a protocol port out of range', { name: 'r', graph: 'g', protocolPort: '70000' }, /--protocol-port "70000"/],
    ['a protocol-full that is not a boolean', { name: 'r', graph: 'g', attr: ['protocolFull=yes'] }, /--protocol-full "yes"/],
    ['a non-boolean hidden', { name: 'r', graph: 'g', attr: ['inports.in.hidden=maybe'] }, /inports.in.hidden "maybe"/],
    ['a discovery.extra that is not a boolean', { name: 'r', graph: 'g', attr: ['discovery.extra=no'] }, /^invalid discovery.extra "no": expected true or false$/],
    ['an unknown discovery setting', { name: 'r', graph: 'g', attr: ['discovery.keys=7'] }, /^invalid discovery.keys: unknown discovery setting \(known: extra\)$/],
    ['a discovery that is not an object', { name: 'r', graph: 'g', attr: ['discovery=false'] }, /^invalid discovery: expected an object like \{"extra": false\} \(--attr discovery.extra=false\), got a boolean$/],
  ];
  for (const [what, input, message] of invalid) {
    test(`rejects ${what}`, () => {
      assert.throws(() => normalizeOptions(input, {}), (err: unknown) => err instanceof InvalidOptionError && message.test(err.message));
    });
  }
});
