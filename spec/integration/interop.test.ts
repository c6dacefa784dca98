/**
 * Interoperability with the published MsgFlo world (npm `msgflo` 0.12 and its
 * `msgflo-nodejs`), on RabbitMQ: their coordinator binds our participants,
 * and our coordinator binds their participant to ours.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { Coordinator } from '../../src/coordinator/coordinator';
import { Host } from '../../src/host/host';
import { loadGraphFile } from '../../src/runtime/graph-source';
import { createTransport } from '../../src/transport';
import { requestAnnouncements } from '../../src/coordinator/discovery-request';
import { connectClient, uniqueRole } from '../harness/client';
import { amqpUrl } from '../harness/env';
import { FIXTURES, REPO_ROOT } from '../harness/participants';
import { temporaryFile } from '../harness/files';
import { eventually } from '../harness/wait';

/** msgflo's setup command. */
const MSGFLO_SETUP = path.join(REPO_ROOT, 'node_modules', 'msgflo', 'bin', 'msgflo-setup');

function systemFile(t: TestContext, text: string): Promise<string> {
  return temporaryFile(t, 'System.fbp', text);
}

function host(t: TestContext): Host {
  // A short discovery period: their coordinator reads announcements as they come.
  const result = new Host({ broker: amqpUrl(), basedir: FIXTURES, discoveryPeriod: 1 }, {});
  t.after(() => result.stop());
  return result;
}

describe('interoperability with msgflo 0.12 on RabbitMQ', () => {
  test("msgflo-setup discovers our participants and binds them; data flows", async (t) => {
    const [first, second] = [uniqueRole('first'), uniqueRole('second')];
    const file = await systemFile(t, `${first}(core/Repeat) OUT -> IN ${second}(core/Repeat)\n`);
    const ours = host(t);
    await ours.add({ name: first, graph: 'core/Repeat' });
    await ours.add({ name: second, graph: 'core/Repeat' });
    // One that stops cleanly (saying it leaves) and one asked to announce
    // itself, as our coordinators do: msgflo-setup must meet nothing in fbp
    // but announcements (it ends on anything else).
    const leaving = uniqueRole('leaving');
    await ours.add({ name: leaving, graph: 'core/Repeat' });
    await ours.remove(leaving);
    const asking = createTransport(amqpUrl());
    await asking.connect();
    await requestAnnouncements(asking);
    await asking.close();

    // Its setup, as msgflo users run it (a process of its own: its library
    // keeps its broker connection, and with it a consumer of fbp, open).
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [MSGFLO_SETUP, file, '--broker', amqpUrl(), '--discover', 'true', '--timeout', '15'], { cwd: REPO_ROOT });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('close', (code) => resolve({ code, output }));
    });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, new RegExp(`${first}\\.OUT -> ${second}\\.IN`));

    const peer = await connectClient('amqp', amqpUrl());
    t.after(() => peer.close());
    const out = await peer.listen(`${second}.OUT`);
    await peer.send(`${first}.IN`, '{"bound by": "msgflo"}');
    assert.deepEqual(await out.waitFor(1), [{ 'bound by': 'msgflo' }]);
  });

  test('our coordinator binds a msgflo-nodejs participant (its Repeat example) to ours, both ways', async (t) => {
    const [ours1, theirs, ours2] = [uniqueRole('ours'), uniqueRole('theirs'), uniqueRole('ours')];
    const file = await systemFile(t, `${ours1}(core/Repeat) OUT -> IN ${theirs}(Repeat) OUT -> IN ${ours2}(core/Repeat)\n`);
    const coordinator = new Coordinator(createTransport(amqpUrl()));
    t.after(() => coordinator.stop());
    await coordinator.start();
    await coordinator.load(await loadGraphFile(file));

    const ourHost = host(t);
    await ourHost.add({ name: ours1, graph: 'core/Repeat' });
    await ourHost.add({ name: ours2, graph: 'core/Repeat' });
    const theirProcess = spawn(process.execPath, [path.join(FIXTURES, 'interop', 'msgflo-nodejs-repeat.js'), amqpUrl(), theirs], { cwd: REPO_ROOT });
    t.after(() => {
      theirProcess.kill('SIGTERM');
    });
    let theirOutput = '';
    theirProcess.stdout.on('data', (chunk: Buffer) => (theirOutput += chunk.toString()));
    theirProcess.stderr.on('data', (chunk: Buffer) => (theirOutput += chunk.toString()));
    await eventually(() => theirOutput.includes('started'), () => `their participant started: ${theirOutput}`);

    await coordinator.waitForSystem(15_000);
    await eventually(() => coordinator.bindings().length === 2, () => `two bindings, got ${JSON.stringify(coordinator.bindings())}`);
    assert.deepEqual(
      coordinator.bindings().map((b) => `${b.src} -> ${b.tgt}`).sort(),
      [`${ours1}.OUT -> ${theirs}.IN`, `${theirs}.OUT -> ${ours2}.IN`].sort(),
    );
    const peer = await connectClient('amqp', amqpUrl());
    t.after(() => peer.close());
    const out = await peer.listen(`${ours2}.OUT`);
    await peer.send(`${ours1}.IN`, '{"through": ["ours", "theirs", "ours"]}');
    assert.deepEqual(await out.waitFor(1), [{ through: ['ours', 'theirs', 'ours'] }]);
  });
});
