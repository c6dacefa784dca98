/**
 * Graphs are checked before they run: what a user sees when a graph cannot
 * run (one line, exit 1, at once), and that what can run still does: a
 * project with a malformed graph file, a name without its library, a graph
 * without ports. Each project is made in a temporary folder.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { uniqueRole } from '../harness/client';
import { runCli, startCli, type CommandResult } from '../harness/cli';
import { mqttUrl } from '../harness/env';
import { openFbpSocket } from '../harness/fbp-socket';
import { forwardingComponent, temporaryFile, temporaryProject } from '../harness/files';
import { eventually } from '../harness/wait';

/** How soon a graph that cannot run must be refused. */
const REFUSED_WITHIN_MS = 5_000;

const REPEAT = 'INPORT=r.IN:IN\nOUTPORT=r.OUT:OUT\nr(core/Repeat)\n';

/** A project whose graph Silent took the name of its component Silent, and uses it: it includes itself. */
function selfIncluding(t: TestContext): Promise<string> {
  return temporaryProject(t, 'myproject', {
    'components/Silent.js': forwardingComponent(),
    'graphs/Silent.fbp': 'INPORT=s.IN:IN\nOUTPORT=s.OUT:OUT\ns(myproject/Silent)\n',
    'graphs/Good.fbp': REPEAT,
  });
}

