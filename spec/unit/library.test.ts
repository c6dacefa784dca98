/**
 * The participant library: msgflo's format and substitutions (checked
 * against msgflo's own fixture and expectations), commands with and without
 * a shell, and a bad library stopped with one line naming file and entry.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '../../src/errors';
import { execCommand, findComponent, loadLibrary, parseLibrary, shellCommand, shellQuote, type Library } from '../../src/host/library';
import { temporaryFile, temporaryProject } from '../harness/files';
import { REPO_ROOT } from '../harness/participants';

function component(library: Library, name: string) {
  const found = findComponent(library, name);
  assert.ok(found, `component ${name}`);
  return found;
}

describe('participant library', () => {
  test("msgflo's own fixture: variables expand into each other, #COMPONENT and #ROLE are replaced as msgflo's spec expects", async () => {
    const file = path.join(REPO_ROOT, 'node_modules', 'msgflo', 'spec', 'fixtures', 'library-nontrivial.json');
    const library = await loadLibrary(REPO_ROOT, { file, componentDir: 'no-such-dir' });
    const commands = Object.fromEntries([...library.components.values()].map((c) => [c.name, shellCommand(library, c, { role: 'r' })]));
    assert.deepEqual(commands, {
      'api/ConvertDocument': 'noflo-runtime-msgflo --name r --graph api/ConvertDocument --prefetch=1 --deadletter=in',
      'api/SendMessageToUser': 'noflo-runtime-msgflo --name r --graph api/SendMessageToUser --prefetch=10',
      'api/PropagateItem': 'noflo-runtime-msgflo --name r --graph api/PropagateItem --prefetch=1 --deadletter propagate,unpropagate',
      'api/Router': 'noflo-runtime-msgflo --name r --graph api/Router --prefetch=1 --deadletter in',
    });
  });

  test('#ROLE, #COMPONENTNAME and #IIPS, as in msgflo\'s spec; in a shell line quoted, without a shell one argument each', () => {
    const library = parseLibrary({ components: { 'project/Foo': 'msgflo-nodejs --name #ROLE --file api/#COMPONENTNAME.js --option 1 --iips #IIPS' } }, 'test.json');
    const foo = component(library, 'project/Foo');
    assert.equal(shellCommand(library, foo, { role: 'myrole', iips: { portA: 'valueA', portB: 3.14 } }), `msgflo-nodejs --name myrole --file api/Foo.js --option 1 --iips '{"portA":"valueA","portB":3.14}'`);
    const tricky = { text: `it's "$HOME" \`x\`\nnext` };
    assert.deepEqual(execCommand(library, foo, { role: 'my role', iips: tricky }), {
      file: 'msgflo-nodejs',
      args: ['--name', 'my role', '--file', 'api/Foo.js', '--option', '1', '--iips', JSON.stringify(tricky)],
    });
    assert.equal(shellCommand(library, foo, { role: 'my role' }), `msgflo-nodejs --name 'my role' --file api/Foo.js --option 1 --iips '{}'`);
  });

  test('without a shell, quotes and backslashes group words; shell syntax is refused, naming the entry', () => {
    const library = parseLibrary({ msgflo: { components: { A: `run 'a b' "c \\"d\\"" e\\ f #ROLE`, B: 'run | tee log', C: 'run $HOME' } } }, 'package.json');
    assert.deepEqual(execCommand(library, component(library, 'A'), { role: 'r' }), { file: 'run', args: ['a b', 'c "d"', 'e f', 'r'] });
    assert.throws(() => execCommand(library, component(library, 'B'), { role: 'r' }), /library "package.json", component "B": the command uses \| \(shell syntax\): start it with --shell/);
    assert.throws(() => execCommand(library, component(library, 'C'), { role: 'r' }), /component "C": the command uses \$/);
    assert.equal(shellCommand(library, component(library, 'B'), { role: 'r' }), 'run | tee log');
  });

  test('components are found as msgflo finds them: by name, without the library prefix, with the project\'s prefix', () => {
    const library = parseLibrary({ name: 'proj', msgflo: { components: { Worker: 'w #ROLE', 'proj/Other': 'o #ROLE' } } }, 'package.json');
    assert.equal(findComponent(library, 'Worker')?.name, 'Worker');
    assert.equal(findComponent(library, 'python/Worker')?.name, 'Worker');
    assert.equal(findComponent(library, 'Other')?.name, 'proj/Other');
    assert.equal(findComponent(library, 'Nothing'), undefined);
  });

  test('a component directory: each file through the handler of its extension, named with the project prefix', async (t) => {
    const project = await temporaryProject(t, 'proj', { 'participants/Worker.py': '', 'participants/notes.txt': '' });
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'proj', msgflo: { handlers: { '.py': 'python3 #FILENAME #ROLE' } } }));
    const library = await loadLibrary(project);
    assert.deepEqual([...library.components.keys()], ['proj/Worker']);
    assert.deepEqual(execCommand(library, component(library, 'Worker'), { role: 'w' }), { file: 'python3', args: [path.join(project, 'participants', 'Worker.py'), 'w'] });
  });

  test('msgflo.json wins over package.json; a project with neither has an empty library', async (t) => {
    const project = await temporaryProject(t, 'proj', {});
    assert.equal((await loadLibrary(project)).components.size, 0);
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'proj', msgflo: { components: { A: 'from-package #ROLE' } } }));
    await writeFile(path.join(project, 'msgflo.json'), JSON.stringify({ components: { A: 'from-msgflo-json #ROLE' } }));
    const library = await loadLibrary(project);
    assert.equal(library.source, path.join(project, 'msgflo.json'));
    assert.equal(shellCommand(library, component(library, 'A'), { role: 'r' }), 'from-msgflo-json r');
  });

  test('a bad library stops the start with one line naming the file and the entry', async (t) => {
    const cases: Array<[string, string, RegExp]> = [
      ['not JSON', '{"components": ', /^library "[^"]+bad\.json" is not JSON: /],
      ['not an object', '[1]', /^library "[^"]+bad\.json": expected a JSON object like/],
      ['components not an object', '{"components": ["a"]}', /^library "[^"]+bad\.json": "components" must be an object of component to command text$/],
      ['a component with no command', '{"msgflo": {"components": {"python/Worker": ""}}}', /^library "[^"]+bad\.json": component "python\/Worker" has no command: expected a non-empty string, got ""$/],
      ['a component with a number', '{"components": {"W": 3}}', /^library "[^"]+bad\.json": component "W" has no command: expected a non-empty string, got 3$/],
      ['a variable named as a value', '{"variables": {"role": "x"}, "components": {}}', /variable "role" is given by the runtime/],
      ['an unknown marker', '{"components": {"W": "w #ROLE #NOPE"}}', /^library "[^"]+bad\.json", component "W": #NOPE is neither a variable of the library nor one of #ROLE, /],
      ['variables that never end', '{"variables": {"A": "#B", "B": "#A"}, "components": {"W": "#A"}}', /component "W": its variables expand each other without end/],
    ];
    for (const [what, text, message] of cases) {
      const file = await temporaryFile(t, 'bad.json', text);
      const err = await loadLibrary(path.dirname(file), { file }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof InvalidOptionError, `${what}: refused`);
      assert.match(err.message, message, what);
      assert.equal(err.message.includes('\n'), false, `${what}: one line`);
    }
    const missing = await loadLibrary(REPO_ROOT, { file: 'no-such-library.json' }).then(() => undefined, (e: unknown) => e);
    assert.match(String(missing), /cannot read library ".*no-such-library\.json": ENOENT/);
  });

  test('shellQuote: safe words stay as they are, the rest is one single-quoted word', () => {
    assert.equal(shellQuote('core/Repeat'), 'core/Repeat');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote(`it's`), `'it'\\''s'`);
  });

  test('a URL fragment is no marker; a marker needs no separator after it, as in msgflo', () => {
    const library = parseLibrary({ components: { W: 'w --docs http://x/#Section --role=#ROLE:#COMPONENTNAME' } }, 'l.json');
    assert.equal(shellCommand(library, component(library, 'W'), { role: 'r' }), 'w --docs http://x/#Section --role=r:W');
  });
});
