/**
 * The coordinator's live page, in a real browser: a three-role system on
 * the real broker, every role and edge drawn, counts that move when messages
 * flow, and a screenshot to look at.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { launchChromium, TEST_OUTPUT } from '../harness/browser';
import { startCli } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { brokerUrls } from '../harness/env';
import { temporaryFile } from '../harness/files';
import { SYSTEM_METRIC_NAMES } from '../../src/ops/system-endpoint';
import { endpointFrom, get, pollUntil, sample } from '../harness/metrics';
import { FIXTURES } from '../harness/participants';

/** Poll `condition` until it holds; fail naming `what` after `timeoutMs`. */
async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (const broker of brokerUrls()) {
  describe(`the live system page on ${broker.kind}`, () => {
    test('draws every role and edge of a running system, and its counts move', async (t) => {
      const [a, b, c, rr] = [uniqueRole('front'), uniqueRole('middle'), uniqueRole('back'), uniqueRole('split')];
      const graph = await temporaryFile(
        t,
        'System.fbp',
        [`${a}(fixtures/Fail) OUT -> IN ${b}(core/Repeat)`, `${b} OUT -> IN ${rr}(msgflo/RoundRobin)`, `${rr} OUT -> IN ${c}(core/Repeat)`, ''].join('\n'),
      );
      const env = { MSGFLO_BROKER: broker.url, MSGFLO_DISCOVERY_PERIOD: '2' };
      const participants = startCli(t, ['--system', graph, '--basedir', FIXTURES, '--deadletter', '*', '--http-port', '0'], env);
      await participants.waitForStderr(/hosting 3 participant/, 30_000);
      const coordinator = startCli(t, ['coordinator', '--graph', graph, '--basedir', FIXTURES, '--port', '0', '--http-port', '0'], env);
      await coordinator.waitForStderr(/live system page on/, 30_000);
      const base = /live system page on (http:\/\/\S+)\//.exec(coordinator.stderr)?.[1] as string;
      await pollUntil(`${base}/state`, ({ body }) => (JSON.parse(body) as { edges: unknown[] }).edges.length === 2, 30_000);
      assert.equal((await get(`${base}/readyz`)).status, 200);
      assert.ok(endpointFrom(participants.stderr));

      const browser = await launchChromium(t);
      const page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      const external: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith(base)) {
          external.push(request.url());
        }
      });
      await page.goto(`${base}/`);
      for (const role of [a, b, c]) {
        await page.locator(`[data-role="${role}"]`).waitFor({ timeout: 15_000 });
      }
      await page.locator(`[data-edge="${a}.out->${b}.in"]`).waitFor();
      await page.locator(`[data-edge="${b}.out->${c}.in"]`).waitFor();
      assert.equal(await page.locator(`[data-edge="${b}.out->${c}.in"]`).getAttribute('class').then((k) => k?.includes('roundrobin')), true);
      const failedText = (): Promise<string | null> => page.locator(`[data-role="${a}"] [data-count="failed"]`).textContent();
      assert.equal(await failedText(), '0');
      // Counts start when the coordinator's taps are in place; the page says when they are.
      for (const counted of [`[data-edge="${a}.out->${b}.in"]`, `[data-edge="${b}.out->${c}.in"]`, `[data-role="${a}"]`]) {
        await page.locator(`${counted}[data-counting="true"]`).waitFor({ timeout: 15_000 });
      }

      // Traffic: 5 good messages through the chain, 2 failing in the first role.
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      for (let i = 0; i < 5; i += 1) {
        await peer.send(`${a}.IN`, JSON.stringify({ i }));
      }
      await peer.send(`${a}.IN`, '{"fail": "no"}');
      await peer.send(`${a}.IN`, '{"fail": "never"}');
      const total = (edge: string) => async (): Promise<number> => Number(await page.locator(`[data-edge="${edge}"]`).getAttribute('data-total'));
      const count = (role: string, name: string) => async (): Promise<string | null> => page.locator(`[data-role="${role}"] [data-count="${name}"]`).textContent();
      await until(async () => (await total(`${a}.out->${b}.in`)()) >= 5 && (await total(`${b}.out->${c}.in`)()) >= 5, 'both edges carried 5 messages');
      await until(async () => (await count(a, 'failed')()) === '2', `2 failed in ${a}`);
      await page.locator(`[data-dead-letter="dead-${a}.IN"]`).waitFor();
      if (broker.kind === 'amqp') {
        await until(async () => (await count(a, 'dead')()) === '2', `2 dead letters kept for ${a}`);
      }
      await until(async () => (await count(c, 'inflight')()) === '0', `in flight read from ${c}'s metrics`);
      // The same counts on the coordinator's /metrics, exactly.
      const metrics = (await get(`${base}/metrics`)).body;
      assert.equal(sample(metrics, SYSTEM_METRIC_NAMES.edgeMessages, { src: `${a}.out`, tgt: `${b}.in`, type: 'pubsub' }), 5);
      assert.equal(sample(metrics, SYSTEM_METRIC_NAMES.edgeMessages, { src: `${b}.out`, tgt: `${c}.in`, type: 'roundrobin' }), 5);
      assert.equal(sample(metrics, SYSTEM_METRIC_NAMES.failed, { role: a }), 2);
      assert.match(metrics, new RegExp(`^${SYSTEM_METRIC_NAMES.failed}\\{role="${b}"\\} 0$`, 'm'));
      assert.equal(sample(metrics, SYSTEM_METRIC_NAMES.participants, { role: c }), 1);
      assert.match(metrics, new RegExp(`^${SYSTEM_METRIC_NAMES.inFlight}\\{role="${c}"\\} 0$`, 'm'));
      await mkdir(TEST_OUTPUT, { recursive: true });
      const file = path.join(TEST_OUTPUT, `system-page-${broker.kind}.png`);
      await page.screenshot({ path: file, fullPage: true });
      assert.deepEqual(errors, [], 'no script errors');
      assert.deepEqual(external, [], 'nothing but this coordinator is asked for');
      t.diagnostic(`screenshot: ${file}`);
    });
  });
}

