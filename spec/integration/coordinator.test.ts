/**
 * The coordinator on the real brokers: bindings from a system graph, late
 * binding, IIPs and exported ports, edge removal, round robin with dead letters.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { Coordinator } from '../../src/coordinator/coordinator';
import { Host } from '../../src/host/host';
import type { Binding } from '../../src/protocol/bindings';
import { loadGraphFile } from '../../src/runtime/graph-source';
import { createTransport } from '../../src/transport';
import { connectClient, uniqueRole } from '../harness/client';
import { runCli, startCli } from '../harness/cli';
import { temporaryFile } from '../harness/files';
import { amqpUrl, brokerUrls } from '../harness/env';
import { FIXTURES } from '../harness/participants';
import { eventually } from '../harness/wait';

/** The Pair system graph with its roles renamed, so each test has queues of its own. */
async function pairGraph(prefix: string): Promise<{ graph: Awaited<ReturnType<typeof loadGraphFile>>; repeater: string; prefixer: string }> {
  const graph = await loadGraphFile(path.join(FIXTURES, 'systems', 'Pair.fbp'));
  const repeater = `${prefix}rep`;
  const prefixer = `${prefix}pre`;
  graph.renameNode('repeater', repeater);
  graph.renameNode('prefixer', prefixer);
  return { graph, repeater, prefixer };
}

function startCoordinator(t: TestContext, url: string): Coordinator {
  const coordinator = new Coordinator(createTransport(url), { timeoutMs: 5000 });
  t.after(() => coordinator.stop());
  return coordinator;
}

function startHost(t: TestContext, url: string): Host {
  const host = new Host({ broker: url, basedir: FIXTURES, discoveryPeriod: 1 }, {});
  t.after(() => host.stop());
  return host;
}

for (const broker of brokerUrls()) {
  describe(`coordinator on ${broker.kind}`, () => {
    test('binds a system graph, sends its IIPs, and serves its exported ports; binds late roles', async (t) => {
      const { graph, repeater, prefixer } = await pairGraph(uniqueRole('p'));
      const coordinator = startCoordinator(t, broker.url);
      const bound: Binding[] = [];
      coordinator.on('bound', (binding) => bound.push(binding));
      const data: unknown[] = [];
      coordinator.on('data', (port, value) => data.push([port, value]));
      await coordinator.start();
      // The graph first, its participants after: bound when they appear.
      await coordinator.load(graph);
      assert.deepEqual(coordinator.missingRoles().sort(), [prefixer, repeater].sort());
      const host = startHost(t, broker.url);
      await host.add({ name: repeater, graph: 'core/Repeat' });
      await host.add({ name: prefixer, graph: 'fixtures/Prefix' });
      await coordinator.waitForSystem(10_000);
      await eventually(() => bound.length === 1, 'the binding');
      assert.deepEqual(bound, [{ type: 'pubsub', src: `${repeater}.OUT`, tgt: `${prefixer}.IN` }]);

      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const out = await peer.listen(`${prefixer}.OUT`);
      await peer.send(`${repeater}.IN`, '"through the system"');
      assert.deepEqual(await out.waitFor(1), ['pair:through the system'], 'bound, and the IIP reached the prefix port');

      await coordinator.send('in', 'via the exported inport');
      await eventually(() => data.some((d) => JSON.stringify(d) === JSON.stringify(['out', 'pair:via the exported inport'])), () => `data on the exported outport: ${JSON.stringify(data)}`);
    });

    test('removing an edge removes its binding', async (t) => {
      const { graph, repeater, prefixer } = await pairGraph(uniqueRole('r'));
      const host = startHost(t, broker.url);
      await host.add({ name: repeater, graph: 'core/Repeat' });
      await host.add({ name: prefixer, graph: 'fixtures/Prefix' });
      const coordinator = startCoordinator(t, broker.url);
      await coordinator.start();
      await coordinator.load(graph);
      await coordinator.waitForSystem(10_000);
      await eventually(() => coordinator.bindings().length === 1, 'bound');
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const out = await peer.listen(`${prefixer}.OUT`);
      await peer.send(`${repeater}.IN`, '"before"');
      assert.deepEqual(await out.waitFor(1), ['pair:before']);

      const unbound: Binding[] = [];
      coordinator.on('unbound', (binding) => unbound.push(binding));
      await coordinator.removeEdge({ src: { process: repeater, port: 'out' }, tgt: { process: prefixer, port: 'in' } });
      assert.deepEqual(unbound, [{ type: 'pubsub', src: `${repeater}.OUT`, tgt: `${prefixer}.IN` }]);
      assert.equal(coordinator.bindings().length, 0);
      await peer.send(`${repeater}.IN`, '"after"');
      assert.deepEqual(await out.settle(500), ['pair:before'], 'nothing flows once unbound');

      await coordinator.addEdge({ src: { process: repeater, port: 'out' }, tgt: { process: prefixer, port: 'in' } });
      await peer.send(`${repeater}.IN`, '"again"');
      assert.deepEqual(await out.waitFor(2), ['pair:before', 'pair:again']);
    });
  });
}

