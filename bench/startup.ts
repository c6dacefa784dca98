/**
 * Start-up time and resident memory of N `core/Repeat` participants: all in
 * one process of ours, in N processes of ours, and in N processes of the
 * original 0.11.3. Start-up is measured from spawning to every participant
 * having answered one message; memory once they all have.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { installOriginal } from './original';
import { waitForAnswers } from './probe';
import { residentBytes, spawnNode, stopAll } from './processes';

/** One measurement. */
export interface StartupResult {
  readonly participants: number;
  readonly variant: 'ours, one process' | 'ours, a process each' | 'original 0.11.3, a process each';
  readonly processes: number;
  readonly startupSeconds: number;
  readonly residentMegabytes: number;
  readonly answered: number;
}

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'noflo-runtime-msgflo');

async function measure(
  variant: StartupResult['variant'],
  roles: readonly string[],
  url: string,
  spawnAll: () => Promise<ChildProcess[]>,
): Promise<StartupResult> {
  const started = process.hrtime.bigint();
  const children = await spawnAll();
  try {
    await waitForAnswers(url, roles, 600_000);
    const startupSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const resident = children.reduce((sum, child) => sum + residentBytes(child.pid ?? 0), 0);
    return { participants: roles.length, variant, processes: children.length, startupSeconds, residentMegabytes: resident / 2 ** 20, answered: roles.length };
  } catch (err) {
    const output = children.find((c) => c.exitCode !== null) as (ChildProcess & { output?: string }) | undefined;
    throw new Error(`${variant}, ${roles.length} participants: ${(err as Error).message}${output?.output ? `\n${output.output}` : ''}`);
  } finally {
    await stopAll(children);
  }
}

/** Run the start-up benchmark for each count on the AMQP broker at `url`. */
export async function benchStartup(url: string, counts: readonly number[], log: (line: string) => void): Promise<StartupResult[]> {
  const original = await installOriginal();
  const work = await mkdtemp(path.join(os.tmpdir(), 'msgflo-bench-'));
  const results: StartupResult[] = [];
  try {
    for (const count of counts) {
      const roles = (prefix: string): string[] => Array.from({ length: count }, (_, i) => `${prefix}${count}x${i}-${Date.now().toString(36)}`);

      const shared = roles('one');
      const manifest = path.join(work, `participants-${count}.json`);
      await writeFile(manifest, JSON.stringify(shared.map((name) => ({ name, graph: 'core/Repeat' }))));
      results.push(await measure('ours, one process', shared, url, async () => [spawnNode(BIN, ['--participants', manifest, '--broker', url], { cwd: REPO })]));
      log(`  ${count} in one process of ours: done`);

      const separate = roles('own');
      results.push(
        await measure('ours, a process each', separate, url, async () => separate.map((name) => spawnNode(BIN, ['--name', name, '--graph', 'core/Repeat', '--broker', url], { cwd: REPO }))),
      );
      log(`  ${count} processes of ours: done`);

      const originals = roles('orig');
      results.push(
        await measure('original 0.11.3, a process each', originals, url, async () =>
          originals.map((name) => spawnNode(original.bin, ['--name', name, '--graph', 'core/Repeat', '--broker', url], { cwd: original.dir })),
        ),
      );
      log(`  ${count} processes of the original: done`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return results;
}
