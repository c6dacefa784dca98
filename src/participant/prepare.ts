/**
 * A participant's graph, found and checked before anything else of the
 * participant starts: the CLI does this first, so that a graph that cannot
 * run stops the start with its own line and nothing else (no metrics
 * server, no embedded broker, no connection); a participant started without
 * it does the same at the beginning of its start.
 */
import { createComponentLoader, resolveGraph, type ComponentLoader, type GraphSource, type WarningSink } from '../runtime/graph-source';
import { declaredPorts } from '../runtime/network';
import { resolveQueues } from './definition';
import type { ParticipantOptions } from './options';

/** A graph ready to run as a participant, and the loader that found it. */
export interface PreparedGraph {
  readonly loader: ComponentLoader;
  readonly source: GraphSource;
}

/**
 * Find `options.graph` (with `loader`, or one made for `options.basedir`),
 * check it through its subgraphs, and check its exported ports' queues
 * before the graph runs (its IIPs would, and a loop of queues would start). Throws naming the problem;
 * warnings go to `onWarning`.
 */
export async function prepareGraph(options: ParticipantOptions, deps: { loader?: ComponentLoader | undefined; onWarning?: WarningSink } = {}): Promise<PreparedGraph> {
  const onWarning = deps.onWarning ?? (() => undefined);
  const loader = deps.loader ?? (await createComponentLoader(options.basedir, { cache: options.cache, onWarning }));
  const source = await resolveGraph(options.graph, loader, options.basedir, { onWarning });
  resolveQueues(await declaredPorts(source, loader), options);
  return { loader, source };
}
