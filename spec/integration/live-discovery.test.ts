/**
 * Discovery tells the live system: a coordinator learns participants that
 * started before it at once (they answer its request), forgets one that
 * stops cleanly at once (it says it leaves), ignores queued announcements
 * of participants gone while it was down, and `status` sees every
 * participant while a coordinator takes the `fbp` queue's messages.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Coordinator } from '../../src/coordinator/coordinator';
import { loadGraphFile } from '../../src/runtime/graph-source';
import { createTransport } from '../../src/transport';
import { runCli, startCli } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { amqpUrl, brokerUrls } from '../harness/env';
import { temporaryFile } from '../harness/files';
import { get, pollUntil } from '../harness/metrics';
import { startParticipant } from '../harness/participants';
import { eventually } from '../harness/wait';

interface State {
  roles: Array<{ role: string; inGraph: boolean; participants: string[] }>;
}

describe('status when nobody answers', () => {
  test('exits 1, and says how long it really waited when interrupted', async (t) => {
    const status = startCli(t, ['status', '--broker', brokerUrls()[1]?.url as string, '--wait', '30']);
    await eventually(() => status.stderr.includes('listening to discovery'), () => `status listening; stderr: ${status.stderr}`);
    const interruptedAt = Date.now();
    status.child.kill('SIGINT');
    const result = await status.exited;
    assert.equal(result.code, 1, `exit code 1, got ${result.code} (signal ${result.signal ?? 'none'}); stderr: ${result.stderr}`);
    assert.ok(Date.now() - interruptedAt < 5000, 'stopped at Ctrl-C, not at --wait');
    assert.match(result.stderr, /no participant answered or announced itself on mqtt:\/\/\S+ in \d+(\.\d)? s \(interrupted\)/);
    assert.doesNotMatch(result.stderr, /in 30 s/);
    assert.equal(result.stdout, '');
  });

  test('Ctrl-C while it still tries to reach the broker: exits 1 at once, saying so', async (t) => {
    // Nothing listens on the discard port of loopback: it keeps trying.
    const status = startCli(t, ['status', '--broker', 'mqtt://127.0.0.1:9', '--wait', '30']);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const interruptedAt = Date.now();
    status.child.kill('SIGINT');
    const result = await status.exited;
    assert.equal(result.code, 1, `exit code 1, got ${result.code} (signal ${result.signal ?? 'none'}); stderr: ${result.stderr}`);
    assert.ok(Date.now() - interruptedAt < 5000, 'stopped at Ctrl-C');
    assert.match(result.stderr, /^noflo-runtime-msgflo: interrupted while connecting to mqtt:\/\/127\.0\.0\.1:9$/m);
  });
});

for (const broker of brokerUrls()) {
  describe(`live discovery on ${broker.kind}`, () => {
    test('a coordinator started after its participants knows them at once and binds them', async (t) => {
      const [a, b] = [uniqueRole('early'), uniqueRole('early')];
      // No heartbeat during the test: only an answer to the coordinator's request can tell it.
      await startParticipant(t, broker.url, { name: a, graph: 'core/Repeat', discoveryPeriod: 600 });
      await startParticipant(t, broker.url, { name: b, graph: 'core/Repeat', discoveryPeriod: 600 });
      if (broker.kind === 'amqp') {
        // The first announcements wait in fbp; take them, as a coordinator that ran before would have.
        const drain = await connectClient('amqp', broker.url);
        await drain.drain('fbp');
        await new Promise((resolve) => setTimeout(resolve, 300));
        await drain.close();
      }
      const coordinator = new Coordinator(createTransport(broker.url));
      const started = Date.now();
      await coordinator.start();
      t.after(() => coordinator.stop());
      await coordinator.load(await loadGraphFile(await temporaryFile(t, 'Early.fbp', `${a}(core/Repeat) OUT -> IN ${b}(core/Repeat)\n`)));
      await coordinator.waitForSystem(5000);
      const took = Date.now() - started;
      assert.deepEqual(coordinator.bindings().map((binding) => `${binding.src} -> ${binding.tgt}`), [`${a}.OUT -> ${b}.IN`]);
      assert.ok(took < 5000, `bound in ${took} ms`);
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const out = await peer.listen(`${b}.OUT`);
      await peer.send(`${a}.IN`, '"through"');
      await out.waitFor(1);
      assert.deepEqual(out.messages, ['through']);
    });

    test('a participant that stops cleanly is gone from the registry and the page within 2 s; roles not in the graph are marked', async (t) => {
      const [inGraph, extra] = [uniqueRole('kept'), uniqueRole('extra')];
      const graph = await temporaryFile(t, 'One.fbp', `INPORT=${inGraph}.IN:IN\n${inGraph}(core/Repeat)\n`);
      const coordinator = startCli(t, ['coordinator', '--graph', graph, '--broker', broker.url, '--port', '0', '--http-port', '0']);
      await coordinator.waitForStderr(/live system page on (http:\S+)\//, 20_000);
      const base = /live system page on (http:\S+)\//.exec(coordinator.stderr)?.[1] as string;
      await startParticipant(t, broker.url, { name: inGraph, graph: 'core/Repeat', discoveryPeriod: 600 });
      const leaving = await startParticipant(t, broker.url, { name: extra, graph: 'core/Repeat', discoveryPeriod: 600 });
      const both = await pollUntil(`${base}/state`, ({ body }) => (JSON.parse(body) as State).roles.length === 2, 10_000);
      const roles = (JSON.parse(both.body) as State).roles;
      assert.deepEqual(
        roles.map((r) => [r.role, r.inGraph]).sort(),
        [[inGraph, true], [extra, false]].sort(),
      );
      const stopped = Date.now();
      await leaving.stop(1000);
      const after = await pollUntil(`${base}/state`, ({ body }) => (JSON.parse(body) as State).roles.length === 1, 5000);
      const gone = Date.now() - stopped;
      assert.deepEqual((JSON.parse(after.body) as State).roles.map((r) => r.role), [inGraph]);
      assert.ok(gone < 2000, `gone from /state ${gone} ms after the stop`);
      assert.match(coordinator.stderr, new RegExp(`participant removed: ${extra}-`));
      assert.equal((await get(`${base}/readyz`)).status, 200);
    });
  });
}

describe('live discovery across a coordinator restart (AMQP)', () => {
  test('announcements queued while it was down, of a participant that stopped since, are not counted (not even by status)', async (t) => {
    const url = amqpUrl();
    const [kept, gone] = [uniqueRole('kept'), uniqueRole('gone')];
    const first = new Coordinator(createTransport(url));
    await first.start();
    // Heartbeats every 0.9 s: announcements queue up while no coordinator reads them.
    await startParticipant(t, url, { name: kept, graph: 'core/Repeat', discoveryPeriod: 2 });
    const stopping = await startParticipant(t, url, { name: gone, graph: 'core/Repeat', discoveryPeriod: 2 });
    await eventually(() => first.registry.byRole(kept) !== undefined && first.registry.byRole(gone) !== undefined, 'the first coordinator to know both');
    await first.stop();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await stopping.stop(1000);
    const second = new Coordinator(createTransport(url));
    const added: string[] = [];
    second.registry.on('added', (definition) => added.push(definition.role));
    await second.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const roles = second.registry.list().map((definition) => definition.role).filter((role) => role === kept || role === gone);
      assert.deepEqual(roles, [kept], `live now: ${roles.join(', ')} (added meanwhile: ${added.join(', ')})`);
    } finally {
      // Nothing stands in fbp now (the coordinator took it all); once more, with it down.
      await second.stop();
    }
    const again = uniqueRole('gone');
    const stopped = await startParticipant(t, url, { name: again, graph: 'core/Repeat', discoveryPeriod: 2 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await stopped.stop(1000);
    const result = await runCli(t, ['status', '--broker', url, '--wait', '3'], {}, 20_000);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^${kept} `, 'm'));
    assert.doesNotMatch(result.stdout, new RegExp(`^${again} `, 'm'), 'its queued announcements are not a live participant');
  });
});

describe('status beside a coordinator', () => {
  for (const broker of brokerUrls()) {
    test(`lists every participant at once on ${broker.kind}, those of other programs too`, async (t) => {
      const roles = [uniqueRole('s'), uniqueRole('s'), uniqueRole('s')];
      const foreign = uniqueRole('foreign');
      const coordinator = new Coordinator(createTransport(broker.url));
      await coordinator.start();
      t.after(() => coordinator.stop());
      for (const role of roles) {
        await startParticipant(t, broker.url, { name: role, graph: 'core/Repeat', discoveryPeriod: 600 });
      }
      // A participant of another MsgFlo program: it announces on fbp, and answers no request.
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      await peer.send('fbp', JSON.stringify({ protocol: 'discovery', command: 'participant', payload: { id: `${foreign}-1`, role: foreign, component: 'python/Thing', inports: [], outports: [] } }));
      await eventually(() => [...roles, foreign].every((role) => coordinator.registry.byRole(role) !== undefined), 'the coordinator to know all four');

      const started = Date.now();
      const result = await runCli(t, ['status', '--broker', broker.url, '--wait', '20'], {}, 30_000);
      const took = Date.now() - started;
      assert.equal(result.code, 0, result.stderr);
      for (const role of [...roles, foreign]) {
        assert.match(result.stdout, new RegExp(`^${role} `, 'm'), `${role} listed`);
      }
      assert.match(result.stderr, /a coordinator answered/);
      assert.ok(took < 10_000, `status took ${took} ms`);
    });
  }
});
