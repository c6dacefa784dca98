import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import noflo from 'noflo';
import { GraphLoadError } from '../../src/errors';
import { resolveQueues } from '../../src/participant/definition';
import { normalizeOptions } from '../../src/participant/options';
import { inqueueClashes, queueClashes } from '../../src/protocol/definition';
import { lookupComponent } from '../../src/runtime/component-names';
import { checkGraph, type GraphCatalog, type GraphEntry } from '../../src/runtime/graph-check';
import { jsonErrorLocation, jsonProblem, locationAt, parseGraph, type Graph } from '../../src/runtime/graph-file';
import { createComponentLoader, resolveGraph } from '../../src/runtime/graph-source';
import { listProject } from '../../src/runtime/project-listing';
import { forwardingComponent, temporaryProject } from '../harness/files';

describe('component names, as NoFlo resolves them', () => {
  const registered = ['Graph', 'core/Repeat', 'core/Kick', 'myproject/Kick', 'myproject/IIPKickTest'];

  test('an exact name is itself', () => {
    assert.deepEqual(lookupComponent('core/Kick', registered), { kind: 'found', name: 'core/Kick', alias: false });
    assert.deepEqual(lookupComponent('Graph', registered), { kind: 'found', name: 'Graph', alias: false });
  });

  test('a name without library is the one component or graph of that name in any library', () => {
    assert.deepEqual(lookupComponent('IIPKickTest', registered), { kind: 'found', name: 'myproject/IIPKickTest', alias: true });
  });

  test('a name without library that fits several names them all, in the loader order', () => {
    assert.deepEqual(lookupComponent('Kick', registered), { kind: 'ambiguous', candidates: ['core/Kick', 'myproject/Kick'] });
  });

  test('a name with a library is only ever itself', () => {
    assert.deepEqual(lookupComponent('other/Repeat', registered), { kind: 'missing' });
    assert.deepEqual(lookupComponent('Nothing', registered), { kind: 'missing' });
  });
});

describe('graph files that do not parse', () => {
  test('a position in a text is a line and a column', () => {
    assert.deepEqual(locationAt('ab\ncd\n', 0), { line: 1, column: 1 });
    assert.deepEqual(locationAt('ab\ncd\n', 4), { line: 2, column: 2 });
    assert.deepEqual(locationAt('ab\ncd\n', 6), { line: 3, column: 1 });
  });

  test('JSON.parse errors give their place, in any of the forms Node words them', () => {
    const text = '{\n  "a": 1,\n}\n';
    assert.deepEqual(jsonErrorLocation(text, "Expected double-quoted property name in JSON at position 12"), { line: 3, column: 1 });
    assert.deepEqual(jsonErrorLocation(text, 'Expected double-quoted property name in JSON at position 12 (line 3 column 1)'), { line: 3, column: 1 });
    assert.deepEqual(jsonErrorLocation('{"a":', 'Unexpected end of JSON input'), { line: 1, column: 6 });
    assert.equal(jsonErrorLocation(text, 'something else'), undefined);
    assert.match(jsonProblem(text) ?? '', /^not JSON at line 3, column 1: /);
    assert.equal(jsonProblem('{}'), undefined);
  });

  test('an FBP file names its line and column', async () => {
    await assert.rejects(
      parseGraph('# a comment\nINPORT=a.IN:IN\na(core/Repeat) OUT -> -> IN b(core/Repeat)\n', '/p/graphs/Bad.fbp'),
      (err: unknown) => err instanceof GraphLoadError && /^cannot parse graph file "\/p\/graphs\/Bad.fbp" at line 3, column 23: Expected/.test(err.message),
    );
  });

  test('a JSON file names its line and column', async () => {
    await assert.rejects(
      parseGraph('{\n  "processes": {\n    "a": { "component": "core/Repeat" },\n  }\n}\n', '/p/graphs/Bad.json'),
      (err: unknown) => err instanceof GraphLoadError && /^cannot parse graph file "\/p\/graphs\/Bad.json" at line 4, column 3: /.test(err.message),
    );
  });
});

/** A graph of `nodes` (id → component). */
function graphOf(nodes: Readonly<Record<string, string>>): Graph {
  const graph = new noflo.Graph();
  for (const [id, component] of Object.entries(nodes)) {
    graph.addNode(id, component);
  }
  return graph;
}

