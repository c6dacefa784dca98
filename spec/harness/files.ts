/**
 * Temporary files for tests, removed after the test.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
