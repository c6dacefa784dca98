/**
 * The command line as a user meets it: bad input, a message going through
 * with `send` and `dump`, shutdown on SIGTERM.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectClient, uniqueRole } from '../harness/client';
import { runCli, startCli, withoutWaiting } from '../harness/cli';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { amqpUrl, brokerUrls, mqttUrl } from '../harness/env';
import { assertFbpMessages } from '../harness/fbp-schema';
import { openFbpSocket } from '../harness/fbp-socket';
import { FIXTURES, REPO_ROOT } from '../harness/participants';
import { eventually } from '../harness/wait';

describe('command line: bad input stops the start with one line', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown flag', ['--name', 'r', '--graph', 'core/Repeat', '--colour', 'red'], /unknown option '--colour'/],
    ['no --graph', ['--name', 'r'], /missing --graph/],
    ['no --name', ['--graph', 'core/Repeat'], /missing --name/],
    ['a graph that does not exist', ['--name', 'r', '--graph', 'nope/Nope', '--broker', 'mqtt://127.0.0.1:1'], /graph "nope\/Nope" not found/],
    ['a graph file that does not exist', ['--name', 'r', '--graph', 'graphs/Nope.fbp', '--broker', 'mqtt://127.0.0.1:1'], /graphs\/Nope.fbp": no such file/],
    ['a graph file that does not parse', ['--name', 'r', '--graph', 'package.json', '--broker', 'mqtt://127.0.0.1:1'], /cannot parse graph file ".*package.json"/],
    ['an unsupported broker scheme', ['--name', 'r', '--graph', 'core/Repeat', '--broker', 'redis://127.0.0.1'], /unsupported broker URL scheme "redis:".*amqp:\/\//],
    ['a malformed broker URL', ['--name', 'r', '--graph', 'core/Repeat', '--broker', 'amqp//nothing'], /invalid broker URL "amqp\/\/nothing"/],
    ['an unreachable broker', ['--name', 'r', '--graph', 'core/Repeat', '--connect-timeout', '1', '--broker', 'amqp://guest:s3cret@127.0.0.1:1'], /cannot connect to AMQP broker amqp:\/\/guest:\*\*\*@127.0.0.1:1: .*ECONNREFUSED/],
    ['an unreachable MQTT broker', ['--name', 'r', '--graph', 'core/Repeat', '--connect-timeout', '1', '--broker', 'mqtt://127.0.0.1:1'], /cannot connect to MQTT broker mqtt:\/\/127.0.0.1:1: .*ECONNREFUSED/],
    ['a bad --queue-type', ['--name', 'r', '--graph', 'core/Repeat', '--queue-type', 'lazy'], /argument 'lazy' is invalid.*classic, quorum/],
    ['a TLS certificate without its key', ['--name', 'r', '--graph', 'core/Repeat', '--tls-cert', 'x.pem'], /--tls-cert and --tls-key go together/],
    ['a TLS file that does not exist', ['--name', 'r', '--graph', 'core/Repeat', '--broker', 'amqps://127.0.0.1:1', '--tls-ca', 'missing-ca.pem'], /invalid --tls-ca ".*missing-ca.pem": ENOENT/],
    ['a bad --prefetch', ['--name', 'r', '--graph', 'core/Repeat', '--prefetch', 'lots'], /invalid --prefetch "lots"/],
    ['a bad --slow-job', ['--name', 'r', '--graph', 'core/Repeat', '--slow-job', 'soon'], /invalid --slow-job "soon": expected a number of seconds above 0/],
    ['a bad --drain-timeout', ['--name', 'r', '--graph', 'core/Repeat', '--drain-timeout', '0'], /invalid --drain-timeout "0": expected a number of seconds above 0/],
    ['bad --iips', ['--name', 'r', '--graph', 'core/Repeat', '--iips', '{in:'], /invalid --iips "\{in:": not JSON/],
    ['a bad --attr', ['--name', 'r', '--graph', 'core/Repeat', '--attr', 'inports.in.queue'], /invalid --attr "inports.in.queue"/],
    ['send with bad --json', ['send', '--queue', 'q', '--json', 'not json'], /invalid --json "not json"/],
    ['setup with a bad --timeout', ['setup', 'graphs/Nope.fbp', '--timeout', 'soon'], /invalid --timeout "soon": expected seconds/],
  ];
  for (const [what, args, message] of cases) {
    test(what, async (t) => {
      const result = await runCli(t, args);
      assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
      // An unreachable broker is waited for, and that is said, before the failure.
      const lines = withoutWaiting(result.stderr);
      assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
      assert.match(lines[0] ?? '', message);
      assert.doesNotMatch(result.stderr, /s3cret|\n\s+at /, 'no credentials, no stack trace');
    });
  }

  // memory:// is the in-process transport: from the command line it would serve no one.
  const inProcess = /invalid (--broker|MSGFLO_BROKER) "memory:\/\/x": memory:\/\/ is the in-process transport, for use from code/;
  const commands: Array<[string, string[]]> = [
    ['a participant', ['--name', 'r', '--graph', 'core/Repeat']],
    ['--participants', ['--participants', 'spec/fixtures/nothing.json']],
    ['setup', ['setup', 'spec/fixtures/systems/Pair.fbp']],
    ['coordinator', ['coordinator', '--port', '0']],
    ['status', ['status']],
    ['send', ['send', '--queue', 'q', '--json', '1']],
    ['dump', ['dump', '--queue', 'q']],
  ];
  for (const [what, args] of commands) {
    test(`${what} refuses a memory:// broker, from --broker or MSGFLO_BROKER`, async (t) => {
      for (const [flags, env] of [[['--broker', 'memory://x'], {}], [[], { MSGFLO_BROKER: 'memory://x' }]] as const) {
        const result = await runCli(t, [...args, ...flags], env);
        assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
        const lines = result.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
        assert.match(lines[0] ?? '', inProcess);
        assert.doesNotMatch(result.stderr, /is running|listening/);
      }
    });
  }

  test('a participants file naming a memory:// broker is refused', async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msgflo-memory-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'participants.json');
    await writeFile(file, JSON.stringify([{ name: 'a', graph: 'core/Repeat', broker: 'memory://x' }]));
    const result = await runCli(t, ['--participants', file]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /entry 1 \("a"\): "broker" "memory:\/\/x": memory:\/\/ is the in-process transport/);
  });

  test('retries an unreachable broker for --connect-timeout, then gives up', async (t) => {
    const started = Date.now();
    const result = await runCli(t, ['--name', 'r', '--graph', 'core/Repeat', '--connect-timeout', '2', '--broker', 'amqp://127.0.0.1:1']);
    const elapsed = Date.now() - started;
    assert.equal(result.code, 1);
    assert.ok(elapsed >= 2000 && elapsed < 15_000, `gave up after ${elapsed} ms`);
  });

  for (const broker of brokerUrls().filter((b) => b.kind === 'amqp')) {
    test('refuses wrong credentials at once, without printing them', async (t) => {
      const url = broker.url.replace('guest:guest@', 'guest:wr0ng@');
      const started = Date.now();
      const result = await runCli(t, ['--name', 'r', '--graph', 'core/Repeat', '--broker', url]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /cannot connect to AMQP broker amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+: access refused: check the user name and password/);
      assert.doesNotMatch(result.stderr + result.stdout, /wr0ng/);
      assert.ok(Date.now() - started < 10_000, 'no retrying for the connect timeout');
    });
  }

  test('shows a stack trace when DEBUG is set', async (t) => {
    const result = await runCli(t, ['--name', 'r', '--graph', 'nope/Nope', '--broker', 'mqtt://127.0.0.1:1'], { DEBUG: 'nothing-matching' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\n\s+at /);
  });

  test('--help shows the flags and examples', async (t) => {
    const result = await runCli(t, ['--help']);
    assert.equal(result.code, 0);
    for (const flag of ['--name', '--graph', '--broker', '--basedir', '--prefetch', '--deadletter', '--iips', '--attr', '--trace', '--cache', '--dedicated-network', 'send', 'dump', 'Examples:']) {
      assert.ok(result.stdout.includes(flag), `help mentions ${flag}`);
    }
  });
});

for (const broker of brokerUrls()) {
  describe(`command line on ${broker.kind}`, () => {
    test('a message goes through: run, send, dump; SIGTERM exits 0', async (t) => {
      const role = uniqueRole();
      const env = { MSGFLO_BROKER: broker.url };
      const runtime = startCli(t, ['--name', role, '--graph', 'fixtures/Prefixed', '--basedir', FIXTURES, '--iips', '{"prefix": "cli:"}'], env);
      await runtime.waitForStderr(/is running/);
      assert.match(runtime.stderr, new RegExp(`${role}-[0-9a-f-]+ \\(fixtures/Prefixed\\) is running on ${broker.kind}://`));
      assert.ok(!(runtime.stdout + runtime.stderr).includes('guest:guest'), 'the broker password is not printed');

      // send and dump take --broker after the subcommand (no environment).
      const dump = startCli(t, ['dump', '--queue', `${role}.OUT`, '--amount', '2', '--broker', broker.url]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const deadline = Date.now() + 10_000;
      while (!dump.stderr.includes('listening') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      for (const json of ['"one"', '"two"']) {
        const sent = await runCli(t, ['send', '--queue', `${role}.IN`, '--json', json, '--broker', broker.url]);
        assert.equal(sent.code, 0, sent.stderr);
      }
      const dumped = await dump.exited;
      assert.equal(dumped.code, 0, dumped.stderr);
      assert.deepEqual(dumped.stdout.trim().split('\n'), ['"cli:one"', '"cli:two"']);

      runtime.child.kill('SIGTERM');
      const exit = await runtime.exited;
      assert.equal(exit.code, 0, exit.stderr);
    });

    test('SIGTERM lets in-flight jobs finish before exiting', async (t) => {
      const role = uniqueRole();
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const runtime = startCli(t, ['--name', role, '--graph', 'fixtures/Fail', '--basedir', FIXTURES, '--prefetch', '4'], { MSGFLO_BROKER: broker.url });
      await runtime.waitForStderr(/is running/);
      const out = await peer.listen(`${role}.OUT`);
      for (let i = 0; i < 4; i += 1) {
        await peer.send(`${role}.IN`, JSON.stringify({ i, delay: 400 }));
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
      runtime.child.kill('SIGTERM');
      const exit = await runtime.exited;
      assert.equal(exit.code, 0, exit.stderr);
      assert.equal((await out.waitFor(4)).length, 4);
    });
  });
}

describe('command line with no broker configured', () => {
  test('starts the embedded MQTT broker and answers on it', async (t) => {
    const role = uniqueRole();
    const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat']);
    await runtime.waitForStderr(/is running/);
    assert.match(runtime.stderr, /embedded MQTT broker on mqtt:\/\/127\.0\.0\.1:1883|using the MQTT broker on mqtt:\/\/127\.0\.0\.1:1883/);
    const peer = await connectClient('mqtt', 'mqtt://127.0.0.1:1883');
    t.after(() => peer.close());
    const out = await peer.listen(`${role}.OUT`);
    await peer.send(`${role}.IN`, '{"embedded": true}');
    assert.deepEqual(await out.waitFor(1), [{ embedded: true }]);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });
});

describe('command line with --trace', () => {
  test('writes the Flowtrace on SIGUSR2, with the packets of a job', async (t) => {
    const role = uniqueRole();
    const peer = await connectClient('mqtt', mqttUrl());
    t.after(() => peer.close());
    const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--trace', '--broker', mqttUrl()]);
    await runtime.waitForStderr(/is running/);
    const out = await peer.listen(`${role}.OUT`);
    await peer.send(`${role}.IN`, '"traced"');
    await out.waitFor(1);
    runtime.child.kill('SIGUSR2');
    await runtime.waitForStderr(/wrote Flowtrace to (\S+)/);
    const file = /wrote Flowtrace to (\S+)/.exec(runtime.stderr)?.[1] as string;
    t.after(() => rm(file, { force: true }));
    const trace = JSON.parse(await readFile(file, 'utf8')) as { events: Array<{ command: string; payload: { data?: unknown } }> };
    assert.ok(trace.events.some((event) => event.command === 'data' && event.payload.data === 'traced'), `a data event with the packet in ${file}`);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });
});

describe('command line without --trace', () => {
  test('SIGUSR2 says nothing was traced and the participant runs on', async (t) => {
    const role = uniqueRole();
    const peer = await connectClient('mqtt', mqttUrl());
    t.after(() => peer.close());
    const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--broker', mqttUrl()]);
    await runtime.waitForStderr(/is running/);
    runtime.child.kill('SIGUSR2');
    await runtime.waitForStderr(/SIGUSR2: no Flowtrace written: participant "[^"]+" has traced nothing: start it with --trace, or send trace:start over its FBP protocol/);
    const out = await peer.listen(`${role}.OUT`);
    await peer.send(`${role}.IN`, '"still here"');
    assert.deepEqual(await out.waitFor(1), ['still here']);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });
});

describe('command line with --cache', () => {
  test('writes the component manifest (fbp.json) on first start and runs from it', async (t) => {
    const project = await mkdtemp(path.join(os.tmpdir(), 'msgflo-cache-'));
    t.after(() => rm(project, { recursive: true, force: true }));
    await cp(FIXTURES, project, { recursive: true });
    await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(project, 'node_modules'));
    for (const run of [1, 2]) {
      const role = uniqueRole();
      const runtime = startCli(t, ['--name', role, '--graph', 'fixtures/Prefix', '--cache', '--basedir', project, '--broker', mqttUrl()]);
      await runtime.waitForStderr(/is running/);
      const manifest = JSON.parse(await readFile(path.join(project, 'fbp.json'), 'utf8')) as { modules: Array<{ components: Array<{ name: string }> }> };
      const names = manifest.modules.flatMap((m) => m.components.map((c) => c.name));
      assert.ok(names.includes('Prefix'), `run ${run}: fbp.json lists fixtures' Prefix`);
      runtime.child.kill('SIGTERM');
      assert.equal((await runtime.exited).code, 0);
    }
  });
});

describe('command line: exceptions in components', () => {
  test('an exception thrown later fails only its job; the process stays up', async (t) => {
    const role = uniqueRole();
    const peer = await connectClient('amqp', amqpUrl());
    t.after(() => peer.close());
    const runtime = startCli(t, ['--name', role, '--graph', 'fixtures/Throw', '--basedir', FIXTURES, '--deadletter', '*', '--prefetch', '4'], { MSGFLO_BROKER: amqpUrl() });
    await runtime.waitForStderr(/is running/);
    const out = await peer.listen(`${role}.OUT`);
    const dead = await peer.drain(`dead-${role}.IN`);
    await peer.send(`${role}.IN`, '{"later": "thrown from a timer"}');
    await peer.send(`${role}.IN`, '{"reject": "rejected promise"}');
    await peer.send(`${role}.IN`, '"good one"');
    await peer.send(`${role}.IN`, '"another"');
    assert.deepEqual(await out.waitFor(2), ['good one', 'another']);
    await dead.waitFor(2);
    const reasons = dead.headers.map((h) => h?.['x-msgflo-error']).sort();
    assert.deepEqual(reasons, ['rejected promise', 'thrown from a timer']);
    assert.equal(runtime.child.exitCode, null, 'still running');
    await eventually(() => /failed: thrown from a timer/.test(runtime.stderr) && /failed: rejected promise/.test(runtime.stderr), () => `both failures on stderr: ${runtime.stderr}`);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('--crash-on-exception exits as the original did, leaving the message to the broker', async (t) => {
    const role = uniqueRole();
    const peer = await connectClient('amqp', amqpUrl());
    t.after(() => peer.close());
    const runtime = startCli(t, ['--name', role, '--graph', 'fixtures/Throw', '--basedir', FIXTURES, '--crash-on-exception'], { MSGFLO_BROKER: amqpUrl() });
    await runtime.waitForStderr(/is running/);
    await peer.send(`${role}.IN`, '{"later": "fatal"}');
    const exit = await runtime.exited;
    assert.equal(exit.code, 1);
    assert.match(exit.stderr, /uncaught exception: fatal; exiting/);
    const queued = await peer.drain(`${role}.IN`);
    assert.deepEqual(await queued.waitFor(1), [{ later: 'fatal' }], 'the unsettled message is back in its queue');
  });
});

describe('command line with --protocol-port', () => {
  test('serves the FBP runtime protocol over a WebSocket on loopback', async (t) => {
    const role = uniqueRole();
    const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--broker', mqttUrl(), '--protocol-port', '0']);
    await runtime.waitForStderr(/FBP protocol on (ws:\/\/127\.0\.0\.1:\d+)/);
    const client = await openFbpSocket(t, /FBP protocol on (ws:\/\/127\.0\.0\.1:\d+)/.exec(runtime.stderr)?.[1] as string);
    const reply = client.next();
    client.send({ protocol: 'runtime', command: 'getruntime', payload: {}, requestId: 'ws-1' });
    const runtimeMessage = await reply;
    assert.equal(runtimeMessage.command, 'runtime');
    assert.equal(runtimeMessage.responseTo, 'ws-1');
    assert.equal((runtimeMessage.payload as { graph: string }).graph, 'core/Repeat');
    assertFbpMessages([runtimeMessage]);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('with --protocol-full, serves graph editing there', async (t) => {
    const runtime = startCli(t, ['--name', uniqueRole(), '--graph', 'core/Repeat', '--broker', mqttUrl(), '--protocol-port', '0', '--protocol-full']);
    await runtime.waitForStderr(/FBP protocol on (ws:\/\/127\.0\.0\.1:\d+) \(full\)/);
    const client = await openFbpSocket(t, /FBP protocol on (ws:\/\/127\.0\.0\.1:\d+)/.exec(runtime.stderr)?.[1] as string);
    const cleared = client.next();
    client.send({ protocol: 'graph', command: 'clear', payload: { id: 'sketch', name: 'Sketch' } });
    const message = await cleared;
    assert.deepEqual(message, { protocol: 'graph', command: 'clear', payload: { id: 'sketch', name: 'Sketch' } });
    assertFbpMessages([message]);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });
});