/** A catalog of components `elementary` and graphs `graphs` (name → nodes), all in library `lib`. */
function catalogOf(elementary: readonly string[], graphs: Readonly<Record<string, Readonly<Record<string, string>>>>): GraphCatalog {
  const entries = new Map<string, GraphEntry>(Object.entries(graphs).map(([name, nodes]) => [name, { label: name, key: name, file: `/p/graphs/${name.split('/')[1] ?? name}.fbp`, graph: graphOf(nodes) }]));
  return {
    names: [...elementary, ...entries.keys()],
    where: '/p',
    subgraph: async (name) => entries.get(name),
  };
}

function entryOf(catalog: GraphCatalog, name: string): Promise<GraphEntry> {
  return catalog.subgraph(name) as Promise<GraphEntry>;
}

describe('graphs checked before they run', () => {
  test('a graph that includes itself is refused, naming the chain', async () => {
    const catalog = catalogOf(['core/Repeat'], { 'lib/Silent': { s: 'lib/Silent' } });
    await assert.rejects(checkGraph(await entryOf(catalog, 'lib/Silent'), catalog), (err: unknown) => {
      assert.ok(err instanceof GraphLoadError);
      assert.equal(err.message, 'graph lib/Silent includes itself: lib/Silent → s (lib/Silent)');
      return true;
    });
  });

  test('so is one that includes itself through another, by a name without library', async () => {
    const catalog = catalogOf(['core/Repeat'], { 'lib/A': { r: 'core/Repeat', x: 'lib/B' }, 'lib/B': { y: 'A' } });
    await assert.rejects(checkGraph(await entryOf(catalog, 'lib/A'), catalog), /: graph lib\/A includes itself: lib\/A → x \(lib\/B\) → y \(A\)$/);
  });

  test('a loop further down says how the graph started reaches it', async () => {
    const catalog = catalogOf([], { 'lib/A': { x: 'lib/B' }, 'lib/B': { y: 'lib/C' }, 'lib/C': { z: 'lib/B' } });
    await assert.rejects(checkGraph(await entryOf(catalog, 'lib/A'), catalog), /: graph lib\/B includes itself: lib\/B → y \(lib\/C\) → z \(lib\/B\) \(reached from lib\/A → x \(lib\/B\)\)$/);
  });

  test('a subgraph used twice is no loop', async () => {
    const catalog = catalogOf(['core/Repeat'], { 'lib/A': { b: 'lib/B', c: 'lib/C' }, 'lib/B': { d: 'lib/D' }, 'lib/C': { d: 'lib/D', e: 'lib/D' }, 'lib/D': { r: 'core/Repeat' } });
    assert.deepEqual(await checkGraph(await entryOf(catalog, 'lib/A'), catalog), { warnings: [] });
  });

  test('an unknown component names the node, the component and the graph file', async () => {
    const catalog = catalogOf(['core/Repeat'], { 'lib/A': { x: 'lib/B' }, 'lib/B': { r: 'core/Repeat', n: 'nope/Nothing' } });
    await assert.rejects(
      checkGraph(await entryOf(catalog, 'lib/A'), catalog),
      /: graph file "\/p\/graphs\/B.fbp": node "n" uses component "nope\/Nothing", which is not installed: no component or graph of that name in "\/p"$/,
    );
  });

  test('a node whose name fits several components runs the first, as NoFlo does, with a warning', async () => {
    const catalog = catalogOf(['core/Repeat', 'lib/Repeat'], { 'lib/A': { r: 'Repeat' } });
    const { warnings } = await checkGraph(await entryOf(catalog, 'lib/A'), catalog);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /node "r" uses component "Repeat", which fits core\/Repeat and lib\/Repeat; NoFlo loads core\/Repeat/);
  });
});

