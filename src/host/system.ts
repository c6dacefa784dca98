/**
 * `--system GRAPH`: a MsgFlo system graph, whose nodes are roles. Every node
 * whose component NoFlo can load here is hosted under the node's name, with
 * the graph's IIPs to that node as its IIPs; the others (participants of
 * other runtimes, `msgflo/RoundRobin` markers) are left to whoever runs them.
 */
import path from 'node:path';
import type { ParticipantInput } from '../participant/options';
import { ROUND_ROBIN_COMPONENT } from '../protocol/bindings';
import { lookupComponent } from '../runtime/component-names';
import { loadGraphFile, type ComponentLoader } from '../runtime/graph-source';

/** A node not hosted here, and why. */
export interface LeftAlone {
  readonly node: string;
  readonly component: string;
  readonly reason: string;
}

/** What to host of a system graph. */
export interface SystemPlan {
  readonly participants: ParticipantInput[];
  readonly leftAlone: LeftAlone[];
}

/**
 * Read a system graph and decide which of its nodes this process hosts.
 * With `initials: false` the graph's IIPs are not given to the participants
 * as their own: a coordinator sends them through the roles' inqueues, once
 * the bindings downstream are made (an IIP a participant takes at its start
 * is answered before anything is bound, and its output lost).
 */
export async function planSystem(file: string, loader: ComponentLoader, basedir: string, options: { initials?: boolean } = {}): Promise<SystemPlan> {
  const graph = await loadGraphFile(path.resolve(basedir, file));
  const names = Object.keys(loader.components ?? {});
  const participants: ParticipantInput[] = [];
  const leftAlone: LeftAlone[] = [];
  for (const node of graph.nodes) {
    const component = node.component;
    if (component === ROUND_ROBIN_COMPONENT) {
      leftAlone.push({ node: node.id, component, reason: 'a round-robin binding, made by the coordinator' });
    } else if (lookupComponent(component, names).kind === 'missing') {
      leftAlone.push({ node: node.id, component, reason: 'no NoFlo component of that name here (a participant of another runtime?)' });
    } else {
      // Found as NoFlo finds it (a name without library too); one that several libraries have fails this participant's start, naming them.
      const iips: Record<string, unknown> = {};
      for (const iip of options.initials === false ? [] : graph.initializers) {
        if (iip.to.node === node.id) {
          iips[iip.to.port] = iip.from.data;
        }
      }
      participants.push({ name: node.id, graph: component, iips });
    }
  }
  return { participants, leftAlone };
}