for (const { kind, url } of brokerUrls()) describe(`coordinator on ${kind}: round robin with dead letters`, () => {
  test('two participants of one role share the work; failures land in the dead-letter queue', async (t) => {
    const [source, worker, dead] = [uniqueRole('src'), uniqueRole('work'), uniqueRole('dead')];
    const graph = await loadGraphFile(path.join(FIXTURES, 'systems', 'Pair.fbp'));
    for (const node of [...graph.nodes]) {
      graph.removeNode(node.id);
    }
    graph.addNode(source, 'core/Repeat');
    graph.addNode('rr', 'msgflo/RoundRobin');
    graph.addNode(worker, 'fixtures/Throw');
    graph.addNode(dead, 'core/Repeat');
    graph.addEdge(source, 'out', 'rr', 'in');
    graph.addEdge('rr', 'out', worker, 'in');
    graph.addEdge('rr', 'deadletter', dead, 'in');

    const host = startHost(t, url);
    await host.add({ name: source, graph: 'core/Repeat' });
    const first = await host.add({ name: worker, graph: 'fixtures/Throw' });
    const second = await host.add({ name: worker, graph: 'fixtures/Throw' });
    await host.add({ name: dead, graph: 'core/Repeat' });
    const counts = new Map<string, number>();
    for (const participant of [first, second]) {
      participant.on('job', () => counts.set(participant.definition.id, (counts.get(participant.definition.id) ?? 0) + 1));
    }
    const coordinator = startCoordinator(t, url);
    await coordinator.start();
    await coordinator.load(graph);
    await coordinator.waitForSystem(10_000);
    await eventually(() => coordinator.bindings().length === 1, 'the round-robin binding');
    assert.deepEqual(coordinator.bindings(), [{ type: 'roundrobin', src: `${source}.OUT`, tgt: `${worker}.IN`, deadletter: `${dead}.IN` }]);

    const peer = await connectClient(kind, url);
    t.after(() => peer.close());
    const done = await peer.listen(`${worker}.OUT`);
    const deadLetters = await peer.listen(`${dead}.OUT`);
    for (let i = 0; i < 20; i += 1) {
      await peer.send(`${source}.IN`, JSON.stringify(i % 5 === 0 ? { fail: `n${i}` } : { n: i, delay: 20 }));
    }
    assert.equal((await done.waitFor(16)).length, 16);
    const failed = (await deadLetters.waitFor(4)) as Array<{ fail: string }>;
    assert.deepEqual(failed.map((f) => f.fail).sort(), ['n0', 'n10', 'n15', 'n5']);
    await done.settle(300);
    assert.equal(done.messages.length, 16, 'each message to one worker only');
    assert.equal(counts.size, 2, `both workers took jobs: ${JSON.stringify([...counts])}`);
  });
});

