/**
 * `once`, the loader of modules at their first use.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { once } from '../../src/lazy';

test('once calls its loader at the first call only, and returns its result every time', () => {
  let calls = 0;
  const load = once(() => ({ loaded: (calls += 1) }));
  assert.equal(calls, 0, 'nothing loaded before the first call');
  const first = load();
  assert.equal(load(), first);
  assert.deepEqual(first, { loaded: 1 });
  assert.equal(calls, 1);
});

test('once keeps an undefined result, and retries a loader that threw', () => {
  let calls = 0;
  const nothing = once(() => {
    calls += 1;
  });
  nothing();
  nothing();
  assert.equal(calls, 1, 'undefined is a result too');
  let failing = true;
  const flaky = once(() => {
    if (failing) {
      throw new Error('not there');
    }
    return 'there';
  });
  assert.throws(flaky, /^Error: not there$/);
  failing = false;
  assert.equal(flaky(), 'there');
});
