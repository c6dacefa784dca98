/**
 * Checking a graph before it runs, through its subgraphs: every node's
 * component must resolve (as NoFlo resolves names), every subgraph must
 * parse, and no graph may include itself, directly or through others. NoFlo
 * finds none of these before it runs: an unknown component fails the start
 * with the graph's name only, and a graph that includes itself makes it
 * load subgraphs without end, until the process runs out of memory.
 */
import { GraphLoadError } from '../errors';
import { listNames, lookupComponent, nofloChoice } from './component-names';
import type { Graph } from './graph-file';

/** A graph to check, or one a node stands for. */
export interface GraphEntry {
  /** Its name in messages: the registered name, else the file as given. */
  readonly label: string;
  /** Tells the same graph apart whatever it is called by: its real file path, or its definition object. */
  readonly key: unknown;
  /** The file it is read from, if any. */
  readonly file?: string | undefined;
  readonly graph: Graph;
}

/** What the check needs to know of the components around (a NoFlo loader, in practice). */
export interface GraphCatalog {
  /** Every registered component and graph name, in the loader's order. */
  readonly names: readonly string[];
  /** Where the names come from, for messages (the project directory). */
  readonly where: string;
  /** The component cache (`fbp.json`) the names were read from, when caching is on: a name missing from it may only be missing from a stale cache. */
  readonly cacheFile?: string | undefined;
  /** The graph registered as `name`, read and parsed; undefined for a component. Throws when it does not parse. */
  subgraph(name: string): Promise<GraphEntry | undefined>;
  /** A component file that `entry`, a graph, hides by taking its name; for the message of a graph including itself. */
  hiddenComponent?(entry: GraphEntry): Promise<string | undefined>;
}

/** What a graph that passed the check leaves to say. */
export interface GraphCheckResult {
  readonly warnings: string[];
}

/** One step of a chain of graphs: the node, in the graph before it, that includes this one. */
interface Step {
  readonly entry: GraphEntry;
  readonly node?: { readonly id: string; readonly component: string };
}

/** The place of a graph for messages: its file when it has one. */
function placeOf(entry: GraphEntry): string {
  return entry.file ? `graph file "${entry.file}"` : `graph "${entry.label}"`;
}

/** `A → x (B) → y (A)`: the first graph, then each node that includes the next. */
function describeChain(chain: readonly Step[]): string {
  return chain.map((step, index) => (index > 0 && step.node ? `${step.node.id} (${step.node.component})` : step.entry.label)).join(' → ');
}

/**
 * Check `root` and every graph it includes. Throws a {@link GraphLoadError}
 * naming the problem and where it is; resolves with warnings otherwise.
 */
export async function checkGraph(root: GraphEntry, catalog: GraphCatalog): Promise<GraphCheckResult> {
  const warnings: string[] = [];
  // Graphs checked through and through: one a second node includes again is fine.
  const done = new Set<unknown>();

  const visit = async (chain: readonly Step[]): Promise<void> => {
    const { entry } = chain[chain.length - 1] as Step;
    for (const node of entry.graph.nodes) {
      const lookup = lookupComponent(node.component, catalog.names);
      const name = nofloChoice(lookup);
      if (name === undefined) {
        throw new GraphLoadError(
          `${placeOf(entry)}: node "${node.id}" uses component "${node.component}", which is not installed: no component or graph of that name in "${catalog.where}"${catalog.cacheFile ? ` (${staleCache(catalog.cacheFile)})` : ''}`,
        );
      }
      if (lookup.kind === 'ambiguous') {
        warnings.push(`${placeOf(entry)}: node "${node.id}" uses component "${node.component}", which fits ${listNames(lookup.candidates)}; NoFlo loads ${name} (name the library to choose)`);
      }
      const sub = await catalog.subgraph(name);
      if (!sub) {
        continue;
      }
      const step: Step = { entry: sub, node: { id: node.id, component: node.component } };
      const again = chain.findIndex((earlier) => earlier.entry.key === sub.key);
      if (again >= 0) {
        const hidden = await catalog.hiddenComponent?.(sub);
        const hint = hidden ? `; the graph takes the name of component ${hidden}, which NoFlo cannot load while the graph is there: rename one of them` : '';
        throw new GraphLoadError(`graph ${sub.label} includes itself: ${describeChain([...chain.slice(again), step])}${rootNote(chain, again)}${hint}`);
      }
      if (done.has(sub.key)) {
        continue;
      }
      await visit([...chain, step]);
      done.add(sub.key);
    }
  };

  await visit([{ entry: root }]);
  return { warnings };
}

/**
 * What to say of component cache `file` (NoFlo's `fbp.json`, written by
 * fbp-manifest under `--cache`) when a name is not in it: it may be stale.
 */
export function staleCache(file: string): string {
  return `the component cache ${file} may be stale: delete it or run without --cache`;
}

/** For a loop deeper down than the graph started: how the graph started reaches it. */
function rootNote(chain: readonly Step[], again: number): string {
  return again > 0 ? ` (reached from ${describeChain(chain.slice(0, again + 1))})` : '';
}