describe('setup and procfile commands', () => {
  test('setup binds a system graph and exits 0; a role never discovered fails with its name', async (t) => {
    const url = amqpUrl();
    const ok = await runCli(t, ['setup', 'systems/Pair.fbp', '--basedir', FIXTURES, '--participants', '--broker', url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /PUBSUB:\trepeater\.OUT -> prefixer\.IN/);
    assert.match(ok.stderr, /bound 1 binding for 2 roles/);

    const missing = await runCli(t, ['setup', 'systems/Pair.fbp', '--basedir', FIXTURES, '--broker', url, '--timeout', '1'], {}, 30_000);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no participant of role "(repeater|prefixer)"/);
  });

  test('setup --participants on MQTT hears its own participants at once (no retained discovery there)', async (t) => {
    const { mqttUrl } = await import('../harness/env');
    const started = Date.now();
    const setup = startCli(t, ['setup', 'systems/Pair.fbp', '--basedir', FIXTURES, '--participants', '--forever', '--broker', mqttUrl(), '--timeout', '10']);
    await setup.waitForStderr(/coordinating until SIGTERM/, 30_000);
    assert.match(setup.stderr, /bound 1 binding for 2 roles/);
    assert.ok(Date.now() - started < 10_000, 'bound without waiting for a second round of discovery');
    setup.child.kill('SIGTERM');
    const exit = await setup.exited;
    assert.equal(exit.code, 0, exit.stderr);
  });

    test('procfile prints a line per role, and refuses roles it has no command for', async (t) => {
    const result = await runCli(t, ['procfile', 'systems/Pair.fbp', '--basedir', FIXTURES]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n').sort(), [
      `prefixer: noflo-runtime-msgflo --name prefixer --graph fixtures/Prefix --iips '{"prefix":"pair:"}'`,
      'repeater: noflo-runtime-msgflo --name repeater --graph core/Repeat',
    ]);
    const foreign = await runCli(t, ['procfile', 'systems/Chain.fbp', '--basedir', FIXTURES]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /no command for role "worker" \(python\/Worker\)/);
    const included = await runCli(t, ['procfile', 'systems/Chain.fbp', '--basedir', FIXTURES, '--ignore', 'worker', '--include', 'worker: python worker.py']);
    assert.equal(included.code, 0, included.stderr);
    assert.match(included.stdout, /^worker: python worker\.py$/m);
  });
});

describe('msgflo/Coordinator, a NoFlo component', () => {
  test('graphs/Supervisor.fbp, run by this runtime, binds a system and reports it on its outports', async (t) => {
    const url = amqpUrl();
    const [first, second, supervisor] = [uniqueRole('first'), uniqueRole('second'), uniqueRole('supervisor')];
    const system = await temporaryFile(t, 'System.fbp', `${first}(core/Repeat) OUT -> IN ${second}(core/Repeat)\n`);

    const host = startHost(t, url);
    await host.add({ name: first, graph: 'core/Repeat' });
    await host.add({ name: second, graph: 'core/Repeat' });
    const peer = await connectClient('amqp', url);
    t.after(() => peer.close());
    const bindings = await peer.listen(`${supervisor}.BINDING`);
    const participants = await peer.listen(`${supervisor}.PARTICIPANT`);

    const runtime = startCli(t, ['--name', supervisor, '--graph', 'graphs/Supervisor.fbp', '--broker', url, '--iips', JSON.stringify({ broker: url, graph: system })]);
    await runtime.waitForStderr(/is running/);
    assert.deepEqual(await bindings.waitFor(1), [{ change: 'added', binding: { type: 'pubsub', src: `${first}.OUT`, tgt: `${second}.IN` } }]);
    await eventually(
      () => [first, second].every((role) => participants.messages.some((m) => (m as { participant: { role: string } }).participant.role === role)),
      'both roles reported',
    );
    const out = await peer.listen(`${second}.OUT`);
    await peer.send(`${first}.IN`, '"supervised"');
    assert.deepEqual(await out.waitFor(1), ['supervised']);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });
});