describe('the live system page with a role not discovered yet', () => {
  test('draws the edges to it, to its "not discovered" node, and fits a 1400 px wide window', async (t) => {
    const url = brokerUrls().find((b) => b.kind === 'mqtt')?.url as string;
    // A chain wider than the window: four roles run, the fifth and last never does.
    const roles = ['one', 'two', 'three', 'four', 'five'].map((name) => uniqueRole(name));
    const absent = roles[4] as string;
    const graph = await temporaryFile(t, 'Chain.fbp', [...roles.slice(1).map((role, i) => `${roles[i]}(core/Repeat) OUT -> IN ${role}(core/Repeat)`), ''].join('\n'));
    const file = await temporaryFile(t, 'participants.json', JSON.stringify(roles.slice(0, 4).map((name) => ({ name, graph: 'core/Repeat' }))));
    const env = { MSGFLO_BROKER: url, MSGFLO_DISCOVERY_PERIOD: '2' };
    const participants = startCli(t, ['--participants', file], env);
    await participants.waitForStderr(/hosting 4 participants/, 30_000);
    const coordinator = startCli(t, ['coordinator', '--graph', graph, '--port', '0', '--http-port', '0'], env);
    await coordinator.waitForStderr(/live system page on/, 30_000);
    const base = /live system page on (http:\/\/\S+)\//.exec(coordinator.stderr)?.[1] as string;
    const state = await pollUntil(`${base}/state`, ({ body }) => (JSON.parse(body) as { edges: unknown[] }).edges.length === 3, 30_000);
    const snapshot = JSON.parse(state.body) as { missing: string[]; pending: Array<{ type: string; src: { role: string; port: string }; tgt: { role: string; port: string } }> };
    assert.deepEqual(snapshot.missing, [absent]);
    assert.deepEqual(
      snapshot.pending.map(({ type, src, tgt }) => ({ type, src, tgt })),
      [{ type: 'pubsub', src: { role: roles[3], port: 'out' }, tgt: { role: absent, port: 'in' } }],
    );

    const browser = await launchChromium(t);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${base}/`);
    const missing = page.locator(`[data-missing-role="${absent}"]`);
    await missing.waitFor({ timeout: 15_000 });
    assert.equal(await missing.getAttribute('class'), 'role missing');
    assert.equal(await missing.locator('text.name').textContent(), absent);
    assert.equal(await missing.locator('[data-port="in:in"]').count(), 1, 'the inport the graph wires, on the not-discovered node');
    const pending = page.locator(`[data-edge="${roles[3]}.out->${absent}.in"]`);
    assert.equal(await pending.getAttribute('class'), 'edge pending pubsub');
    assert.equal(await pending.getAttribute('data-pending'), 'true');
    assert.match((await pending.locator('path').getAttribute('d')) ?? '', /^M[\d.]+,[\d.]+ L/, 'a path is drawn');
    assert.equal(await page.locator('g.edge').count(), 4, '3 bound edges and the one waiting for its role');
    assert.equal(await page.locator('g.edge.pending').count(), 1);

    // Wider than the window as laid out, scaled down to it: no sideways scrolling.
    const drawn = Number((await page.locator('#view').getAttribute('viewBox'))?.split(' ')[2]);
    assert.ok(drawn > 1400, `the layout is ${drawn} px wide: wider than the window, as the test needs`);
    // A string, evaluated in the page: this file is compiled without the DOM's types.
    const scrollWidth = Number(await page.evaluate('document.documentElement.scrollWidth'));
    assert.ok(scrollWidth > 0 && scrollWidth <= 1400, `scrollWidth ${scrollWidth}`);
    const box = await page.locator('#view').boundingBox();
    assert.ok(box && box.width <= 1400 && box.height > 0 && Math.abs(box.width / box.height - drawn / Number((await page.locator('#view').getAttribute('viewBox'))?.split(' ')[3])) < 0.05, `scaled, in proportion: ${JSON.stringify(box)}`);

    await mkdir(TEST_OUTPUT, { recursive: true });
    const shot = path.join(TEST_OUTPUT, 'system-page-undiscovered-1400.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.deepEqual(errors, [], 'no script errors');
    t.diagnostic(`screenshot: ${shot}`);
  });
});
