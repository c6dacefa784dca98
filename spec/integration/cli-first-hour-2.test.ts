/**
 * More of the command line as someone new to it meets it: `help` with a
 * typo, a --basedir that is not there, a project without its own noflo, a
 * stale component cache, a participants file with several wrong entries, a
 * failed job's long reason, and the coordinator's graph id. Which stream,
 * which exit code, which first line.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { runCli, startCli, withoutWaiting, type CommandResult } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { amqpUrl, mqttUrl } from '../harness/env';
import { assertFbpMessages } from '../harness/fbp-schema';
import { openFbpSocket, type FbpMessage } from '../harness/fbp-socket';
import { forwardingComponent, temporaryFile, temporaryProject } from '../harness/files';
import { FIXTURES } from '../harness/participants';
import { eventually } from '../harness/wait';

const PROGRAM = 'noflo-runtime-msgflo';
const COMMANDS = ['setup', 'coordinator', 'status', 'procfile', 'send', 'dump', 'version', 'help'];
/** Nothing listens there: a command that got as far as connecting would wait, then fail otherwise. */
const DEAD_MQTT = 'mqtt://127.0.0.1:1';

/** The lines on stderr of a refused call (waiting for a broker aside), checked: exit 1, nothing on stdout. */
function refusalLines(result: CommandResult): string[] {
  assert.equal(result.code, 1, `exit code; stdout: ${result.stdout}; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout');
  return withoutWaiting(result.stderr);
}

/** The one line on stderr of a refused call. */
function refusal(result: CommandResult): string {
  const lines = refusalLines(result);
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  return lines[0] ?? '';
}

/** A component requiring `noflo` by name, as a project's own components do. */
const PLAIN_COMPONENT = `const noflo = require('noflo');
exports.getComponent = () => {
  const c = new noflo.Component({ inPorts: { in: { datatype: 'all' } }, outPorts: { out: { datatype: 'all' } } });
  return c.process((input, output) => output.sendDone({ out: input.getData('in') }));
};
`;

describe('command line: help with a word that is no command', () => {
  test('help sned names the nearest command, as the bare typo does', async (t) => {
    assert.equal(refusal(await runCli(t, ['help', 'sned'])), `${PROGRAM}: unknown command 'sned' (did you mean send?); commands: ${COMMANDS.join(', ')}`);
  });

  test('help frobnicate lists the commands', async (t) => {
    assert.equal(refusal(await runCli(t, ['help', 'frobnicate'])), `${PROGRAM}: unknown command 'frobnicate'; commands: ${COMMANDS.join(', ')}`);
  });

  test('help help is the usage, on stdout', async (t) => {
    const result = await runCli(t, ['help', 'help']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.equal(result.stdout.split('\n')[0], `Usage: ${PROGRAM} [options] [command]`);
  });
});

describe('command line: a --basedir that is not a directory', () => {
  const commands: Array<[string, string[]]> = [
    ['a participant', ['--name', 'r', '--graph', 'core/Repeat', '--broker', DEAD_MQTT]],
    ['--participants', ['--participants', 'workers.json', '--broker', DEAD_MQTT]],
    ['--system', ['--system', 'System.fbp', '--broker', DEAD_MQTT]],
    ['setup', ['setup', 'System.fbp', '--broker', DEAD_MQTT]],
    ['coordinator', ['coordinator', '--port', '0', '--broker', DEAD_MQTT]],
    ['procfile', ['procfile', 'System.fbp']],
  ];
  for (const [what, args] of commands) {
    test(`is refused by ${what}, naming the value`, async (t) => {
      assert.equal(refusal(await runCli(t, [...args, '--basedir', 'no-such-project'])), `${PROGRAM}: invalid --basedir "no-such-project": no such directory`);
    });
  }

  test('a file is refused too', async (t) => {
    const file = await temporaryFile(t, 'notes.txt', 'not a project');
    assert.equal(refusal(await runCli(t, ['procfile', 'System.fbp', '--basedir', file])), `${PROGRAM}: invalid --basedir "${file}": not a directory`);
  });
});

describe('command line: a project without noflo', () => {
  test('a component of it that requires noflo says to install it', async (t) => {
    const dir = await temporaryProject(t, 'bare', { 'components/Plain.js': PLAIN_COMPONENT });
    const line = refusal(await runCli(t, ['--name', 'r', '--graph', 'bare/Plain', '--basedir', dir, '--broker', DEAD_MQTT]));
    assert.equal(line, `${PROGRAM}: cannot load component "bare/Plain": no noflo in ${path.join(dir, 'node_modules')}: install it with "npm install noflo" in ${dir}`);
  });

  test('so does a graph using one', async (t) => {
    const dir = await temporaryProject(t, 'bare', { 'components/Plain.js': PLAIN_COMPONENT, 'graphs/Main.fbp': 'INPORT=p.IN:IN\nOUTPORT=p.OUT:OUT\np(bare/Plain)\n' });
    const line = refusal(await runCli(t, ['--name', 'r', '--graph', 'graphs/Main.fbp', '--basedir', dir, '--broker', DEAD_MQTT]));
    assert.equal(line, `${PROGRAM}: cannot start graph "bare/Main": no noflo in ${path.join(dir, 'node_modules')}: install it with "npm install noflo" in ${dir}`);
  });

  test("the runtime's own components need none there", async (t) => {
    const dir = await temporaryProject(t, 'bare', {});
    const running = startCli(t, ['--name', uniqueRole(), '--graph', 'core/Repeat', '--basedir', dir, '--broker', mqttUrl()]);
    await running.waitForStderr(/is running on/);
    assert.doesNotMatch(running.stderr, /noflo/i);
  });
});

describe('command line: --cache', () => {
  const stale = (dir: string): string => `the component cache ${path.join(dir, 'fbp.json')} may be stale: delete it or run without --cache`;

  test('a component added since the cache was written is not found, and the cache is named', async (t) => {
    const dir = await temporaryProject(t, 'cached', { 'components/Old.js': forwardingComponent() });
    // The first start writes the cache: just written, it is not stale, and not named.
    const first = refusal(await runCli(t, ['--name', 'r', '--graph', 'cached/New', '--basedir', dir, '--cache', '--broker', DEAD_MQTT]));
    assert.equal(first, `${PROGRAM}: graph "cached/New" not found: no such file, and no component or graph of that name in "${dir}" (check the name and --basedir)`);

    await writeFile(path.join(dir, 'components', 'New.js'), forwardingComponent());
    const named = refusal(await runCli(t, ['--name', 'r', '--graph', 'cached/New', '--basedir', dir, '--cache', '--broker', DEAD_MQTT]));
    assert.equal(named, `${PROGRAM}: graph "cached/New" not found: no such file, and no component or graph of that name in "${dir}" (check the name and --basedir; ${stale(dir)})`);

    await writeFile(path.join(dir, 'Uses.fbp'), 'INPORT=n.IN:IN\nn(cached/New)\n');
    const inGraph = refusal(await runCli(t, ['--name', 'r', '--graph', 'Uses.fbp', '--basedir', dir, '--cache', '--broker', DEAD_MQTT]));
    assert.equal(inGraph, `${PROGRAM}: graph file "${path.join(dir, 'Uses.fbp')}": node "n" uses component "cached/New", which is not installed: no component or graph of that name in "${dir}" (${stale(dir)})`);
  });

  test('without --cache, a name not found says nothing of a cache', async (t) => {
    const dir = await temporaryProject(t, 'cached', { 'components/Old.js': forwardingComponent(), 'fbp.json': '{"version": 1, "modules": []}' });
    const line = refusal(await runCli(t, ['--name', 'r', '--graph', 'cached/Nope', '--basedir', dir, '--broker', DEAD_MQTT]));
    assert.equal(line, `${PROGRAM}: graph "cached/Nope" not found: no such file, and no component or graph of that name in "${dir}" (check the name and --basedir)`);
  });
});

describe('command line: a participants file with several wrong entries', () => {
  test('names every one of them, a line each', async (t) => {
    const entries = [{ name: 'ok', graph: 'core/Repeat' }, { graph: 'core/Repeat' }, { name: 'c', graph: 'core/Repeat', colour: 'red' }, 'core/Repeat', { name: 'e', graph: 'core/Repeat', broker: 5672 }];
    const file = await temporaryFile(t, 'participants.json', JSON.stringify(entries));
    const lines = refusalLines(await runCli(t, ['--participants', file, '--broker', DEAD_MQTT]));
    const where = (n: number): string => `${PROGRAM}: participants file "${file}", entry ${n}`;
    assert.equal(lines.length, 4, lines.join('\n'));
    assert.equal(lines[0], `${where(2)}: "name" is required and must be a string`);
    assert.match(lines[1] ?? '', new RegExp(`^${escape(where(3))}: unknown option "colour" \\(known: name, graph, `));
    assert.equal(lines[2], `${where(4)}: expected an object like {"name": "repeat", "graph": "core/Repeat"}`);
    assert.equal(lines[3], `${where(5)} ("e"): "broker" must be a URL, a comma-separated list of URLs or an array of URLs, got a number`);
  });

  test('one wrong entry is one line, as before', async (t) => {
    const file = await temporaryFile(t, 'participants.json', JSON.stringify([{ name: 'ok', graph: 'core/Repeat' }, { name: 'b' }]));
    assert.equal(refusal(await runCli(t, ['--participants', file, '--broker', DEAD_MQTT])), `${PROGRAM}: participants file "${file}", entry 2: "graph" is required and must be a string`);
  });
});

/** `text` as a literal piece of a regular expression. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('command line: a failed job with a long reason', () => {
  // A first line longer than a warning shows, and more lines after it.
  const longReason = `${'the first line of a very long failure, '.repeat(8)}end\n${'  at a stack frame (somewhere.js:1:1)\n'.repeat(20)}the last line`;
  const FAILED_LINE = /^noflo-runtime-msgflo: job on (\S+) port in failed: (.*)… \((\d+) more characters; (.*)\)$/m;

  test('AMQP: stderr shows its first 200 characters; the dead letter carries it whole', async (t) => {
    const role = uniqueRole('long');
    const running = startCli(t, ['--name', role, '--graph', 'fixtures/Fail', '--basedir', FIXTURES, '--deadletter', '*', '--broker', amqpUrl()]);
    await running.waitForStderr(/is running on/);
    const peer = await connectClient('amqp', amqpUrl());
    t.after(() => peer.close());
    const dead = await peer.drain(`dead-${role}.IN`);
    await peer.send(`${role}.IN`, JSON.stringify({ fail: longReason }));
    await dead.waitFor(1);
    const full = String(dead.headers[0]?.['x-msgflo-error']);
    assert.ok(full.includes(longReason), `the dead letter's reason is whole: ${full}`);

    await running.waitForStderr(FAILED_LINE);
    const [line, shownRole, shown, more, where] = FAILED_LINE.exec(running.stderr) ?? [];
    assert.equal(shownRole, role);
    assert.equal(shown?.length, 200, line);
    assert.ok(full.startsWith(shown ?? '?'), `the shown part begins the reason: ${line}`);
    assert.equal(Number(more), full.trim().length - 200);
    assert.equal(where, 'the full reason is in the dead letter');
    assert.doesNotMatch(running.stderr, /stack frame|the last line/, 'no more of it on stderr');
  });

  test('MQTT: the warning says where the whole reason is logged; --log-format json logs it whole', async (t) => {
    const role = uniqueRole('long');
    const text = startCli(t, ['--name', role, '--graph', 'fixtures/Fail', '--basedir', FIXTURES, '--deadletter', '*', '--broker', mqttUrl()]);
    await text.waitForStderr(/is running on/);
    const peer = await connectClient('mqtt', mqttUrl());
    t.after(() => peer.close());
    await peer.send(`${role}.IN`, JSON.stringify({ fail: longReason }));
    await text.waitForStderr(FAILED_LINE);
    const [, , shown, , where] = FAILED_LINE.exec(text.stderr) ?? [];
    assert.equal(shown?.length, 200);
    assert.equal(where, '--log-format json logs the full reason');

    const jsonRole = uniqueRole('long');
    const json = startCli(t, ['--name', jsonRole, '--graph', 'fixtures/Fail', '--basedir', FIXTURES, '--log-format', 'json', '--broker', mqttUrl()]);
    await json.waitForStderr(/is running on/);
    await peer.send(`${jsonRole}.IN`, JSON.stringify({ fail: longReason }));
    await json.waitForStdout(/"outcome":"nack"/);
    const logged = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { outcome: string; reason?: string })
      .filter((entry) => entry.outcome === 'nack');
    assert.equal(logged.length, 1, json.stdout);
    assert.ok(logged[0]?.reason?.includes(longReason), `the JSON line's reason is whole: ${logged[0]?.reason}`);
    assert.doesNotMatch(json.stderr, /failed:/, 'no warning besides the JSON line');
  });
});

