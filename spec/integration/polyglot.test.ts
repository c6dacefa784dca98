/**
 * A polyglot system, on Mosquitto: a NoFlo role, a Python role (the
 * stand-in for msgflo-python under spec/fixtures/polyglot) and a
 * msgflo-nodejs role (its Repeat example), started from one participant
 * library by `setup --participants --library`, and by the coordinator on
 * `graph:addnode`. Messages pass all three; a killed child comes back; no
 * child outlives the system.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { connectClient, uniqueRole, type Collector, type TestClient } from '../harness/client';
import { processAlive, startCli, type RunningCommand } from '../harness/cli';
import { startFbpProxy } from '../harness/fbp-proxy';
import { mqttUrl } from '../harness/env';
import { temporaryFile } from '../harness/files';
import { FIXTURES } from '../harness/participants';
import { PYTHON_PARTICIPANT, pythonWithPaho } from '../harness/python';
import { eventually } from '../harness/wait';

/** A library with the Python and msgflo-nodejs components, its paths quoted as a user would write them. */
async function libraryFile(t: TestContext): Promise<string> {
  const python = await pythonWithPaho();
  const nodejs = path.join(FIXTURES, 'interop', 'msgflo-nodejs-repeat.js');
  const library = {
    name: 'polyglot',
    msgflo: {
      variables: { PYTHON: `'${python}'` },
      components: {
        'python/Repeat': `#PYTHON '${PYTHON_PARTICIPANT}' #ROLE #COMPONENT`,
        'nodejs/Repeat': `"${process.execPath}" "${nodejs}" #ROLE`,
      },
    },
  };
  return temporaryFile(t, 'package.json', JSON.stringify(library, null, 2));
}

/** The process id of each child the command said it started, by role, the last one for each. */
function childPids(command: RunningCommand): Map<string, number> {
  const pids = new Map<string, number>();
  for (const match of command.stderr.matchAll(/^role (\S+): process (\d+) started$/gm)) {
    pids.set(match[1] as string, Number(match[2]));
  }
  return pids;
}

interface Signal {
  protocol: string;
  command: string;
  payload: Record<string, unknown>;
}

/** The parts of fbp-client used here. */
interface FbpClient {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  on(event: 'signal', listener: (signal: Signal) => void): void;
  protocol: {
    runtime: { packet(payload: object): Promise<unknown> };
    component: { list(): Promise<Array<{ name: string }>> };
    graph: Record<'clear' | 'addnode' | 'removenode' | 'addedge' | 'addinport' | 'addoutport', (payload: object) => Promise<Record<string, unknown>>>;
    network: Record<'start', (payload: object) => Promise<Record<string, unknown>>>;
  };
}
const fbpClient = require('fbp-client') as (definition: object, options?: object) => Promise<FbpClient>;

interface Traced {
  n: number;
  via: string[];
}

/**
 * Send `count` messages to `inqueue`, at most `window` of them unanswered
 * at a time (MQTT at QoS 0, as msgflo-python and msgflo-nodejs use it, has
 * no flow control of its own), and wait for every one on `out`.
 */
async function throughput(peer: TestClient, inqueue: string, out: Collector, first: number, count: number, window = 50): Promise<Traced[]> {
  const before = out.bodies.length;
  for (let n = first; n < first + count; n += 1) {
    await eventually(() => n - first - (out.bodies.length - before) < window, () => `room in the window at message ${n}, ${out.bodies.length - before} answered`, 20_000);
    await peer.send(inqueue, JSON.stringify({ n, via: [] }));
  }
  await out.waitFor(before + count, 30_000);
  return (out.messages.slice(before) as Traced[]);
}

