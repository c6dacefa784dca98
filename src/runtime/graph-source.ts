/**
 * Finding what to run: a graph file, or a component or graph by name as NoFlo's
 * ComponentLoader resolves it from a base directory. Whatever it is, the
 * result is a NoFlo graph; a lone component becomes a graph of one node whose
 * ports are all exported (see `./network.ts`).
 */
import createDebug from 'debug';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import noflo from 'noflo';
import { GraphLoadError, errorMessage } from '../errors';

const debug = createDebug('noflo-runtime-msgflo:graph-source');

/** A NoFlo graph instance (fbp-graph's Graph, as NoFlo exports it). */
export type Graph = InstanceType<typeof noflo.Graph>;

/** A NoFlo component loader. */
export type ComponentLoader = InstanceType<typeof noflo.ComponentLoader>;

/** The node id a lone component runs as. */
export const COMPONENT_NODE = 'main';

/** What a graph spec resolved to. */
export interface GraphSource {
  /** The graph the network runs. */
  readonly graph: Graph;
  /** True when a single component was named: every port of its node is exported. */
  readonly singleComponent: boolean;
}

/** This package's root, where `noflo-core` is installed next to us. */
const packageRoot = path.resolve(__dirname, '..', '..', '..');

/**
 * A component loader for `basedir`. Components that the base directory does
 * not provide itself but this runtime ships with (`core/*`) are registered
 * too, so `--graph core/Repeat` works from any directory.
 */
export async function createComponentLoader(basedir: string, options: { cache?: boolean } = {}): Promise<ComponentLoader> {
  // With the cache on, `discover` makes NoFlo write fbp.json when it is missing.
  const loader = new noflo.ComponentLoader(basedir, options.cache ? { cache: true, discover: true } : { cache: false });
  try {
    await loader.listComponents();
  } catch (cause) {
    throw new GraphLoadError(`cannot list NoFlo components in "${basedir}": ${errorMessage(cause)}`, { cause });
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

/** Whether a spec names a file rather than a component. */
function looksLikeFile(spec: string, basedir: string): boolean {
  return /\.(fbp|json)$/i.test(spec) || existsSync(path.resolve(basedir, spec));
}

/** Load a graph file (`.fbp` or `.json`). */
export async function loadGraphFile(file: string): Promise<Graph> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(cause);
    throw new GraphLoadError(`cannot read graph file "${file}": ${reason}`, { cause });
  }
  let graph: Graph;
  try {
    graph = file.toLowerCase().endsWith('.json') ? await noflo.loadJSON(text) : await noflo.loadFBP(text);
  } catch (cause) {
    throw new GraphLoadError(`cannot parse graph file "${file}": ${errorMessage(cause)}`, { cause });
  }
  if (graph.nodes.length === 0) {
    throw new GraphLoadError(`cannot parse graph file "${file}": it defines no processes (is it a NoFlo graph?)`);
  }
  return graph;
}

/** Resolve `spec` (a file, or a component or graph name) into the graph to run. */
export async function resolveGraph(spec: string, loader: ComponentLoader, basedir: string): Promise<GraphSource> {
  if (!spec) {
    throw new GraphLoadError('no graph given: name a component (core/Repeat), a graph (project/MyGraph) or a file (graphs/x.fbp)');
  }
  if (looksLikeFile(spec, basedir)) {
    const file = path.resolve(basedir, spec);
    debug('loading graph file %s', file);
    return { graph: await loadGraphFile(file), singleComponent: false };
  }
  const components = loader.components ?? {};
  const definition = components[spec];
  if (definition === undefined) {
    throw new GraphLoadError(`graph "${spec}" not found: no such file, and no component or graph of that name in "${basedir}" (check the name and --basedir)`);
  }
  if (loader.isGraph(definition)) {
    debug('%s is a graph', spec);
    if (typeof definition === 'string') {
      return { graph: await loadGraphFile(definition), singleComponent: false };
    }
    return { graph: definition as Graph, singleComponent: false };
  }
  const graph = new noflo.Graph(spec);
  graph.addNode(COMPONENT_NODE, spec);
  return { graph, singleComponent: true };
}