/** Run the CLI, expecting it to refuse at once with one line on stderr; resolves with that line. */
async function refused(t: TestContext, args: readonly string[]): Promise<string> {
  const started = Date.now();
  // Killed well after the deadline, so that a start that hangs fails the test rather than the run.
  const result: CommandResult = await runCli(t, args, {}, 15_000);
  const elapsed = Date.now() - started;
  assert.equal(result.code, 1, `exit code 1; got ${result.code} (${result.signal ?? 'no signal'}) after ${elapsed} ms; stderr: ${result.stderr}`);
  assert.ok(elapsed < REFUSED_WITHIN_MS, `refused within ${REFUSED_WITHIN_MS} ms, took ${elapsed} ms`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout');
  const line = lines[0] ?? '';
  assert.match(line, /^noflo-runtime-msgflo: /);
  return line;
}

describe('a graph that cannot run is refused with one line, exit 1, at once', () => {
  test('a graph that includes itself (it took the name of a component it uses), by name or by file', async (t) => {
    const project = await selfIncluding(t);
    for (const graph of ['myproject/Silent', 'graphs/Silent.fbp']) {
      const line = await refused(t, ['--name', uniqueRole(), '--graph', graph, '--basedir', project, '--broker', mqttUrl()]);
      assert.match(line, /graph myproject\/Silent includes itself: myproject\/Silent → s \(myproject\/Silent\)/, graph);
      assert.match(line, /components\/Silent\.js/, 'names the component the graph hides');
    }
  });

  test('a graph that includes itself through a subgraph names the chain', async (t) => {
    const project = await temporaryProject(t, 'myproject', {
      'graphs/A.fbp': 'INPORT=r.IN:IN\nr(core/Repeat) OUT -> IN x(myproject/B)\n',
      'graphs/B.fbp': 'INPORT=y.IN:IN\ny(A)\n',
    });
    const line = await refused(t, ['--name', uniqueRole(), '--graph', 'myproject/A', '--basedir', project, '--broker', mqttUrl()]);
    assert.match(line, /graph myproject\/A includes itself: myproject\/A → x \(myproject\/B\) → y \(A\)$/);
  });

  test('an inport and an outport exported under one name, on one queue', async (t) => {
    const project = await temporaryProject(t, 'samename', { 'graphs/SameName.fbp': 'INPORT=r.IN:DATA\nOUTPORT=r.OUT:DATA\nr(core/Repeat)\n' });
    const role = uniqueRole();
    const line = await refused(t, ['--name', role, '--graph', 'graphs/SameName.fbp', '--basedir', project, '--broker', mqttUrl(), '--http-port', '0']);
    assert.match(line, new RegExp(`inport "data" and outport "data" are both on queue "${role}\\.DATA"`));
  });

  test('an outport put on the inport queue by --attr', async (t) => {
    const role = uniqueRole();
    const line = await refused(t, ['--name', role, '--graph', 'core/Repeat', '--attr', `outports.out.queue=${role}.IN`, '--broker', mqttUrl()]);
    assert.match(line, new RegExp(`inport "in" and outport "out" are both on queue "${role}\\.IN"`));
  });

  test('two inports put on one queue by --attr', async (t) => {
    const project = await temporaryProject(t, 'twoin', { 'graphs/TwoIn.fbp': 'INPORT=a.IN:A\nINPORT=b.IN:B\nOUTPORT=a.OUT:OUT\na(core/Repeat)\nb(core/Repeat)\n' });
    const role = uniqueRole();
    const line = await refused(t, ['--name', role, '--graph', 'graphs/TwoIn.fbp', '--basedir', project, '--attr', `inports.b.queue=${role}.A`, '--broker', mqttUrl()]);
    assert.match(line, new RegExp(`inports "a" and "b" are both on queue "${role}\\.A": each message would reach either port`));
  });

  test('a graph file that does not parse names its line and column, FBP or JSON', async (t) => {
    const fbp = await temporaryFile(t, 'Broken.fbp', '# two lines\n# of comments\nr(core/Repeat) OUT -> -> IN s(core/Repeat)\n');
    assert.match(await refused(t, ['--name', uniqueRole(), '--graph', fbp, '--broker', mqttUrl()]), /cannot parse graph file ".*Broken\.fbp" at line 3, column 23: /);
    const json = await temporaryFile(t, 'Broken.json', '{\n  "processes": {\n    "r": { "component": "core/Repeat" },\n  }\n}\n');
    assert.match(await refused(t, ['--name', uniqueRole(), '--graph', json, '--broker', mqttUrl()]), /cannot parse graph file ".*Broken\.json" at line 4, column 3: /);
  });

  test('an unknown component names the node, the component and the graph file', async (t) => {
    const project = await temporaryProject(t, 'myproject', {
      'graphs/Outer.fbp': 'INPORT=r.IN:IN\nr(core/Repeat) OUT -> IN i(myproject/Inner)\n',
      'graphs/Inner.fbp': 'INPORT=r.IN:IN\nr(core/Repeat) OUT -> IN n(nope/Nothing)\n',
    });
    const line = await refused(t, ['--name', uniqueRole(), '--graph', 'myproject/Outer', '--basedir', project, '--broker', mqttUrl()]);
    assert.match(line, new RegExp(`graph file "${escape(path.join(project, 'graphs', 'Inner.fbp'))}": node "n" uses component "nope/Nothing", which is not installed`));
  });

  test('a name without library that fits several names them', async (t) => {
    const project = await temporaryProject(t, 'myproject', { 'graphs/Repeat.fbp': REPEAT });
    const line = await refused(t, ['--name', uniqueRole(), '--graph', 'Repeat', '--basedir', project, '--broker', mqttUrl()]);
    assert.match(line, /graph "Repeat" is ambiguous: .*myproject\/Repeat/);
    assert.match(line, /core\/Repeat/);
  });
});

describe('graphs that can run still do', () => {
  test('a malformed .json graph beside a good one: the good one starts, the warning names the bad file', async (t) => {
    const project = await temporaryProject(t, 'myproject', {
      'graphs/Bad.json': '{ "processes": { "r": { "component": "core/Repeat" } ',
      'graphs/Good.fbp': REPEAT,
    });
    const role = uniqueRole();
    const runtime = startCli(t, ['--name', role, '--graph', 'myproject/Good', '--basedir', project, '--broker', mqttUrl()]);
    await runtime.waitForStderr(/is running on/);
    assert.match(runtime.stderr, new RegExp(`skipped graph file "${escape(path.join(project, 'graphs', 'Bad.json'))}": not JSON at line 1, column \\d+`));
    assert.match(runtime.stderr, new RegExp(`in  in +${role}\\.IN`));
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('a name without library resolves as NoFlo resolves it', async (t) => {
    const project = await temporaryProject(t, 'myproject', { 'graphs/IIPKickTest.fbp': REPEAT });
    const role = uniqueRole();
    const runtime = startCli(t, ['--name', role, '--graph', 'IIPKickTest', '--basedir', project, '--broker', mqttUrl()]);
    await runtime.waitForStderr(/is running on/);
    assert.match(runtime.stderr, new RegExp(`out out +${role}\\.OUT`));
    assert.doesNotMatch(runtime.stderr, /noflo-runtime-msgflo: /, 'no warning');
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });

  test('a graph without exported ports starts, with a warning that it can do nothing', async (t) => {
    const project = await temporaryProject(t, 'myproject', { 'graphs/Idle.fbp': "'x' -> IN r(core/Repeat)\n" });
    const role = uniqueRole();
    const runtime = startCli(t, ['--name', role, '--graph', 'myproject/Idle', '--basedir', project, '--broker', mqttUrl()]);
    await runtime.waitForStderr(/is running on/);
    assert.match(runtime.stderr, new RegExp(`noflo-runtime-msgflo: graph "myproject/Idle" exports no ports: participant "${role}" has no queue .* can do nothing`));
    runtime.child.kill('SIGTERM');
    assert.equal((await runtime.exited).code, 0);
  });
});

describe('graphs of many participants are checked one by one', () => {
  test('--participants: a graph that includes itself fails its participant alone, with its own line', async (t) => {
    const project = await selfIncluding(t);
    const [bad, good] = [uniqueRole('bad'), uniqueRole('good')];
    const file = await temporaryFile(t, 'participants.json', JSON.stringify([{ name: bad, graph: 'myproject/Silent' }, { name: good, graph: 'Good' }]));
    const started = Date.now();
    const host = startCli(t, ['--participants', file, '--basedir', project, '--broker', mqttUrl(), '--keep-going']);
    await host.waitForStderr(/hosting 1 participant, 1 could not start/, 15_000);
    assert.ok(Date.now() - started < REFUSED_WITHIN_MS * 2, `took ${Date.now() - started} ms`);
    const failed = host.stderr.split('\n').filter((line) => line.includes(bad));
    assert.equal(failed.length, 1, `one line for ${bad}: ${host.stderr}`);
    assert.match(failed[0] ?? '', new RegExp(`cannot start participant "${bad}" \\(myproject/Silent\\): graph myproject/Silent includes itself`));
    assert.match(host.stderr, new RegExp(`${good}-.* \\(Good\\) is running on`));
    host.child.kill('SIGTERM');
    assert.equal((await host.exited).code, 0);
  });

  test('coordinator: a node whose graph includes itself is refused, naming why', async (t) => {
    const project = await selfIncluding(t);
    const coordinator = startCli(t, ['coordinator', '--broker', mqttUrl(), '--port', '0', '--basedir', project]);
    await coordinator.waitForStderr(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const client = await openFbpSocket(t, /on (ws:\/\/127\.0\.0\.1:\d+)/.exec(coordinator.stderr)?.[1] as string);
    client.send({ protocol: 'graph', command: 'clear', payload: { id: 'g', main: true }, requestId: 'clear' });
    await eventually(() => client.received.some((m) => m.responseTo === 'clear'), 'graph:clear answered');
    const started = Date.now();
    client.send({ protocol: 'graph', command: 'addnode', payload: { id: uniqueRole('loop'), component: 'myproject/Silent', metadata: {}, graph: 'g' }, requestId: 'add' });
    await eventually(() => client.received.some((m) => m.responseTo === 'add'), 'graph:addnode answered', REFUSED_WITHIN_MS);
    const answer = client.received.find((m) => m.responseTo === 'add');
    assert.equal(answer?.command, 'error', JSON.stringify(answer));
    assert.match(String(answer?.payload.message), /graph myproject\/Silent includes itself: myproject\/Silent → s \(myproject\/Silent\)/);
    assert.ok(Date.now() - started < REFUSED_WITHIN_MS);
    coordinator.child.kill('SIGTERM');
    assert.equal((await coordinator.exited).code, 0);
  });
});

/** `text` for a RegExp, literally. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
