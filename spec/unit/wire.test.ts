import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BrokerUrlError } from '../../src/errors';
import { decode, decodeWithin, encode, reuseBody } from '../../src/protocol/codec';
import { DISCOVERY_KEYS, defaultQueueName, discoveryMessage, plainDiscoveryMessage, resolvePort, type ParticipantDefinition } from '../../src/protocol/definition';
import { createTransport, parseBrokerUrl, redactUrl } from '../../src/transport';

describe('broker URLs', () => {
  test('select the transport by scheme', () => {
    assert.equal(createTransport('amqp://localhost').protocol, 'amqp');
    assert.equal(createTransport('amqps://host:5671/vhost').protocol, 'amqp');
    assert.equal(createTransport('mqtt://localhost').protocol, 'mqtt');
    assert.equal(createTransport('mqtts://localhost:8883').protocol, 'mqtt');
    assert.equal(createTransport('memory://unit').protocol, 'memory');
  });

  test('reject unknown schemes, naming the supported ones', () => {
    assert.throws(() => parseBrokerUrl('ftp://host'), (err: unknown) => err instanceof BrokerUrlError && /"ftp:".*amqp:\/\/, amqps:\/\/, mqtt:\/\/, mqtts:\/\//.test(err.message));
  });

  test('reject malformed URLs without printing credentials', () => {
    assert.throws(
      () => parseBrokerUrl('amqp://user:s3cret@'),
      (err: unknown) => err instanceof BrokerUrlError && !err.message.includes('s3cret') && /invalid broker URL/.test(err.message),
    );
    assert.throws(() => parseBrokerUrl('not a url'), (err: unknown) => err instanceof BrokerUrlError && /not a URL/.test(err.message));
  });

  test('are printed without passwords', () => {
    assert.equal(redactUrl('amqp://guest:s3cret@rabbit:5672/vh'), 'amqp://guest:***@rabbit:5672/vh');
    assert.equal(redactUrl('mqtt://localhost:1883'), 'mqtt://localhost:1883');
    assert.ok(!redactUrl('amqp://u:s3cret@').includes('s3cret'));
    assert.equal(redactUrl('amqp//u:s3cret@host'), 'amqp//u:***@host');
  });
});

describe('message bodies', () => {
  test('are JSON both ways, falsy values included', () => {
    for (const value of [0, false, '', null, 'text', { a: [1, { b: true }] }, [1, 2]]) {
      assert.deepEqual(decode(encode(value)), value);
    }
  });

  test('that are not JSON decode as text', () => {
    assert.equal(decode(Buffer.from('not json {')), 'not json {');
    assert.equal(decode(Buffer.from('')), '');
  });

  test('carry errors as name and message, undefined as null', () => {
    assert.equal(encode(new TypeError('bad')).toString(), '{"name":"TypeError","message":"bad"}');
    assert.equal(encode(undefined).toString(), 'null');
  });

  test('an output equal to its JSON string input is sent as the input body', () => {
    const limits = { maxBytes: 1000, maxDepth: 10 };
    const body = Buffer.from(' "caf\\u00e9 \\/" ');
    const decoded = decodeWithin(body, limits);
    assert.ok(decoded.ok && decoded.jsonString);
    const input = decoded.data as string;
    assert.equal(input, 'café /');
    assert.equal(encode(reuseBody(input, input, body)), body);
    assert.equal(encode(reuseBody(`${input}!`, input, body)).toString(), '"café /!"');
    // Not a string, not JSON, not UTF-8: encoded again.
    for (const text of ['{"a":1}', '1.0', 'not json', '"unterminated']) {
      const other = decodeWithin(Buffer.from(text), limits);
      assert.ok(other.ok && !other.jsonString, text);
    }
    const invalid = Buffer.from([0x22, 0xff, 0x22]);
    const replaced = decodeWithin(invalid, limits);
    assert.ok(replaced.ok && replaced.jsonString);
    assert.equal(encode(reuseBody(replaced.data, replaced.data as string, invalid)).toString(), '"\ufffd"');
  });
});

describe('participant definitions', () => {
  test('default queue is role.PORT', () => {
    assert.equal(defaultQueueName('repeat', 'in'), 'repeat.IN');
  });

  test('a port takes its override, and a hidden one has no queue', () => {
    assert.deepEqual(resolvePort('r', { id: 'in', type: 'all' }, undefined), { id: 'in', type: 'all', queue: 'r.IN' });
    assert.deepEqual(resolvePort('r', { id: 'in', type: 'all' }, { queue: 'q' }), { id: 'in', type: 'all', queue: 'q' });
    assert.deepEqual(resolvePort('r', { id: 'in', type: 'all' }, { hidden: true, queue: 'q' }), { id: 'in', type: 'all', hidden: true });
  });

  test('discovery leaves hidden ports out', () => {
    const message = discoveryMessage({
      id: 'r-1',
      role: 'r',
      component: 'c',
      inports: [{ id: 'in', type: 'all', queue: 'r.IN' }, { id: 'secret', type: 'all', hidden: true }],
      outports: [],
    });
    assert.deepEqual(message, {
      protocol: 'discovery',
      command: 'participant',
      payload: { id: 'r-1', role: 'r', component: 'c', inports: [{ id: 'in', type: 'all', queue: 'r.IN' }], outports: [] },
    });
  });

  const ours: ParticipantDefinition = {
    id: 'r-1',
    role: 'r',
    component: 'c',
    inports: [{ id: 'in', type: 'all', queue: 'r.IN' }, { id: 'secret', type: 'all', hidden: true }],
    outports: [{ id: 'out', type: 'string', queue: 'r.OUT', description: 'Out' }],
    type: 'noflo-nodejs',
    version: '0.7',
    inqueue: '.fbp.r-1.receive',
    outqueue: '.fbp.r-1.send',
    started: 5,
  };

  test('the plain discovery message has the seven keys every participant sends, and nothing else', () => {
    assert.deepEqual([...DISCOVERY_KEYS].sort(), ['component', 'icon', 'id', 'inports', 'label', 'outports', 'role']);
    const plain = plainDiscoveryMessage({ ...ours, metrics: 'http://h:1/metrics' } as ParticipantDefinition);
    assert.deepEqual(Object.keys(plain).sort(), ['command', 'payload', 'protocol'], 'no time');
    assert.deepEqual(Object.keys(plain.payload).sort(), [...DISCOVERY_KEYS].sort());
    assert.deepEqual(plain.payload, {
      id: 'r-1',
      role: 'r',
      component: 'c',
      label: '',
      icon: '',
      inports: [{ id: 'in', type: 'all', queue: 'r.IN' }],
      outports: [{ id: 'out', type: 'string', queue: 'r.OUT', description: 'Out' }],
    });
    assert.deepEqual(plainDiscoveryMessage({ ...ours, label: 'Repeats', icon: 'copy' }).payload.label, 'Repeats');
    assert.deepEqual(plainDiscoveryMessage({ ...ours, label: 'Repeats', icon: 'copy' }).payload.icon, 'copy');
  });

  test('the full discovery message keeps the keys of ours', () => {
    const message = discoveryMessage(ours, 7);
    assert.deepEqual(Object.keys(message).sort(), ['command', 'payload', 'protocol', 'time']);
    assert.deepEqual(Object.keys(message.payload).sort(), ['component', 'id', 'inports', 'inqueue', 'outports', 'outqueue', 'role', 'started', 'type', 'version']);
  });
});
