/**
 * The coordinator as an editable FBP runtime, driven as Flowhub drives it:
 * with fbp-client, with the fbp-spec suites under `spec/fbp-spec/`, and with
 * the protocol's own suite (fbp-test). Every message the runtime sends is
 * checked strictly against the protocol's schemas on the way.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { Host } from '../../src/host/host';
import { uniqueRole } from '../harness/client';
import { brokerUrls } from '../harness/env';
import { startCli } from '../harness/cli';
import { startFbpProxy, type RuntimeMessage } from '../harness/fbp-proxy';
import { runFbpTestSuite } from '../harness/fbp-test';
import { FIXTURES, REPO_ROOT } from '../harness/participants';
import { eventually } from '../harness/wait';

interface Signal {
  protocol: string;
  command: string;
  payload: Record<string, unknown>;
}

/** The parts of fbp-client used here. */
interface FbpClient {
  readonly definition: { capabilities: string[]; graph?: string };
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  on(event: 'signal', listener: (signal: Signal) => void): void;
  protocol: {
    runtime: { packet(payload: object): Promise<unknown> };
    component: { list(): Promise<Array<{ name: string; inPorts: Array<{ id: string }> }>>; getsource(payload: object): Promise<unknown> };
    graph: Record<'clear' | 'addnode' | 'removenode' | 'renamenode' | 'addedge' | 'addinitial' | 'addinport' | 'addoutport', (payload: object) => Promise<Record<string, unknown>>>;
    network: Record<'start' | 'stop' | 'getstatus' | 'edges', (payload: object) => Promise<Record<string, unknown>>>;
  };
}
const fbpClient = require('fbp-client') as (definition: object, options?: object) => Promise<FbpClient>;

