/**
 * Temporary files for tests, removed after the test.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** Write `content` to a file named `name` in a fresh temporary folder; both go after the test. */
export async function temporaryFile(t: TestContext, name: string, content: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msgflo-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  await writeFile(file, content);
  return file;
}

/**
 * A NoFlo project in a fresh temporary folder, removed after the test:
 * `package.json` naming library `library`, and `files` by relative path
 * (`graphs/X.fbp`, `components/Y.js`). Resolves with the folder.
 */
export async function temporaryProject(t: TestContext, library: string, files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msgflo-project-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: library, private: true, noflo: {} }));
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  return dir;
}

/**
 * The source of a NoFlo component passing `in` to `out`, loadable from any
 * folder (it requires this checkout's noflo by its path).
 */
export function forwardingComponent(): string {
  return `const noflo = require(${JSON.stringify(require.resolve('noflo'))});
exports.getComponent = () => {
  const c = new noflo.Component({ inPorts: { in: { datatype: 'all' } }, outPorts: { out: { datatype: 'all' } } });
  return c.process((input, output) => output.sendDone({ out: input.getData('in') }));
};
`;
}
