/**
 * What a plain participant loads: `--name X --graph core/Repeat --broker URL`
 * with no --http-port, --protocol-port, --protocol-full or --trace loads
 * noflo and its broker's client library, and none of what it does not use
 * (the other protocol's client, metrics, the WebSocket server, the full FBP
 * runtime, Flowtrace, the embedded broker, the page's layout engine, the
 * other commands). What was loaded is written at exit by
 * spec/fixtures/loaded-modules.js, preloaded through NODE_OPTIONS, after the
 * participant answered a message.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { startCli, type RunningCommand } from '../harness/cli';
import { connectClient, uniqueRole, type TestClient } from '../harness/client';
import { brokerUrls } from '../harness/env';
import { FIXTURES } from '../harness/participants';

const HOOK = path.join(FIXTURES, 'loaded-modules.js');

/**
 * Packages a plain participant on any broker does not load. (noflo itself
 * loads fbp-manifest and, through it, tv4; mqtt.js loads ws.) `typescript`
 * is installed here, where NoFlo's loader would load it for nothing.
 */
const NEVER = ['prom-client', '@opentelemetry/api', 'noflo-runtime-base', 'flowtrace', 'aedes', 'elkjs', 'typescript'];

/** This program's modules a plain participant does not load: the other commands', the host's, the metrics, the page, the WebSocket server, the full FBP runtime. */
const NEVER_OWN = [
  'src/cli/coordinator', 'src/cli/setup', 'src/cli/status', 'src/cli/send', 'src/cli/dump', 'src/cli/procfile', 'src/cli/host',
  'src/ops/metrics', 'src/ops/system-endpoint', 'src/ops/system-view', 'src/ops/page',
  'src/fbp/websocket', 'src/participant/fbp-full', 'src/coordinator/coordinator', 'src/host/host',
];

type Kind = 'amqp' | 'mqtt';

/** Its broker's client library and transport, loaded. */
const OWN: Record<Kind, readonly string[]> = { amqp: ['amqplib', 'src/transport/amqp'], mqtt: ['mqtt', 'src/transport/mqtt'] };

/** The other protocol's client library and transport, not loaded. */
const OTHER: Record<Kind, readonly string[]> = { amqp: ['mqtt', 'ws', 'src/transport/mqtt'], mqtt: ['amqplib', 'src/transport/amqp'] };

/**
 * Run a core/Repeat participant with `extra` flags on `broker`, check that it
 * repeats a message, do `meanwhile`, stop it with SIGTERM (exit 0) and
 * return what it had loaded: package names and `src/...` modules.
 */
async function loadedBy(
  t: TestContext,
  broker: { kind: Kind; url: string },
  extra: readonly string[] = [],
  meanwhile: (runtime: RunningCommand, peer: TestClient, role: string) => Promise<void> = async () => undefined,
): Promise<string[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msgflo-lean-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'loaded.txt');
  const role = uniqueRole('lean');
  const peer = await connectClient(broker.kind, broker.url);
  t.after(() => peer.close());
  const out = await peer.listen(`${role}.OUT`);
  const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${HOOK}`.trim(), LOADED_MODULES_FILE: file };
  const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--broker', broker.url, ...extra], env);
  await runtime.waitForStderr(/is running/);
  await peer.send(`${role}.IN`, JSON.stringify({ lean: true }));
  assert.deepEqual(await out.waitFor(1), [{ lean: true }], 'the participant repeated the message');
  await meanwhile(runtime, peer, role);
  runtime.child.kill('SIGTERM');
  const exit = await runtime.exited;
  assert.equal(exit.code, 0, exit.stderr);
  const loaded = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  const needed = ['commander', 'noflo', 'src/cli/main', 'src/cli/run', 'src/participant/participant', ...OWN[broker.kind]];
  assert.deepEqual(needed.filter((name) => !loaded.includes(name)), [], `what it runs on, loaded: ${loaded.join(', ')}`);
  return loaded;
}

/** Those of `names` that are in `loaded`. */
const among = (loaded: readonly string[], names: readonly string[]): string[] => names.filter((name) => loaded.includes(name));

for (const broker of brokerUrls()) {
  describe(`a plain participant on ${broker.kind} loads only what it uses`, () => {
    test(`none of ${[...OTHER[broker.kind], ...NEVER].join(', ')}, nor the other commands' modules`, async (t) => {
      const loaded = await loadedBy(t, broker);
      assert.deepEqual(among(loaded, [...OTHER[broker.kind], ...NEVER, ...NEVER_OWN]), [], `loaded though unused: ${loaded.join(', ')}`);
    });

    test('with --http-port, loads prom-client for /metrics, and still no WebSocket server', async (t) => {
      const loaded = await loadedBy(t, broker, ['--http-port', '0']);
      assert.deepEqual(among(loaded, ['prom-client', 'src/ops/metrics']), ['prom-client', 'src/ops/metrics'], loaded.join(', '));
      assert.deepEqual(among(loaded, ['src/fbp/websocket', 'noflo-runtime-base', 'flowtrace']), [], loaded.join(', '));
    });

    test('with --trace, loads flowtrace, and no metrics', async (t) => {
      const loaded = await loadedBy(t, broker, ['--trace']);
      assert.deepEqual(among(loaded, ['flowtrace', 'prom-client']), ['flowtrace'], loaded.join(', '));
    });

    test('loads flowtrace at trace:start over its FBP queue pair, and not noflo-runtime-base', async (t) => {
      const loaded = await loadedBy(t, broker, [], async (runtime, peer, role) => {
        const id = new RegExp(`(${role}-[0-9a-f-]+) \\(core/Repeat\\) is running`).exec(runtime.stderr)?.[1];
        assert.ok(id, runtime.stderr);
        const replies = await peer.listen(`.fbp.${id}.send`);
        await peer.send(`.fbp.${id}.receive`, JSON.stringify({ protocol: 'trace', command: 'start', payload: { graph: 'core/Repeat' }, requestId: 'lean' }));
        const [reply] = await replies.waitFor(1);
        assert.deepEqual(reply, { protocol: 'trace', command: 'start', payload: { graph: 'core/Repeat', buffersize: 400 }, responseTo: 'lean' });
      });
      assert.deepEqual(among(loaded, ['flowtrace', 'noflo-runtime-base', 'src/participant/fbp-full']), ['flowtrace'], loaded.join(', '));
    });
  });
}