describe('queues of the exported ports', () => {
  const options = normalizeOptions({ name: 'same', graph: 'g', broker: 'mqtt://127.0.0.1' }, {});
  const port = (id: string, metadata: Record<string, unknown> = {}) => ({ definition: { id, type: 'all' }, metadata });

  test('an inport and an outport of one name share a queue, and are refused naming both and the queue', () => {
    assert.deepEqual(queueClashes({ inports: [{ id: 'data', type: 'all', queue: 'same.DATA' }], outports: [{ id: 'data', type: 'all', queue: 'same.DATA' }] }), [
      { inport: 'data', outport: 'data', queue: 'same.DATA' },
    ]);
    assert.throws(
      () => resolveQueues({ inports: [port('data')], outports: [port('data')] }, options),
      /: inport "data" and outport "data" are both on queue "same.DATA": .*--attr outports.data.queue=/,
    );
  });

  test('so are ports put on one queue by graph metadata or by --attr, and a queue of its own for one of them mends it', () => {
    assert.throws(() => resolveQueues({ inports: [port('in')], outports: [port('out', { queue: 'same.IN' })] }, options), /inport "in" and outport "out" are both on queue "same.IN"/);
    const attr = normalizeOptions({ name: 'same', graph: 'g', broker: 'mqtt://127.0.0.1', attr: ['outports.out.queue=same.IN'] }, {});
    assert.throws(() => resolveQueues({ inports: [port('in')], outports: [port('out')] }, attr), /both on queue "same.IN"/);
    const apart = normalizeOptions({ name: 'same', graph: 'g', broker: 'mqtt://127.0.0.1', attr: ['outports.data.queue=elsewhere'] }, {});
    const ports = resolveQueues({ inports: [port('data')], outports: [port('data')] }, apart);
    assert.deepEqual([ports.inports[0]?.queue, ports.outports[0]?.queue], ['same.DATA', 'elsewhere']);
  });

  test('hidden ports have no queue to share', () => {
    const hidden = normalizeOptions({ name: 'same', graph: 'g', broker: 'mqtt://127.0.0.1', attr: ['outports.data.hidden=true'] }, {});
    assert.doesNotThrow(() => resolveQueues({ inports: [port('data')], outports: [port('data')] }, hidden));
  });

  test('two inports on one queue are refused naming both and the queue; two outports may share one', () => {
    assert.deepEqual(inqueueClashes({ inports: [{ id: 'In', type: 'all', queue: 'same.IN' }, { id: 'in', type: 'all', queue: 'same.IN' }] }), [{ inports: ['In', 'in'], queue: 'same.IN' }]);
    assert.throws(
      () => resolveQueues({ inports: [port('In'), port('in')], outports: [port('out')] }, options),
      (err: unknown) =>
        err instanceof GraphLoadError &&
        /inports "In" and "in" are both on queue "same.IN": each message would reach either port .*--attr inports.in.queue=QUEUE/.test(err.message),
    );
    assert.throws(() => resolveQueues({ inports: [port('a'), port('b', { queue: 'same.A' })], outports: [] }, options), /inports "a" and "b" are both on queue "same.A"/);
    const merged = resolveQueues({ inports: [port('in')], outports: [port('out'), port('error', { queue: 'same.OUT' })] }, options);
    assert.deepEqual(merged.outports.map((p) => p.queue), ['same.OUT', 'same.OUT']);
  });
});

describe('a project with a malformed graph file', () => {
  test('is listed without it, named in a warning; its other graphs and components still resolve', async (t) => {
    const bad = '{\n  "processes": {\n    "a": { "component": "core/Repeat" },\n  }\n}\n';
    const dir = await temporaryProject(t, 'myproject', {
      'graphs/Bad.json': bad,
      'graphs/Good.fbp': 'INPORT=r.IN:IN\nOUTPORT=r.OUT:OUT\nr(core/Repeat)\n',
      'graphs/Also.json': JSON.stringify({ processes: { r: { component: 'core/Repeat' } }, inports: { in: { process: 'r', port: 'in' } } }),
      'components/Forward.js': forwardingComponent(),
    });
    const listing = await listProject(dir);
    assert.deepEqual(listing.skipped.map((s) => [path.basename(s.file), s.reason.replace(/:.*/, '')]), [['Bad.json', 'not JSON at line 4, column 3']]);

    const warnings: string[] = [];
    const loader = await createComponentLoader(dir, { onWarning: (message) => warnings.push(message) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', new RegExp(`^skipped graph file "${path.join(dir, 'graphs', 'Bad.json')}": not JSON at line 4, column 3`));
    const names = Object.keys(loader.components ?? {});
    for (const name of ['myproject/Good', 'myproject/Also', 'myproject/Forward', 'core/Repeat']) {
      assert.ok(names.includes(name), `${name} listed (got ${names.filter((n) => n.startsWith('myproject/')).join(', ')})`);
    }
    assert.ok(!names.includes('myproject/Bad'));
    assert.equal((await resolveGraph('Good', loader, dir)).label, 'myproject/Good');
    assert.equal(await readFile(path.join(dir, 'graphs', 'Bad.json'), 'utf8'), bad, 'the file itself is left as it was');
  });
});
