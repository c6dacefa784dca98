/**
 * Finding what to run: a graph file, or a component or graph by name as NoFlo's
 * ComponentLoader resolves it from a base directory. Whatever it is, the
 * result is a NoFlo graph; a lone component becomes a graph of one node whose
 * ports are all exported (see `./network.ts`). A graph is checked before it
 * runs (see `./graph-check.ts`).
 */
import createDebug from 'debug';
import { existsSync } from 'node:fs';
import { mkdtemp, realpath, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import noflo from 'noflo';
import { GraphLoadError, errorMessage } from '../errors';
import { listNames, lookupComponent } from './component-names';
import { checkGraph, staleCache, type GraphCatalog, type GraphEntry } from './graph-check';
import { loadGraphFile, type Graph } from './graph-file';
import { listProject } from './project-listing';

export { loadGraphFile, type Graph } from './graph-file';

const debug = createDebug('noflo-runtime-msgflo:graph-source');

/** A NoFlo component loader. */
export type ComponentLoader = InstanceType<typeof noflo.ComponentLoader>;

/** The file NoFlo keeps its component cache in, in the project directory (its default manifest name). */
const CACHE_FILE = 'fbp.json';

/** The node id a lone component runs as. */
export const COMPONENT_NODE = 'main';

/** What a graph spec resolved to. */
export interface GraphSource {
  /** The graph the network runs. */
  readonly graph: Graph;
  /** True when a single component was named: every port of its node is exported. */
  readonly singleComponent: boolean;
  /** What it is called in messages: the registered name, else the file as given. */
  readonly label: string;
  /** Tells this graph apart from the project's other graphs (its real file path, or its definition); none for a single component. */
  readonly key?: unknown;
}

/** Where warnings go that do not stop a start (a library does not print). */
export type WarningSink = (message: string) => void;

/** The component cache each caching loader read its names from (see {@link componentCacheFile}). */
const cacheFiles = new WeakMap<ComponentLoader, string>();

/**
 * The component cache (`fbp.json` in the project directory, NoFlo's manifest
 * cache) that `loader` listed its components from, when it was made with
 * `cache` on and the cache was there already; undefined otherwise (one it
 * wrote itself, just now, is not stale).
 */
export function componentCacheFile(loader: ComponentLoader): string | undefined {
  return cacheFiles.get(loader);
}

/** This package's root, where `noflo-core` is installed next to us. */
const packageRoot = path.resolve(__dirname, '..', '..', '..');

/**
 * A component loader for `basedir`. Components that the base directory does
 * not provide itself but this runtime ships with (`core/*`) are registered
 * too, so `--graph core/Repeat` works from any directory. A graph file of the
 * project that is not JSON is left out, with a warning, rather than keeping
 * every other graph from starting.
 */
export async function createComponentLoader(basedir: string, options: { cache?: boolean; onWarning?: WarningSink } = {}): Promise<ComponentLoader> {
  // With the cache on, `discover` makes NoFlo write fbp.json when it is missing.
  let loader = new noflo.ComponentLoader(basedir, options.cache ? { cache: true, discover: true } : { cache: false });
  // A cache written now, by this listing, is not stale.
  const cacheFile = path.resolve(basedir, CACHE_FILE);
  const cacheRead = options.cache === true && existsSync(cacheFile);
  try {
    await loader.listComponents();
    if (cacheRead) {
      cacheFiles.set(loader, cacheFile);
    }
  } catch (cause) {
    loader = await listWithoutMalformedGraphs(basedir, cause, options.onWarning);
  }
  if (path.resolve(basedir) !== packageRoot) {
    // Never cached: this package's directory may not be writable.
    const own = new noflo.ComponentLoader(packageRoot, { cache: false });
    const ownComponents = await own.listComponents();
    const known = loader.components ?? {};
    for (const [name, definition] of Object.entries(ownComponents)) {
      if (!(name in known)) {
        const [library = '', component = name] = name.includes('/') ? name.split('/', 2) : ['', name];
        loader.registerComponent(library, component, definition);
      }
    }
  }
  return loader;
}

/**
 * NoFlo's listing failed with `cause`. When that was a malformed graph file,
 * list the project without it (named in a warning) and have NoFlo register
 * that listing as its manifest; otherwise fail as NoFlo did.
 */
async function listWithoutMalformedGraphs(basedir: string, cause: unknown, onWarning: WarningSink | undefined): Promise<ComponentLoader> {
  const failed = (): GraphLoadError => new GraphLoadError(`cannot list NoFlo components in "${basedir}": ${errorMessage(cause)}`, { cause });
  if (!(cause instanceof SyntaxError)) {
    throw failed();
  }
  const listing = await listProject(basedir).catch((err: unknown) => {
    debug('listing %s again: %s', basedir, errorMessage(err));
    throw failed();
  });
  if (listing.skipped.length === 0) {
    throw failed();
  }
  for (const { file, reason } of listing.skipped) {
    onWarning?.(`skipped graph file "${file}": ${reason}`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'noflo-manifest-'));
  try {
    const manifest = path.join(dir, 'fbp.json');
    await writeFile(manifest, JSON.stringify({ version: 1, modules: listing.modules }));
    const loader = new noflo.ComponentLoader(basedir, { cache: true, manifest });
    await loader.listComponents();
    return loader;
  } catch (err) {
    throw new GraphLoadError(`cannot list NoFlo components in "${basedir}": ${errorMessage(err)}`, { cause: err });
  } finally {
    // NoFlo has read the manifest; it is ours, temporary.
    await rm(dir, { recursive: true, force: true }).catch((err: unknown) => debug('removing %s: %s', dir, errorMessage(err)));
  }
}

/**
 * Why NoFlo could not load a component or start a graph with `loader`, for
 * one line. A component of the project that requires `noflo` while the
 * project has none (this runtime's own serves only the runtime) says how to
 * install it: `no noflo in DIR/node_modules: install it with "npm install
 * noflo" in DIR`. Another module not found, with the component cache on,
 * names the cache as possibly stale. Else the first line of the cause's
 * message (Node's appendix, the require stack, goes).
 */
export function describeLoadFailure(cause: unknown, loader: ComponentLoader): string {
  const message = errorMessage(cause).split('\n', 1)[0] ?? '';
  const basedir = path.resolve(loader.baseDir);
  if (/^Cannot find module 'noflo(\/[^']*)?'$/.test(message) && !resolvesFrom('noflo', basedir)) {
    return `no noflo in ${path.join(basedir, 'node_modules')}: install it with "npm install noflo" in ${basedir}`;
  }
  const cacheFile = componentCacheFile(loader);
  if (cacheFile && (cause as NodeJS.ErrnoException | undefined)?.code === 'MODULE_NOT_FOUND') {
    return `${message} (${staleCache(cacheFile)})`;
  }
  return message;
}