describe('coordinator: the graph id', () => {
  test('is printed, and requests may name the graph by it or by its file', async (t) => {
    const runtime = startCli(t, ['coordinator', '--graph', 'systems/Pair.fbp', '--basedir', FIXTURES, '--broker', amqpUrl(), '--port', '0']);
    const SERVING = /^FBP runtime for Pair\.fbp on (ws:\/\/127\.0\.0\.1:\d+) \(runtime id [0-9a-f-]{36}, graph "Pair"\); connect Flowhub to it$/m;
    await runtime.waitForStderr(SERVING);
    const address = SERVING.exec(runtime.stderr)?.[1] as string;
    const { received, send } = await openFbpSocket(t, address);
    const ask = async (graph: string, requestId: string): Promise<FbpMessage> => {
      send({ protocol: 'network', command: 'getstatus', payload: { graph }, requestId });
      await eventually(() => received.some((m) => m.responseTo === requestId), `a reply to ${requestId}`);
      return received.find((m) => m.responseTo === requestId) as FbpMessage;
    };

    const byId = await ask('Pair', 'q1');
    assert.equal(byId.command, 'status');
    assert.equal(byId.payload.graph, 'Pair');
    const byFile = await ask('Pair.fbp', 'q2');
    assert.equal(byFile.command, 'status');
    assert.equal(byFile.payload.graph, 'Pair.fbp');
    const other = await ask('Other.fbp', 'q3');
    assert.deepEqual([other.command, other.payload.message], ['error', 'Requested graph not found']);

    // A graph made afresh has its new id only.
    send({ protocol: 'graph', command: 'clear', payload: { id: 'fresh', main: true }, requestId: 'q4' });
    await eventually(() => received.some((m) => m.responseTo === 'q4'), 'graph:clear answered');
    const old = await ask('Pair.fbp', 'q5');
    assert.deepEqual([old.command, old.payload.message], ['error', 'Requested graph not found']);
    assertFbpMessages(received);
  });
});
