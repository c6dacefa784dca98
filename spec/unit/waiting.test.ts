/**
 * The waiting notices of a transport at start: said after a failed pass over
 * the broker's nodes, at once and then every few seconds, never after the
 * connect timeout, with a short reason and the password masked.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { BrokerError } from '../../src/errors';
import { createTransport } from '../../src/transport';
import { shortReason, WAITING_NOTICE_INTERVAL_MS, WaitingNotices, type WaitingNotice } from '../../src/transport/waiting';

/** A loopback port nothing listens on (taken, then given back). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('WaitingNotices', () => {
  test('says the first failure at once, then once per interval, and nothing once the time is up', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 0 });
    const said: WaitingNotice[] = [];
    const notices = new WaitingNotices(12_000, (notice) => said.push(notice));
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    notices.failed('amqp://u:***@h:1', refused);
    for (const at of [100, 2000, WAITING_NOTICE_INTERVAL_MS - 1, WAITING_NOTICE_INTERVAL_MS, 7000, 11_000, 12_000]) {
      t.mock.timers.setTime(at);
      notices.failed('amqp://u:***@h:1', refused);
    }
    assert.deepEqual(
      said.map((notice) => notice.elapsedMs),
      [0, WAITING_NOTICE_INTERVAL_MS, 11_000],
    );
    assert.deepEqual(said[0], { url: 'amqp://u:***@h:1', reason: 'ECONNREFUSED', elapsedMs: 0, timeoutMs: 12_000 });
  });

  test('a short reason: the system error code, else the message', () => {
    assert.equal(shortReason(Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' })), 'ECONNREFUSED');
    assert.equal(shortReason(new Error('self-signed certificate in certificate chain')), 'self-signed certificate in certificate chain');
    assert.equal(shortReason(new AggregateError([], '')), 'connection failed');
  });
});

describe('a transport waiting for its broker at start', () => {
  for (const scheme of ['amqp', 'mqtt'] as const) {
    test(`${scheme}: emits 'waiting' after each failed pass over the list, then gives up at the connect timeout`, async () => {
      const [a, b] = [await closedPort(), await closedPort()];
      const transport = createTransport(`${scheme}://u:s3cret@127.0.0.1:${a},${scheme}://u:s3cret@127.0.0.1:${b}`, { connectTimeoutMs: 1500 });
      const said: WaitingNotice[] = [];
      transport.on('waiting', (notice) => said.push(notice));
      const started = Date.now();
      await assert.rejects(transport.connect(), (err: unknown) => err instanceof BrokerError && /ECONNREFUSED/.test(err.message));
      const elapsed = Date.now() - started;
      await transport.close();
      assert.ok(elapsed >= 1500 && elapsed < 10_000, `gave up after ${elapsed} ms`);
      // Said once in 1.5 s: the first pass (both nodes) failed at once.
      assert.equal(said.length, 1, JSON.stringify(said));
      const [notice] = said;
      assert.equal(notice?.reason, 'ECONNREFUSED');
      assert.equal(notice?.timeoutMs, 1500);
      assert.ok((notice?.elapsedMs ?? Infinity) < 1000, `said at once: ${notice?.elapsedMs} ms`);
      assert.match(notice?.url ?? '', new RegExp(`^${scheme}://u:\\*\\*\\*@127\\.0\\.0\\.1:(${a}|${b})$`));
    });
  }
});