/** Start `coordinator` on `broker` with the fixtures' components; resolves with a validating proxy to it. */
async function startCoordinator(t: TestContext, broker: string): Promise<Awaited<ReturnType<typeof startFbpProxy>>> {
  const coordinator = startCli(t, ['coordinator', '--broker', broker, '--port', '0', '--basedir', FIXTURES]);
  await coordinator.waitForStderr(/on (ws:\/\/127\.0\.0\.1:\d+)/);
  const address = /on (ws:\/\/127\.0\.0\.1:\d+)/.exec(coordinator.stderr)?.[1] as string;
  return startFbpProxy(t, address);
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

for (const { kind, url } of brokerUrls()) {
  describe(`coordinator FBP runtime on ${kind}`, () => {
    test('fbp-client builds a two-participant system by graph messages; packets come out of the exported outport and show on the edge', async (t) => {
      const proxy = await startCoordinator(t, url);
      const client = await fbpClient({ address: proxy.address, protocol: 'websocket', secret: '' }, { commandTimeout: 10_000 });
      await client.connect();
      t.after(() => client.disconnect());
      const signals: Signal[] = [];
      client.on('signal', (signal) => signals.push(signal));

      // Connecting asked for the runtime's definition, as Flowhub does.
      for (const capability of ['protocol:graph', 'protocol:network', 'network:data', 'protocol:component']) {
        assert.ok(client.definition.capabilities.includes(capability), `capability ${capability}`);
      }
      const components = await client.protocol.component.list();
      const names = components.map((c) => c.name);
      assert.ok(names.includes('core/Repeat') && names.includes('fixtures/Prefix'), `components listed: ${names.join(', ')}`);
      assert.deepEqual(components.find((c) => c.name === 'fixtures/Prefix')?.inPorts.map((p) => p.id), ['in', 'prefix']);

      const graph = 'composed';
      await client.protocol.graph.clear({ id: graph, name: 'Composed', main: true });
      await client.protocol.graph.addnode({ id: 'repeat', component: 'core/Repeat', metadata: { x: 10, y: 20 }, graph });
      await client.protocol.graph.addnode({ id: 'prefix', component: 'fixtures/Prefix', metadata: {}, graph });
      await client.protocol.graph.addedge({ src: { node: 'repeat', port: 'out' }, tgt: { node: 'prefix', port: 'in' }, graph });
      await client.protocol.graph.addinitial({ src: { data: '>> ' }, tgt: { node: 'prefix', port: 'prefix' }, graph });
      await client.protocol.graph.addinport({ public: 'in', node: 'repeat', port: 'in', graph });
      await client.protocol.graph.addoutport({ public: 'out', node: 'prefix', port: 'out', graph });
      const started = await client.protocol.network.start({ graph });
      assert.equal(started.started, true);

      await client.protocol.runtime.packet({ graph, port: 'in', event: 'data', payload: 'hello' });
      await eventually(() => signals.some((s) => s.protocol === 'runtime' && s.command === 'packet' && s.payload.port === 'out' && s.payload.payload === '>> hello'), 'output on the exported outport');
      const data = signals.filter((s) => s.protocol === 'network' && s.command === 'data').map((s) => s.payload);
      assert.deepEqual(
        data.map((d) => [d.id, d.data]),
        [
          ['DATA -> PREFIX prefix()', '>> '],
          ['repeat() OUT -> IN prefix()', 'hello'],
        ],
      );

      // Narrowed to no edges: the packet still flows, but is not shown.
      await client.protocol.network.edges({ graph, edges: [] });
      await client.protocol.runtime.packet({ graph, port: 'in', event: 'data', payload: 'quiet' });
      await eventually(() => signals.some((s) => s.command === 'packet' && s.payload.payload === '>> quiet'), '">> quiet" out');
      await client.protocol.network.edges({ graph, edges: [{ src: { node: 'repeat', port: 'out' }, tgt: { node: 'prefix', port: 'in' } }] });
      await client.protocol.runtime.packet({ graph, port: 'in', event: 'data', payload: 'loud' });
      await eventually(() => signals.some((s) => s.command === 'packet' && s.payload.payload === '>> loud'), '">> loud" out');
      await eventually(() => signals.some((s) => s.command === 'data' && s.payload.data === 'loud'), '"loud" on the selected edge');
      assert.equal(signals.filter((s) => s.command === 'data' && s.payload.data === 'quiet').length, 0);

      // Stopped: the participants stop consuming, and messages wait for the start.
      const stopped = await client.protocol.network.stop({ graph });
      assert.deepEqual([stopped.started, stopped.running], [false, false]);
      await client.protocol.runtime.packet({ graph, port: 'in', event: 'data', payload: 'later' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(signals.filter((s) => s.command === 'packet' && s.payload.payload === '>> later').length, 0);
      await client.protocol.network.start({ graph });
      await eventually(() => signals.some((s) => s.command === 'packet' && s.payload.payload === '>> later'), '">> later" out after the restart');

      // Removing a node: its edge, its IIP and the exported port go first.
      const before = proxy.received.length;
      await client.protocol.graph.removenode({ id: 'prefix', graph });
      // (A tap's copy of the last packet may still come in between: only the graph's messages count here.)
      const removal = proxy.received.slice(before).filter((m: RuntimeMessage) => m.protocol === 'graph').map((m) => `${m.protocol}:${m.command}`);
      assert.deepEqual(removal, ['graph:removeedge', 'graph:removeinitial', 'graph:removeoutport', 'graph:removenode']);
      const status = await client.protocol.network.getstatus({ graph });
      assert.deepEqual(status, { graph, started: true, running: false });
      assert.deepEqual(proxy.problems, []);
    });

    test('errors name what was wrong and keep the graph as it was', async (t) => {
      const proxy = await startCoordinator(t, url);
      const client = await fbpClient({ address: proxy.address, protocol: 'websocket', secret: '' }, { commandTimeout: 10_000 });
      await client.connect();
      t.after(() => client.disconnect());
      const graph = 'g';
      await client.protocol.graph.clear({ id: graph, main: true });
      await client.protocol.graph.addnode({ id: 'a', component: 'core/Repeat', metadata: {}, graph });
      await assert.rejects(client.protocol.graph.addnode({ id: 'b', component: 'nowhere/Nothing', metadata: {}, graph }), /unknown component "nowhere\/Nothing"/);
      await assert.rejects(client.protocol.graph.addnode({ id: 'a', component: 'core/Repeat', metadata: {}, graph }), /node "a" already exists/);
      await assert.rejects(client.protocol.graph.addedge({ src: { node: 'a', port: 'nope' }, tgt: { node: 'a', port: 'in' }, graph }), /no outport "nope" \(it has: out\)/);
      await assert.rejects(client.protocol.graph.addedge({ src: { node: 'a', port: 'out' }, tgt: { node: 'x', port: 'in' }, graph }), /no node "x"/);
      await assert.rejects(client.protocol.network.start({ graph: 'other' }), /Requested graph not found/);
      assert.deepEqual(proxy.problems, []);
    });

    test('a node of a component only discovered elsewhere waits for its role; a renamed node keeps it', async (t) => {
      // The coordinator cannot start fixtures/Prefix (not in its --basedir); a participant elsewhere runs it.
      const coordinator = startCli(t, ['coordinator', '--broker', url, '--port', '0']);
      await coordinator.waitForStderr(/on (ws:\/\/127\.0\.0\.1:\d+)/);
      const proxy = await startFbpProxy(t, /on (ws:\/\/127\.0\.0\.1:\d+)/.exec(coordinator.stderr)?.[1] as string);
      const host = new Host({ broker: url, basedir: FIXTURES, discoveryPeriod: 2 }, {});
      t.after(() => host.stop());
      const [elsewhere, late] = [uniqueRole('else'), uniqueRole('late')];
      await host.add({ name: elsewhere, graph: 'fixtures/Prefix' });
      const client = await fbpClient({ address: proxy.address, protocol: 'websocket', secret: '' }, { commandTimeout: 10_000 });
      await client.connect();
      t.after(() => client.disconnect());
      const signals: Signal[] = [];
      client.on('signal', (signal) => signals.push(signal));
      await coordinator.waitForStderr(new RegExp(`participant added: ${elsewhere}`));

      const graph = 'mixed';
      await client.protocol.graph.clear({ id: graph, main: true });
      await client.protocol.graph.addnode({ id: 'start', component: 'core/Repeat', metadata: {}, graph });
      await client.protocol.graph.addnode({ id: late, component: 'fixtures/Prefix', metadata: {}, graph });
      await client.protocol.graph.addedge({ src: { node: 'start', port: 'out' }, tgt: { node: late, port: 'in' }, graph });
      await client.protocol.graph.addinitial({ src: { data: '~' }, tgt: { node: late, port: 'prefix' }, graph });
      await client.protocol.graph.addinport({ public: 'in', node: 'start', port: 'in', graph });
      await client.protocol.graph.addoutport({ public: 'out', node: late, port: 'out', graph });
      await client.protocol.network.start({ graph });
      assert.deepEqual(await client.protocol.network.getstatus({ graph }), { graph, started: true, running: true }, 'running: the IIP waits for its role');

      await host.add({ name: late, graph: 'fixtures/Prefix' });
      await coordinator.waitForStderr(new RegExp(`PUBSUB:\\s+start\\.OUT -> ${late}\\.IN`));
      await eventually(() => signals.some((s) => s.command === 'data' && s.payload.id === `DATA -> PREFIX ${late}()`), 'the IIP sent once the role appeared');
      // Shown to clients as it goes, said on stderr once the broker took it.
      await coordinator.waitForStderr(new RegExp(`sent 1 IIP to ${late}\\.PREFIX\n`));
      await client.protocol.runtime.packet({ graph, port: 'in', event: 'data', payload: 'a' });
      await eventually(() => signals.some((s) => s.command === 'packet' && s.payload.payload === '~a'), 'through the late participant');

      await client.protocol.graph.renamenode({ from: 'start', to: 'entry', graph });
      await client.protocol.runtime.packet({ graph, port: 'in', event: 'data', payload: 'b' });
      await eventually(() => signals.some((s) => s.command === 'packet' && s.payload.payload === '~b'), 'through the renamed node');
      assert.ok(signals.some((s) => s.command === 'data' && s.payload.id === `entry() OUT -> IN ${late}()` && s.payload.data === 'b'), 'the edge shown under the new name');
      const source = (await client.protocol.component.getsource({ name: graph })) as { code: string };
      assert.deepEqual(Object.keys((JSON.parse(source.code) as { processes: object }).processes).sort(), ['entry', late].sort());
      assert.deepEqual(proxy.problems, []);
    });

    test("the protocol's own suite, fbp-test: 22 of 22, with a secret", async (t) => {
      const coordinator = startCli(t, ['coordinator', '--broker', url, '--port', '0', '--secret', 'fbp-test-secret']);
      await coordinator.waitForStderr(/on (ws:\/\/127\.0\.0\.1:\d+)/);
      const proxy = await startFbpProxy(t, /on (ws:\/\/127\.0\.0\.1:\d+)/.exec(coordinator.stderr)?.[1] as string);
      const result = await runFbpTestSuite({ host: '127.0.0.1', port: proxy.port, secret: 'fbp-test-secret' });
      assert.deepEqual({ passes: result.passes, failures: result.failures, total: result.total }, { passes: 22, failures: 0, total: 22 }, JSON.stringify(result.failed, null, 2));
      assert.deepEqual(proxy.problems, []);
      assert.doesNotMatch(JSON.stringify(proxy.received), /fbp-test-secret/);
    });

    test('the fbp-spec suites pass against a system of participants', async (t) => {
      const proxy = await startCoordinator(t, url);
      const result = await run(path.join(REPO_ROOT, 'node_modules', 'fbp-spec', 'bin', 'fbp-spec'), ['--address', proxy.address, '--command-timeout', '10', path.join(REPO_ROOT, 'spec', 'fbp-spec')]);
      const passed = (result.stdout.match(/: ✓/g) ?? []).length;
      const failed = (result.stdout.match(/: ✗/g) ?? []).length;
      assert.equal(result.code, 0, `fbp-spec exited ${result.code}: ${result.stdout}${result.stderr}`);
      assert.deepEqual({ passed, failed }, { passed: 5, failed: 0 });
      assert.deepEqual(proxy.problems, []);
    });
  });
}
