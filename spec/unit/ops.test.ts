/**
 * The operations helpers that need no broker: credential scrubbing, job log
 * lines, the status table, readiness and the HTTP endpoint.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jobReporter, readableReason, SHOWN_REASON_LENGTH } from '../../src/cli/ops';
import { ParticipantHealth } from '../../src/ops/health';
import { serveOps } from '../../src/ops/http';
import { jobLogLine } from '../../src/ops/job-log';
import { scrubCredentials } from '../../src/ops/redact';
import { formatStatus } from '../../src/ops/status-table';

describe('operations helpers', () => {
  test('credentials in URLs are masked, user names kept', () => {
    assert.equal(scrubCredentials('cannot reach amqp://bob:s3cret@host:5672/vh: refused'), 'cannot reach amqp://bob:***@host:5672/vh: refused');
    assert.equal(scrubCredentials('mqtts://:token@h and amqp://h'), 'mqtts://:***@h and amqp://h');
  });

  test('a job log line is one JSON object with what a log pipeline needs', () => {
    const line = jobLogLine({ role: 'r', port: 'in', outcome: 'nack', reason: 'publish to amqp://u:p@h failed', duration: 12, id: 'job-1' }, new Date(0));
    assert.deepEqual(JSON.parse(line), {
      time: '1970-01-01T00:00:00.000Z',
      event: 'job',
      role: 'r',
      port: 'in',
      job: 'job-1',
      outcome: 'nack',
      duration_ms: 12,
      reason: 'publish to amqp://u:***@h failed',
    });
    assert.equal(JSON.parse(jobLogLine({ role: 'r', port: 'in', outcome: 'ack', duration: 1 })).job, null);
  });

  test('the status table shows a missing queue as "-" and leaves depths out when there are none', () => {
    const definition = { id: 'r-1', role: 'r', component: 'core/Repeat', inports: [{ id: 'in', type: 'all', queue: 'r.IN' }], outports: [{ id: 'out', type: 'all', queue: 'r.OUT' }] };
    const withDepths = formatStatus([definition], new Map([['r.IN', { messages: 4, consumers: 2 }]]));
    assert.deepEqual(withDepths[1]?.split(/\s{2,}/), ['r', 'core/Repeat', '1', 'in in', 'r.IN', '4', '2', '-']);
    const without = formatStatus([definition], undefined);
    assert.deepEqual(without[0]?.split(/\s{2,}/), ['ROLE', 'COMPONENT', 'PARTICIPANTS', 'PORT', 'QUEUE']);
    assert.deepEqual(without.slice(-1)[0]?.split(/\s{2,}/), ['r-1', 'r', 'core/Repeat']);
  });

  test('readiness: starting, then ready, then shutting down', () => {
    const health = new ParticipantHealth();
    assert.deepEqual(health.readiness(), { ready: false, reasons: ['starting participants'] });
    health.startedAll();
    assert.deepEqual(health.readiness(), { ready: false, reasons: ['no participant running'] });
    assert.equal(new ParticipantHealth(false).readiness().reasons[0], 'starting participants');
    const coordinator = new ParticipantHealth(false);
    coordinator.startedAll();
    assert.equal(coordinator.readiness().ready, true);
    coordinator.stop();
    assert.deepEqual(coordinator.readiness(), { ready: false, reasons: ['shutting down'] });
  });

  test('the endpoint serves metrics, health and 503 with reasons, on loopback by default', async (t) => {
    let ready = false;
    const endpoint = await serveOps({
      host: '127.0.0.1',
      port: 0,
      metrics: async () => 'm 1\n',
      readiness: () => ({ ready, reasons: ready ? [] : ['a: not connected to amqp://u:pw@h'] }),
    });
    t.after(() => endpoint.close());
    assert.match(endpoint.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await fetch(`${endpoint.url}/metrics`);
    assert.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(await metrics.text(), 'm 1\n');
    assert.equal((await fetch(`${endpoint.url}/healthz`)).status, 200);
    const notReady = await fetch(`${endpoint.url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.equal(await notReady.text(), 'not ready: a: not connected to amqp://u:***@h\n');
    ready = true;
    assert.equal((await fetch(`${endpoint.url}/readyz`)).status, 200);
    assert.equal((await fetch(`${endpoint.url}/nothing`)).status, 404);
    assert.equal((await fetch(`${endpoint.url}/metrics`, { method: 'POST' })).status, 405);
  });
});

describe("a failed job's reason on a warning line", () => {
  const where = 'the full reason is in the dead letter';

  test('one short line is shown whole', () => {
    assert.equal(readableReason('node "main" failed: rejected', where), 'node "main" failed: rejected');
    assert.equal(readableReason('  rejected\n', where), 'rejected', 'surrounding blanks are not counted');
  });

  test('of several lines, the first is shown, and how much more there is', () => {
    assert.equal(readableReason('rejected\n  at x (a.js:1:1)', where), `rejected… (18 more characters; ${where})`);
    assert.equal(readableReason('rejected\nx', where), `rejected… (2 more characters; ${where})`);
    assert.equal(readableReason('rejected \n', where), 'rejected');
  });

  test('a long first line is cut to the limit', () => {
    const reason = 'x'.repeat(SHOWN_REASON_LENGTH + 1);
    assert.equal(SHOWN_REASON_LENGTH, 200);
    assert.equal(readableReason(reason, where), `${'x'.repeat(200)}… (1 more character; ${where})`);
    assert.equal(readableReason('abcdef', where, 3), `abc… (3 more characters; ${where})`);
    assert.equal(readableReason('x'.repeat(200), where), 'x'.repeat(200), 'exactly the limit is whole');
  });

  test('a broker password in the reason is masked on the warning line, as in the JSON log', (t) => {
    const written: string[] = [];
    t.mock.method(process.stderr, 'write', (chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const report = jobReporter('text');
    report({ role: 'r', port: 'in', outcome: 'nack', duration: 1, reason: 'publish to amqp://worker:s3cret@rabbit/%2F failed' });
    report({ role: 'r', port: 'in', outcome: 'ack', duration: 1 });
    t.mock.restoreAll();
    assert.deepEqual(written, ['noflo-runtime-msgflo: job on r port in failed: publish to amqp://worker:***@rabbit/%2F failed\n']);
  });

  test('a character of two UTF-16 units is not cut in half', () => {
    assert.equal(readableReason('ab😀cd', where, 3), `ab… (4 more characters; ${where})`);
  });
});