/** Whether `module` can be required from directory `dir` (as a file there would find it). */
function resolvesFrom(module: string, dir: string): boolean {
  try {
    require.resolve(module, { paths: [dir] });
    return true;
  } catch {
    return false;
  }
}

/** Whether a spec names a file rather than a component. */
function looksLikeFile(spec: string, basedir: string): boolean {
  return /\.(fbp|json)$/i.test(spec) || existsSync(path.resolve(basedir, spec));
}

/** A file's identity: its real path (so a graph reached through a symlink is still itself). */
async function fileKey(file: string): Promise<string> {
  return realpath(file).catch(() => path.resolve(file));
}

/** What a loader knows, as the graph check asks it. */
export class LoaderCatalog implements GraphCatalog {
  readonly names: readonly string[];
  readonly cacheFile: string | undefined;
  private readonly graphs = new Map<string, Promise<GraphEntry | undefined>>();
  private fileNames: Promise<Map<string, string>> | undefined;

  constructor(
    private readonly loader: ComponentLoader,
    readonly where: string,
  ) {
    this.names = Object.keys(loader.components ?? {});
    this.cacheFile = componentCacheFile(loader);
  }

  subgraph(name: string): Promise<GraphEntry | undefined> {
    let entry = this.graphs.get(name);
    if (!entry) {
      entry = this.read(name);
      this.graphs.set(name, entry);
    }
    return entry;
  }

  /** The registered name of graph file `file`, if the loader has it. */
  async nameOfFile(file: string): Promise<string | undefined> {
    this.fileNames ??= (async () => {
      const byKey = new Map<string, string>();
      for (const [name, definition] of Object.entries(this.loader.components ?? {})) {
        if (typeof definition === 'string' && this.loader.isGraph(definition)) {
          byKey.set(await fileKey(definition), name);
        }
      }
      return byKey;
    })();
    return (await this.fileNames).get(await fileKey(file));
  }

