import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { spareNofloTypescript, STAND_IN } from '../../src/runtime/noflo-typescript';

/** A project whose `typescript` counts its loads in a global. */
function project(): { dir: string; file: string; loads: () => number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spare-ts-'));
  const pkg = path.join(dir, 'node_modules', 'typescript');
  fs.mkdirSync(pkg, { recursive: true });
  const counter = `__tsLoads_${path.basename(dir).replace(/\W/g, '')}`;
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'typescript', main: 'index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), `globalThis.${counter} = (globalThis.${counter} || 0) + 1;\nexports.transpile = (s) => 'js:' + s;\n`);
  const globals = globalThis as unknown as Record<string, number | undefined>;
  return { dir, file: path.join(pkg, 'index.js'), loads: () => globals[counter] ?? 0 };
}

test('what NoFlo reads of typescript (default, then) is answered without loading the compiler', async () => {
  const { dir, file, loads } = project();
  try {
    spareNofloTypescript([dir]);
    assert.equal(require.cache[file]?.[STAND_IN as unknown as keyof NodeJS.Module], true);
    // As noflo/lib/loader/NodeJs.js does it.
    const compiler = await Promise.resolve().then(() => require(file) as { default?: unknown });
    assert.equal(compiler.default, undefined);
    assert.equal(loads(), 0, 'the compiler was not loaded');
  } finally {
    delete require.cache[file];
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('any other use loads the real compiler, once, and later requires get it', () => {
  const { dir, file, loads } = project();
  try {
    spareNofloTypescript([dir]);
    const ts = require(file) as { transpile: (source: string) => string };
    assert.equal(ts.transpile('x'), 'js:x');
    assert.equal(ts.transpile('y'), 'js:y');
    assert.equal(loads(), 1);
    assert.ok('transpile' in ts);
    assert.deepEqual(Object.keys(ts), ['transpile']);
    assert.notEqual(require.cache[file]?.[STAND_IN as unknown as keyof NodeJS.Module], true, 'the real module is cached now');
    assert.equal((require(file) as { transpile: (s: string) => string }).transpile('z'), 'js:z');
    assert.equal(loads(), 1);
  } finally {
    delete require.cache[file];
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory without typescript, or one where it is loaded already, is left as it is', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'spare-ts-none-'));
  const { dir, file, loads } = project();
  try {
    spareNofloTypescript([empty]);
    require(file);
    const loaded = require.cache[file];
    spareNofloTypescript([dir]);
    assert.equal(require.cache[file], loaded);
    assert.equal(loads(), 1);
  } finally {
    delete require.cache[file];
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(empty, { recursive: true, force: true });
  }
});
