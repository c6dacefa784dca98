/**
 * TLS: a participant on amqps:// and mqtts:// with a CA, a client
 * certificate and key made for the test, against brokers that require them.
 */
import * as amqp from 'amqplib';
import * as mqtt from 'mqtt';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startMosquitto, startRabbitMQ, type BrokerHandle } from '../harness/brokers';
import { runCli, startCli, withoutWaiting } from '../harness/cli';
import { uniqueRole } from '../harness/client';
import { openFbpSocket } from '../harness/fbp-socket';
import { makeTlsMaterial, type TlsFiles } from '../harness/tls';
import { eventually } from '../harness/wait';

describe('TLS', () => {
  let dir: string;
  let files: TlsFiles;
  let rabbit: BrokerHandle;
  let mosquitto: BrokerHandle;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'msgflo-tls-'));
    files = await makeTlsMaterial(dir);
    const tls = { ca: files.ca, cert: files.serverCert, key: files.serverKey, requireClientCert: true };
    [rabbit, mosquitto] = await Promise.all([startRabbitMQ({ tls }), startMosquitto({ tls })]);
  });
  after(async () => {
    await Promise.all([rabbit?.stop(), mosquitto?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const flags = (): string[] => ['--tls-ca', files.ca, '--tls-cert', files.clientCert, '--tls-key', files.clientKey];

  test('a participant on amqps:// with a client certificate answers', async (t) => {
    const role = uniqueRole();
    const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--broker', rabbit.tlsUrl as string, ...flags()]);
    await runtime.waitForStderr(/is running on amqps:\/\/guest:\*\*\*@127\.0\.0\.1/);
    const socketOptions = { ca: [await readFile(files.ca)], cert: await readFile(files.clientCert), key: await readFile(files.clientKey) };
    const model = await amqp.connect(rabbit.tlsUrl as string, socketOptions);
    t.after(() => model.close());
    const channel = await model.createConfirmChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, `${role}.OUT`, '');
    const answers: string[] = [];
    await channel.consume(queue, (m) => m && answers.push(m.content.toString()), { noAck: true });
    channel.sendToQueue(`${role}.IN`, Buffer.from('"over TLS"'));
    await channel.waitForConfirms();
    await eventually(() => answers.length === 1, 'the answer');
    assert.deepEqual(answers, ['"over TLS"']);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('a participant on mqtts:// with a client certificate answers', async (t) => {
    const role = uniqueRole();
    const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--broker', mosquitto.tlsUrl as string, ...flags()]);
    await runtime.waitForStderr(/is running on mqtts:\/\/127\.0\.0\.1/);
    const client = await mqtt.connectAsync(mosquitto.tlsUrl as string, { ca: await readFile(files.ca), cert: await readFile(files.clientCert), key: await readFile(files.clientKey) });
    t.after(() => client.endAsync());
    const answers: string[] = [];
    client.on('message', (_topic, payload) => answers.push(payload.toString()));
    await client.subscribeAsync(`${role}.OUT`, { qos: 1 });
    const sent = await runCli(t, ['send', '--queue', `${role}.IN`, '--json', '"over TLS"', '--broker', mosquitto.tlsUrl as string, ...flags()]);
    assert.equal(sent.code, 0, sent.stderr);
    await eventually(() => answers.length === 1, 'the answer');
    assert.deepEqual(answers, ['"over TLS"']);
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('setup and the coordinator work over TLS too, and start their participants with it', async (t) => {
    for (const broker of [rabbit, mosquitto]) {
      const [first, second] = [uniqueRole('a'), uniqueRole('b')];
      const file = path.join(dir, `${first}.fbp`);
      await writeFile(file, `${first}(core/Repeat) OUT -> IN ${second}(core/Repeat)\n`);
      if (broker === mosquitto) {
        // On MQTT the bindings are the coordinator's forwarding: setup stays up.
        const setup = startCli(t, ['setup', file, '--participants', '--forever', '--broker', broker.tlsUrl as string, ...flags()]);
        await setup.waitForStderr(/coordinating until SIGTERM/, 60_000);
        assert.match(setup.stderr, new RegExp(`PUBSUB:\\s+${first}\\.OUT -> ${second}\\.IN`));
        setup.child.kill('SIGTERM');
        assert.equal((await setup.exited).code, 0);
      } else {
        const setup = await runCli(t, ['setup', file, '--participants', '--broker', broker.tlsUrl as string, ...flags()], {}, 60_000);
        assert.equal(setup.code, 0, setup.stderr);
        assert.match(setup.stderr, new RegExp(`PUBSUB:\\s+${first}\\.OUT -> ${second}\\.IN`));
      }

      const coordinator = startCli(t, ['coordinator', '--broker', broker.tlsUrl as string, '--port', '0', ...flags()]);
      await coordinator.waitForStderr(/on (ws:\/\/127\.0\.0\.1:\d+)/);
      const client = await openFbpSocket(t, /on (ws:\/\/127\.0\.0\.1:\d+)/.exec(coordinator.stderr)?.[1] as string);
      client.send({ protocol: 'graph', command: 'clear', payload: { id: 'tls', main: true } });
      client.send({ protocol: 'graph', command: 'addnode', payload: { id: first, component: 'core/Repeat', metadata: {}, graph: 'tls' } });
      await eventually(() => client.received.length >= 2, () => `two replies: ${JSON.stringify(client.received)}`);
      assert.deepEqual(client.received.map((m) => `${m.protocol}:${m.command}`), ['graph:clear', 'graph:addnode']);
      coordinator.child.kill('SIGTERM');
      assert.equal((await coordinator.exited).code, 0);
    }
  });

  test('without the CA, the broker certificate is refused with one line', async (t) => {
    const result = await runCli(t, ['--name', 'r', '--graph', 'core/Repeat', '--connect-timeout', '1', '--broker', rabbit.tlsUrl as string, '--tls-cert', files.clientCert, '--tls-key', files.clientKey]);
    assert.equal(result.code, 1);
    // Waited for (and said) until --connect-timeout, as any other failure to connect.
    const lines = withoutWaiting(result.stderr);
    assert.match(lines[0] ?? '', /^noflo-runtime-msgflo: cannot connect to AMQP broker amqps:\/\/guest:\*\*\*@127\.0\.0\.1:\d+: .*(self[- ]signed|certificate)/i);
    assert.equal(lines.length, 1, result.stderr);
  });

  test('without a client certificate, a broker that requires one refuses', async (t) => {
    const result = await runCli(t, ['--name', 'r', '--graph', 'core/Repeat', '--connect-timeout', '1', '--broker', mosquitto.tlsUrl as string, '--tls-ca', files.ca]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot connect to MQTT broker mqtts:\/\/127\.0\.0\.1:\d+/);
  });
});

describe('credentials', () => {
  test('never appear in output, debug logs or discovery, even with DEBUG on', async (t) => {
    const result = await runCli(t, ['--name', 'r', '--graph', 'core/Repeat', '--connect-timeout', '1', '--broker', 'amqp://admin:Sup3rS3cret@127.0.0.1:1'], {
      DEBUG: 'noflo-runtime-msgflo:*',
    });
    assert.equal(result.code, 1);
    assert.doesNotMatch(result.stdout + result.stderr, /Sup3rS3cret/);
    assert.match(result.stderr, /admin:\*\*\*@/);
    const help = await runCli(t, ['--help'], { MSGFLO_BROKER: 'amqp://admin:Sup3rS3cret@127.0.0.1' });
    assert.doesNotMatch(help.stdout + help.stderr, /Sup3rS3cret/);
  });
});
