/**
 * The original CoffeeScript `noflo-runtime-msgflo` 0.11.3, installed from npm
 * into a temporary folder (kept between runs), to measure beside ours.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The version measured. */
export const ORIGINAL_VERSION = '0.11.3';

/**
 * Install the original (with noflo-core 0.4, the last for its NoFlo 0.8) and
 * return the folder to run it from and the path of its command.
 */
export async function installOriginal(): Promise<{ dir: string; bin: string }> {
  const dir = path.join(os.tmpdir(), `noflo-runtime-msgflo-original-${ORIGINAL_VERSION}`);
  const bin = path.join(dir, 'node_modules', 'noflo-runtime-msgflo', 'bin', 'noflo-runtime-msgflo');
  if (!existsSync(bin)) {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'original-bench', private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `noflo-runtime-msgflo@${ORIGINAL_VERSION}`, 'noflo-core@0.4.1'], { cwd: dir });
  }
  return { dir, bin };
}
