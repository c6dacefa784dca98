import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { AMQP_USE, CLUSTER_USE, MQTT_USE, uses } from './needs';

/** dist/spec */
const SPEC_DIR = path.resolve(__dirname, '..');
const compiled = (name: string): string => path.join(SPEC_DIR, name);

const needs = (file: string): string[] =>
  [
    ['amqp', AMQP_USE],
    ['mqtt', MQTT_USE],
    ['cluster', CLUSTER_USE],
  ].flatMap(([name, use]) => (uses([compiled(file)], use as RegExp) ? [name as string] : []));

test('a unit test file needs no broker, nor does this one', () => {
  assert.deepEqual(needs('harness/needs.test.js'), []);
  assert.deepEqual(needs('unit/waiting.test.js'), []);
  assert.deepEqual(needs('unit/jobs.test.js'), []);
});

test('a file testing on both protocols needs RabbitMQ and Mosquitto, not the cluster', () => {
  assert.deepEqual(needs('integration/jobs.test.js'), ['amqp', 'mqtt']);
});

test('the cluster fault tests need the cluster', () => {
  assert.ok(needs('faults/cluster.test.js').includes('cluster'));
});

test('a use is found through the local modules a file loads, transitively', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'needs-'));
  try {
    fs.writeFileSync(path.join(dir, 'a.test.js'), 'const b = require("./b");\n');
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.writeFileSync(path.join(dir, 'b.js'), 'const c = require("./lib");\n');
    // Names spelt in pieces, so that this file itself needs no broker.
    fs.writeFileSync(path.join(dir, 'lib', 'index.js'), `const url = (0, env_1.${'mqtt'}Url)();\n`);
    assert.equal(uses([path.join(dir, 'a.test.js')], MQTT_USE), true);
    assert.equal(uses([path.join(dir, 'a.test.js')], AMQP_USE), false);
    // The variable of the cluster is not the single RabbitMQ's.
    fs.writeFileSync(path.join(dir, 'lib', 'index.js'), `process.env.${'NOFLO_MSGFLO_TEST_'}AMQP_CLUSTER;\n`);
    assert.equal(uses([path.join(dir, 'a.test.js')], AMQP_USE), false);
    assert.equal(uses([path.join(dir, 'a.test.js')], CLUSTER_USE), true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