  async hiddenComponent(entry: GraphEntry): Promise<string | undefined> {
    if (!entry.file) {
      return undefined;
    }
    // A graph and a component of one name: NoFlo registers the graph last, so it wins.
    const base = path.basename(entry.file, path.extname(entry.file));
    const components = path.join(path.dirname(path.dirname(entry.file)), 'components');
    for (const extension of ['.js', '.cjs', '.mjs', '.ts', '.coffee', '.litcoffee']) {
      const candidate = path.join(components, base + extension);
      if (await stat(candidate).then((s) => s.isFile(), () => false)) {
        const relative = path.relative(this.where, candidate);
        return relative.startsWith('..') ? candidate : relative;
      }
    }
    return undefined;
  }

  private async read(name: string): Promise<GraphEntry | undefined> {
    const definition: unknown = this.loader.components?.[name];
    if (definition === undefined || !this.loader.isGraph(definition as string)) {
      return undefined;
    }
    if (typeof definition === 'string') {
      return { label: name, key: await fileKey(definition), file: definition, graph: await loadGraphFile(definition) };
    }
    if (definition instanceof noflo.Graph) {
      return { label: name, key: definition, graph: definition };
    }
    // A graph definition in JSON form, registered by a custom loader.
    return { label: name, key: definition, graph: await noflo.loadJSON(definition as Parameters<typeof noflo.loadJSON>[0]) };
  }
}

/**
 * Resolve `spec` (a file, or a component or graph name) into the graph to
 * run, and check it (see `./graph-check.ts`): throws {@link GraphLoadError}
 * naming what is wrong; warnings go to `onWarning`.
 */
export async function resolveGraph(spec: string, loader: ComponentLoader, basedir: string, options: { onWarning?: WarningSink } = {}): Promise<GraphSource> {
  if (!spec) {
    throw new GraphLoadError('no graph given: name a component (core/Repeat), a graph (project/MyGraph) or a file (graphs/x.fbp)');
  }
  const catalog = new LoaderCatalog(loader, basedir);
  let root: GraphEntry;
  if (looksLikeFile(spec, basedir)) {
    const file = path.resolve(basedir, spec);
    debug('loading graph file %s', file);
    const graph = await loadGraphFile(file);
    root = { label: (await catalog.nameOfFile(file)) ?? spec, key: await fileKey(file), file, graph };
  } else {
    const lookup = lookupComponent(spec, catalog.names);
    if (lookup.kind === 'missing') {
      const cacheFile = componentCacheFile(loader);
      const hint = cacheFile ? `check the name and --basedir; ${staleCache(cacheFile)}` : 'check the name and --basedir';
      throw new GraphLoadError(`graph "${spec}" not found: no such file, and no component or graph of that name in "${basedir}" (${hint})`);
    }
    if (lookup.kind === 'ambiguous') {
      throw new GraphLoadError(`graph "${spec}" is ambiguous: ${listNames(lookup.candidates)} are all called so; give the library, e.g. --graph ${lookup.candidates[0] as string}`);
    }
    const sub = await catalog.subgraph(lookup.name);
    if (!sub) {
      debug('%s is a component', lookup.name);
      const graph = new noflo.Graph(lookup.name);
      graph.addNode(COMPONENT_NODE, lookup.name);
      return { graph, singleComponent: true, label: lookup.name };
    }
    debug('%s is a graph', lookup.name);
    root = sub;
  }
  const { warnings } = await checkGraph(root, catalog);
  for (const warning of warnings) {
    options.onWarning?.(warning);
  }
  return { graph: root.graph, singleComponent: false, label: root.label, key: root.key };
}

/**
 * Check a node about to be added to a graph that runs (the full FBP
 * protocol's `graph:addnode`), as {@link resolveGraph} checks a graph before
 * it starts: its component must resolve, and a graph it stands for must
 * parse, resolve through and through, and include neither itself nor the
 * graph `into` (which NoFlo would load without end). Resolves with warnings.
 *
 * @param into - the graph edited: its name, and the key {@link GraphSource.key} gave it
 * @throws GraphLoadError naming the node, the component and what is wrong
 */
export async function checkAddedNode(
  into: { readonly label: string; readonly key: unknown },
  node: { readonly id: string; readonly component: string },
  loader: ComponentLoader,
  basedir: string,
): Promise<string[]> {
  const graph = new noflo.Graph(into.label);
  graph.addNode(node.id, node.component);
  const { warnings } = await checkGraph({ label: into.label, key: into.key, graph }, new LoaderCatalog(loader, basedir));
  return warnings;
}
