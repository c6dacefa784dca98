/**
 * The setup command tells the truth and delivers IIPs when they can do their
 * work: a binding it could not make fails it, naming the binding; on MQTT it
 * refuses to bind without staying up; under --forever it waits for late
 * roles; IIPs go once the bindings behind them are made, exactly once, and
 * again to a participant that starts later.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { Host } from '../../src/host/host';
import { discoveryMessage } from '../../src/protocol/definition';
import { createTransport } from '../../src/transport';
import { connectClient, uniqueRole } from '../harness/client';
import { runCli, startCli, type RunningCommand } from '../harness/cli';
import { amqpUrl, brokerUrls, mqttUrl } from '../harness/env';
import { temporaryFile } from '../harness/files';
import { FIXTURES } from '../harness/participants';
import { eventually } from '../harness/wait';

const PREFIX = 'noflo-runtime-msgflo: ';

function startHost(t: TestContext, url: string): Host {
  const host = new Host({ broker: url, basedir: FIXTURES, discoveryPeriod: 2 }, {});
  t.after(() => host.stop());
  return host;
}

/** Start `setup ... --forever` and wait until it coordinates. */
async function coordinating(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunningCommand> {
  const setup = startCli(t, ['setup', ...args, '--basedir', FIXTURES, '--forever'], env);
  await setup.waitForStderr(/coordinating until SIGTERM/, 30_000);
  return setup;
}

async function stopped(command: RunningCommand): Promise<void> {
  command.child.kill('SIGTERM');
  const exit = await command.exited;
  assert.equal(exit.code, 0, exit.stderr);
}

/** Lines of stderr matching `pattern`. */
function lines(text: string, pattern: RegExp): string[] {
  return text.split('\n').filter((line) => pattern.test(line));
}

describe('setup: a binding it could not make', () => {
  test('an edge naming a port its role lacks: exit 1, the edge named on stderr (AMQP)', async (t) => {
    const [a, b] = [uniqueRole('a'), uniqueRole('b')];
    const graph = await temporaryFile(t, 'System.fbp', `${a}(core/Repeat) NOPE -> IN ${b}(core/Repeat)\n`);
    const result = await runCli(t, ['setup', graph, '--basedir', FIXTURES, '--participants', '--broker', amqpUrl()], {}, 30_000);
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(lines(result.stderr, /cannot bind/), [`${PREFIX}cannot bind edge ${a} NOPE -> IN ${b}: role "${a}" (core/Repeat) has no outport "nope" with a queue`]);
    assert.match(result.stderr, /the system is incomplete \(each failure named above\): 1 edge cannot be bound\n$/);
    assert.match(result.stderr, /bound 0 bindings for 2 roles/);
  });

  test('the same on MQTT under --forever: said, and it keeps coordinating', async (t) => {
    const [a, b] = [uniqueRole('a'), uniqueRole('b')];
    const graph = await temporaryFile(t, 'System.fbp', `${a}(core/Repeat) NOPE -> IN ${b}(core/Repeat)\n`);
    const setup = await coordinating(t, [graph, '--participants', '--broker', mqttUrl()]);
    assert.deepEqual(lines(setup.stderr, /cannot bind/), [`${PREFIX}cannot bind edge ${a} NOPE -> IN ${b}: role "${a}" (core/Repeat) has no outport "nope" with a queue`]);
    assert.match(setup.stderr, /1 edge cannot be bound; each is tried again as participants come, go or change/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(setup.child.exitCode, null, 'still running');
    await stopped(setup);
  });

  test('a binding RabbitMQ refuses (the target queue does not exist): exit 1, the binding named on stderr', async (t) => {
    const [a, ghost] = [uniqueRole('a'), uniqueRole('ghost')];
    // A participant elsewhere that announces an inqueue it never declared.
    const announcer = createTransport(amqpUrl());
    await announcer.connect();
    t.after(() => announcer.close());
    await announcer.announce(
      discoveryMessage({ id: `${ghost}-1`, role: ghost, component: 'elsewhere/Ghost', inports: [{ id: 'in', type: 'all', queue: `${ghost}.IN` }], outports: [] }),
      60_000,
    );
    const graph = await temporaryFile(t, 'System.fbp', `${a}(core/Repeat) OUT -> IN ${ghost}(elsewhere/Ghost)\n`);
    const result = await runCli(t, ['setup', graph, '--basedir', FIXTURES, '--participants', '--broker', amqpUrl(), '--timeout', '10'], {}, 30_000);
    assert.equal(result.code, 1, result.stderr);
    const failed = lines(result.stderr, /cannot bind/);
    assert.equal(failed.length, 1, result.stderr);
    assert.match(failed[0] ?? '', new RegExp(`^${PREFIX}cannot bind PUBSUB ${a}\\.OUT -> ${ghost}\\.IN \\(edge ${a} OUT -> IN ${ghost}\\): .*NOT_FOUND`));
    assert.match(result.stderr, /1 binding refused\n$/);
  });
});

describe('setup on MQTT', () => {
  test('without --forever: refused before binding anything, naming --forever; with it: binds, and keeps forwarding', async (t) => {
    const [a, b] = [uniqueRole('a'), uniqueRole('b')];
    const graph = await temporaryFile(t, 'System.fbp', `${a}(core/Repeat) OUT -> IN ${b}(core/Repeat)\n`);
    const refused = await runCli(t, ['setup', graph, '--basedir', FIXTURES, '--participants', '--broker', mqttUrl()]);
    assert.equal(refused.code, 1);
    assert.deepEqual(refused.stderr.trim().split('\n'), [`${PREFIX}on MQTT bindings need a running coordinator: add --forever or use the coordinator command`]);
    assert.equal(refused.stdout, '', 'nothing bound, no participant started');

    const host = startHost(t, mqttUrl());
    await host.add({ name: a, graph: 'core/Repeat' });
    await host.add({ name: b, graph: 'core/Repeat' });
    const setup = await coordinating(t, [graph, '--broker', mqttUrl()]);
    assert.match(setup.stderr, new RegExp(`PUBSUB:\\t${a}\\.OUT -> ${b}\\.IN`));
    const peer = await connectClient('mqtt', mqttUrl());
    t.after(() => peer.close());
    const out = await peer.listen(`${b}.OUT`);
    await peer.send(`${a}.IN`, '"one"');
    assert.deepEqual(await out.waitFor(1), ['one']);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await peer.send(`${a}.IN`, '"two"');
    assert.deepEqual(await out.waitFor(2), ['one', 'two'], 'still forwarded seconds later');
    await stopped(setup);
  });

  test('a graph without edges (IIPs only) needs nothing forwarded: setup sends the IIPs and exits 0', async (t) => {
    const p = uniqueRole('p');
    const host = startHost(t, mqttUrl());
    await host.add({ name: p, graph: 'fixtures/Prefix' });
    const graph = await temporaryFile(t, 'System.fbp', `'x:' -> PREFIX ${p}(fixtures/Prefix)\n`);
    const result = await runCli(t, ['setup', graph, '--basedir', FIXTURES, '--broker', mqttUrl()]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(lines(result.stderr, /^sent /), [`sent 1 IIP to ${p}.PREFIX`]);
    const peer = await connectClient('mqtt', mqttUrl());
    t.after(() => peer.close());
    const out = await peer.listen(`${p}.OUT`);
    await peer.send(`${p}.IN`, '"y"');
    assert.deepEqual(await out.waitFor(1), ['x:y']);
  });
});

for (const { kind, url } of brokerUrls()) {
  describe(`setup on ${kind}`, () => {
    test('--forever waits for a role no runtime here provides: said after --timeout, bound when it appears', async (t) => {
      const [a, late] = [uniqueRole('a'), uniqueRole('late')];
      const graph = await temporaryFile(t, 'System.fbp', `${a}(core/Repeat) OUT -> IN ${late}(elsewhere/Late)\n`);
      const setup = await coordinating(t, [graph, '--participants', '--broker', url, '--timeout', '2']);
      assert.deepEqual(lines(setup.stderr, /no participant/), [`${PREFIX}role "${late}" (elsewhere/Late): no participant discovered within 2 s; will bind when it appears`]);
      assert.match(setup.stderr, /bound 0 bindings for 2 roles/);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal(setup.child.exitCode, null, 'still running after the timeout');

      const host = startHost(t, url);
      await host.add({ name: late, graph: 'core/Repeat' });
      await setup.waitForStderr(new RegExp(`PUBSUB:\\t${a}\\.OUT -> ${late}\\.IN`));
      const peer = await connectClient(kind, url);
      t.after(() => peer.close());
      const out = await peer.listen(`${late}.OUT`);
      await peer.send(`${a}.IN`, '"late but bound"');
      assert.deepEqual(await out.waitFor(1), ['late but bound']);
      await stopped(setup);
    });

    test('--participants: the IIP goes once the binding behind its role is made, exactly once', async (t) => {
      const [a, b] = [uniqueRole('a'), uniqueRole('b')];
      const graph = await temporaryFile(t, 'System.fbp', `'World' -> IN ${a}(core/Repeat)\n${a} OUT -> IN ${b}(core/Repeat)\n`);
      const peer = await connectClient(kind, url);
      t.after(() => peer.close());
      const out = await peer.listen(`${b}.OUT`);
      const setup = await coordinating(t, [graph, '--participants', '--broker', url]);
      assert.deepEqual(await out.waitFor(1), ['World']);
      assert.deepEqual(await out.settle(2000), ['World'], 'no second one');
      assert.deepEqual(lines(setup.stderr, /^sent /), [`sent 1 IIP to ${a}.IN`]);
      await stopped(setup);
    });

    test('a participant restarted under a running coordinator gets its IIP again; a coordinator restart sends it once', async (t) => {
      const p = uniqueRole('p');
      const graph = await temporaryFile(t, 'System.fbp', `'cfg:' -> PREFIX ${p}(fixtures/Prefix)\n`);
      // Announcing every second: a coordinator restarted hears them again after its IIPs went out.
      const env = { MSGFLO_DISCOVERY_PERIOD: '2' };
      const participant = (): RunningCommand => startCli(t, ['--name', p, '--graph', 'fixtures/Prefix', '--basedir', FIXTURES, '--broker', url], env);
      let first = participant();
      await first.waitForStderr(/is running/);
      const setupArgs = [graph, '--broker', url, '--timeout', '20'];
      let setup = await coordinating(t, setupArgs);
      const peer = await connectClient(kind, url);
      t.after(() => peer.close());
      const out = await peer.listen(`${p}.OUT`);
      await peer.send(`${p}.IN`, '"first"');
      assert.deepEqual(await out.waitFor(1), ['cfg:first']);
      assert.deepEqual(lines(setup.stderr, /^sent /), [`sent 1 IIP to ${p}.PREFIX`]);

      await stopped(first);
      first = participant();
      await first.waitForStderr(/is running/);
      const id = /(\S+) \(fixtures\/Prefix\) is running/.exec(first.stderr)?.[1] as string;
      await eventually(() => setup.stderr.includes(`sent the IIPs of role ${p} again: a new participant ${id} started`), () => `sent again: ${setup.stderr}`);
      await peer.send(`${p}.IN`, '"second"');
      assert.deepEqual(await out.waitFor(2), ['cfg:first', 'cfg:second'], 'the restarted participant has its configuration');

      // A second replica of the role, then the coordinator restarted with both kept running.
      const second = participant();
      await second.waitForStderr(/is running/);
      await eventually(() => lines(setup.stderr, /^sent the IIPs .* again/).length === 2, () => `sent again for the new replica: ${setup.stderr}`);
      await stopped(setup);
      setup = await coordinating(t, setupArgs);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      assert.deepEqual(lines(setup.stderr, /^sent /), [`sent 1 IIP to ${p}.PREFIX`], 'once at its start; participants heard again do not get it again');
      await stopped(setup);
      await stopped(first);
      await stopped(second);
    });
  });
}

describe("setup: msgflo-setup's --ignore and --only", () => {
  test('--ignore ROLE: neither started nor bound; --only names roles the graph has', async (t) => {
    const [a, b, c] = [uniqueRole('a'), uniqueRole('b'), uniqueRole('c')];
    const graph = await temporaryFile(t, 'System.fbp', `${a}(core/Repeat) OUT -> IN ${b}(core/Repeat) OUT -> IN ${c}(core/Repeat)\n`);
    const result = await runCli(t, ['setup', graph, '--basedir', FIXTURES, '--participants', '--broker', amqpUrl(), '--ignore', c], {}, 30_000);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /bound 1 binding for 2 roles/);
    assert.deepEqual(lines(result.stderr, /^PUBSUB:/), [`PUBSUB:\t${a}.OUT -> ${b}.IN`]);
    assert.equal(result.stderr.includes(`${c}-`), false, 'no participant of the ignored role');
    const unknown = await runCli(t, ['setup', graph, '--basedir', FIXTURES, '--participants', '--broker', amqpUrl(), '--only', `${a},nope`]);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, `${PREFIX}--only nope: the graph has no role "nope" (it has: ${a}, ${b}, ${c})\n`);
  });
});