describe('a polyglot system: NoFlo, Python (msgflo-python stand-in) and msgflo-nodejs roles on MQTT', () => {
  test('setup --participants --library starts all three; 1,000 messages pass, none lost; a killed child comes back; SIGTERM leaves no child', async (t) => {
    const library = await libraryFile(t);
    const [noflo, py, js] = [uniqueRole('noflo'), uniqueRole('py'), uniqueRole('js')];
    const graph = await temporaryFile(t, 'System.fbp', `${noflo}(core/Repeat) OUT -> IN ${py}(python/Repeat) OUT -> IN ${js}(nodejs/Repeat)\n`);
    const setup = startCli(t, ['setup', graph, '--participants', '--library', library, '--broker', mqttUrl(), '--basedir', FIXTURES, '--forever', '--timeout', '20']);
    await setup.waitForStderr(/coordinating until SIGTERM/, 40_000);
    assert.match(setup.stderr, /bound 2 bindings for 3 roles/);
    const pids = childPids(setup);
    assert.deepEqual([...pids.keys()].sort(), [js, py].sort(), setup.stderr);
    assert.match(setup.stderr, new RegExp(`role ${py} \\(python/Repeat\\): \\S*python3 \\S*repeat\\.py ${py} python/Repeat`));

    const peer = await connectClient('mqtt', mqttUrl());
    t.after(() => peer.close());
    const out = await peer.listen(`${js}.OUT`);
    const messages = await throughput(peer, `${noflo}.IN`, out, 0, 1000);
    assert.equal(messages.length, 1000);
    assert.equal(new Set(messages.map((m) => m.n)).size, 1000, 'each message once');
    assert.ok(messages.every((m) => m.via.length === 1 && m.via[0] === 'python'), 'each passed the Python role');

    // The Python child dies: it is started again, announces itself, and the traffic goes on.
    const pythonPid = pids.get(py) as number;
    process.kill(pythonPid, 'SIGKILL');
    await setup.waitForStderr(new RegExp(`role ${py}: its process killed by SIGKILL; starting it again in 0\\.5 s`));
    await eventually(() => (childPids(setup).get(py) ?? pythonPid) !== pythonPid, 'a new Python process', 10_000);
    await eventually(() => setup.stderr.split(`participant added: ${py}-`).length === 3, 'the new Python participant discovered', 10_000);
    const after = await throughput(peer, `${noflo}.IN`, out, 1000, 20);
    assert.deepEqual(after.map((m) => m.n).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => 1000 + i));

    // Stopped: every child goes with it.
    const last = [...childPids(setup).values()];
    assert.ok(last.every(processAlive), 'the children run');
    setup.child.kill('SIGTERM');
    const exit = await setup.exited;
    assert.equal(exit.code, 0, exit.stderr);
    await eventually(() => !last.some(processAlive), () => `no child left: ${last.filter(processAlive).join(', ')}`, 5_000);
  });

  test('the coordinator starts the library components on graph:addnode (through a shell, their stdout forwarded), binds them over the FBP protocol, and stops them with their nodes', async (t) => {
    const library = await libraryFile(t);
    const coordinator = startCli(t, ['coordinator', '--broker', mqttUrl(), '--port', '0', '--basedir', FIXTURES, '--library', library, '--shell', '--forward', 'stdout']);
    await coordinator.waitForStderr(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const proxy = await startFbpProxy(t, /on (ws:\/\/127\.0\.0\.1:\d+)/.exec(coordinator.stderr)?.[1] as string);
    const client = await fbpClient({ address: proxy.address, protocol: 'websocket', secret: '' }, { commandTimeout: 20_000 });
    await client.connect();
    t.after(() => client.disconnect());
    const packets: unknown[] = [];
    client.on('signal', (signal) => {
      if (signal.protocol === 'runtime' && signal.command === 'packet' && signal.payload.port === 'out') {
        packets.push(signal.payload.payload);
      }
    });

    const names = (await client.protocol.component.list()).map((c) => c.name);
    assert.ok(names.includes('python/Repeat') && names.includes('nodejs/Repeat') && names.includes('core/Repeat'), names.join(', '));
    const graph = 'polyglot';
    const [noflo, py, js] = [uniqueRole('noflo'), uniqueRole('py'), uniqueRole('js')];
    await client.protocol.graph.clear({ id: graph, main: true });
    await client.protocol.graph.addnode({ id: noflo, component: 'core/Repeat', metadata: {}, graph });
    await client.protocol.graph.addnode({ id: py, component: 'python/Repeat', metadata: {}, graph });
    await client.protocol.graph.addnode({ id: js, component: 'nodejs/Repeat', metadata: {}, graph });
    await client.protocol.graph.addedge({ src: { node: noflo, port: 'out' }, tgt: { node: py, port: 'in' }, graph });
    await client.protocol.graph.addedge({ src: { node: py, port: 'out' }, tgt: { node: js, port: 'in' }, graph });
    await client.protocol.graph.addinport({ public: 'in', node: noflo, port: 'in', graph });
    await client.protocol.graph.addoutport({ public: 'out', node: js, port: 'out', graph });
    await client.protocol.network.start({ graph });
    assert.deepEqual([...childPids(coordinator).keys()].sort(), [js, py].sort(), coordinator.stderr);
    assert.match(coordinator.stderr, new RegExp(`role ${py} \\(python/Repeat\\): /bin/sh -c ".*python3' '[^']*repeat\\.py' ${py} python/Repeat"`));

    // The children announce themselves once they are up: the edges are bound then.
    const bound = [`PUBSUB:\t${noflo}.OUT -> ${py}.IN`, `PUBSUB:\t${py}.OUT -> ${js}.IN`];
    await eventually(() => bound.every((line) => coordinator.stderr.includes(line)), () => `both edges bound: ${coordinator.stderr}`, 20_000);
    for (let n = 0; n < 10; n += 1) {
      await client.protocol.runtime.packet({ graph, port: 'in', event: 'data', payload: { n, via: [] } });
    }
    await eventually(() => packets.length >= 10, () => `10 packets out, got ${JSON.stringify(packets)}`, 15_000);
    assert.deepEqual((packets as Traced[]).sort((a, b) => a.n - b.n), Array.from({ length: 10 }, (_, n) => ({ n, via: ['python'] })));

    // Their stdout, forwarded line by line after the role.
    await eventually(() => coordinator.stdout.includes(`${py}: ${py}(python/Repeat) running on mqtt://`), () => `the Python participant's line on stdout: ${coordinator.stdout}`);
    assert.match(coordinator.stdout, new RegExp(`^${js}: started$`, 'm'));

    // A node removed: its process is stopped.
    const pids = childPids(coordinator);
    await client.protocol.graph.removenode({ id: py, graph });
    assert.equal(processAlive(pids.get(py) as number), false, 'the Python process is gone with its node');
    assert.equal(processAlive(pids.get(js) as number), true);
    coordinator.child.kill('SIGTERM');
    const exit = await coordinator.exited;
    assert.equal(exit.code, 0, exit.stderr);
    await eventually(() => !processAlive(pids.get(js) as number), 'the msgflo-nodejs process gone with the coordinator', 5_000);
    assert.deepEqual(proxy.problems, []);
  });
});
