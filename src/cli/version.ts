/**
 * What `--version` says: this package's version, then NoFlo's and Node's,
 * the three a bug report needs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROGRAM } from './output';

/** This package's root: dist/src/cli/ is three levels below it. */
const PACKAGE_ROOT = path.join(__dirname, '..', '..', '..');

/** A string field of a package.json, or undefined when it cannot be read. */
function field(file: string, key: 'name' | 'version'): string | undefined {
  try {
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    const value = json !== null && typeof json === 'object' ? (json as Record<string, unknown>)[key] : undefined;
    return typeof value === 'string' ? value : undefined;
  } catch {
    // Missing or broken: the caller says "unknown" or looks one level up.
    return undefined;
  }
}

/**
 * The NoFlo version this program loads. NoFlo's package.json is not among its
 * exports, so it is found from NoFlo's entry point, upwards.
 */
function nofloVersion(): string | undefined {
  let dir: string;
  try {
    dir = path.dirname(require.resolve('noflo'));
  } catch {
    return undefined;
  }
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (field(file, 'name') === 'noflo') {
      return field(file, 'version');
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      return undefined;
    }
    dir = parent;
  }
}

/** The package's own version. */
export function packageVersion(): string {
  return field(path.join(PACKAGE_ROOT, 'package.json'), 'version') ?? 'unknown';
}

/** The version text, one line each: the program, NoFlo, Node. */
export function versionText(): string {
  return [`${PROGRAM} ${packageVersion()}`, `noflo ${nofloVersion() ?? 'unknown'}`, `node ${process.version}`].join('\n');
}
