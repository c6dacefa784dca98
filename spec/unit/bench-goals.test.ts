import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuSeconds } from '../../bench/processes';
import { goals, missed } from '../../bench/tables';
import type { Point, PointResult, ProcessResult, Variant } from '../../bench/throughput';

const point: Point = { protocol: 'amqp', prefetch: 50, inFlight: 50, size: 100 };

function run(variant: Variant, rates: number[], cpuMicros: number): PointResult {
  const answered = 1000;
  const perSecond = rates.reduce((a, b) => a + b, 0) / rates.length;
  return { point, variant, answered, seconds: answered / perSecond, perSecond, p50: 0.5, p99: 2, lost: 0, duplicated: 0, sent: answered, latencies: [], cpuSeconds: (cpuMicros * answered) / 1e6, rates };
}

const process_ = (variant: Variant, residentMegabytes: number, discoverySeconds: number | undefined): ProcessResult => ({
  protocol: 'amqp',
  variant,
  prefetch: 50,
  discoverySeconds,
  answerSeconds: 1,
  residentMegabytes,
  memoryMessages: 10_000,
});

test('cpuSeconds reads the CPU time a process has used, every thread, from /proc', () => {
  const before = cpuSeconds(process.pid);
  const until = Date.now() + 150;
  while (Date.now() < until) {
    // busy
  }
  const used = cpuSeconds(process.pid) - before;
  assert.ok(used >= 0.1 && used < 1, `used ${used} s of CPU in a 150 ms busy loop`);
  assert.equal(cpuSeconds(2 ** 30), 0, 'a process that does not exist has used none');
});

test('the throughput goal compares the medians of the rounds: one slow round does not miss it', () => {
  const lines = goals({ points: [run('ours', [950, 960, 100], 30), run('floor', [1000, 1000, 1000], 30)], processes: [], soak: [] });
  assert.match(lines.find((l) => l.includes("floor's throughput")) ?? '', /: met$/);
});

test('ours below 0.90 of the floor, or above 1.15x its CPU per message, is missed and named', () => {
  const lines = goals({ points: [run('ours', [850, 860, 870], 40), run('floor', [1000, 1000, 1000], 30)], processes: [], soak: [] });
  const misses = missed(lines);
  assert.equal(misses.length, 2, lines.join('\n'));
  assert.match(misses[0] ?? '', /MISSED at amqp prefetch 50, 50 in flight, 100 B \(0\.86\)/);
  assert.match(misses[1] ?? '', /CPU per message .*MISSED at amqp prefetch 50, 50 in flight, 100 B \(1\.33x\)/);
});

test('one participant is compared with the original: memory after the same messages, start-up to discovery', () => {
  const lines = goals({ points: [], processes: [process_('ours', 120, 0.5), process_('original', 100, 0.4)], soak: [] });
  assert.deepEqual(
    missed(lines).map((l) => l.replace(/:.*/, '')),
    ['goal', 'goal'],
  );
  assert.match(lines[0] ?? '', /120 MB against 100 MB, MISSED/);
  assert.match(lines[1] ?? '', /0\.50 s against 0\.40 s, MISSED/);
  const better = goals({ points: [], processes: [process_('ours', 90, 0.3), process_('original', 100, 0.4)], soak: [] });
  assert.deepEqual(missed(better), []);
});
