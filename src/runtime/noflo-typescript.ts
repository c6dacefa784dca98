/**
 * NoFlo's Node loader (`noflo/lib/loader/NodeJs.js`, NoFlo 1.x) requires the
 * `typescript` package as soon as it is loaded, wherever it can find one, to
 * transpile `.ts` components; but it keeps `require('typescript').default`,
 * which TypeScript's CommonJS build does not have, so it never transpiles
 * with it. Loading the compiler for nothing costs about 0.27 s of start-up
 * and 46 MB of memory in every process whose project has TypeScript
 * installed (a devDependency of most TypeScript projects, and of this one).
 * See docs/performance.md, "What a participant loads at start".
 */
import Module from 'node:module';

/**
 * Set (true) on the module object of a stand-in in `require.cache`, so that
 * what lists the loaded modules can tell it from the real package.
 */
export const STAND_IN = Symbol.for('noflo-runtime-msgflo.stand-in');

/** What NoFlo's loader, or a promise it is returned to, asks of the module without using it. */
const UNUSED_KEYS: ReadonlySet<PropertyKey> = new Set(['default', 'then', '__esModule']);

/**
 * For each directory of `from`, put a stand-in for the `typescript` package
 * that resolves from there into `require.cache` (Node's documented module
 * cache), unless it is loaded already. The stand-in answers `default` (what
 * NoFlo reads), `then` and `__esModule` with undefined, and loads the real
 * compiler on any other use, so that code that does use TypeScript in the
 * same process gets it. Directories without TypeScript are skipped.
 *
 * @param from - directories to resolve `typescript` from: where NoFlo is
 *   installed, and the project's own directory (its NoFlo may be another)
 */
export function spareNofloTypescript(from: readonly string[]): void {
  for (const directory of from) {
    let file: string;
    try {
      file = require.resolve('typescript', { paths: [directory] });
    } catch {
      continue; // not installed there: NoFlo does not load it either
    }
    if (require.cache[file] === undefined) {
      require.cache[file] = standIn(file);
    }
  }
}

/** A module for `file` whose exports load the real one on first real use. */
function standIn(file: string): NodeJS.Module {
  let real: Record<PropertyKey, unknown> | undefined;
  const load = (): Record<PropertyKey, unknown> => {
    if (real === undefined) {
      delete require.cache[file];
      real = require(file) as Record<PropertyKey, unknown>;
    }
    return real;
  };
  const surface = new Proxy<Record<PropertyKey, unknown>>(
    {},
    {
      get: (_target, key) => (UNUSED_KEYS.has(key) && real === undefined ? undefined : load()[key]),
      has: (_target, key) => key in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_target, key) => {
        const descriptor = Reflect.getOwnPropertyDescriptor(load(), key);
        // A proxy may not report a property its (empty) target lacks as non-configurable.
        return descriptor === undefined ? undefined : { ...descriptor, configurable: true };
      },
    },
  );
  const module = new Module(file);
  module.filename = file;
  module.loaded = true;
  module.exports = surface;
  Object.defineProperty(module, STAND_IN, { value: true });
  return module;
}
