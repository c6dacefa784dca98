/**
 * `--system GRAPH`: a MsgFlo system graph, whose nodes are roles. Every node
 * whose component NoFlo can load here is hosted under the node's name, with
 * the graph's IIPs to that node as its IIPs. A node whose component the
 * participant library has (see `./library.ts`) is started with the
 * library's command instead, in a process of its own. The others
 * (participants run elsewhere, `msgflo/RoundRobin` markers) are left to
 * whoever runs them.
 */
import path from 'node:path';
import type { ParticipantInput } from '../participant/options';
import { ROUND_ROBIN_COMPONENT } from '../protocol/bindings';
import { lookupComponent } from '../runtime/component-names';
import { loadGraphFile, type ComponentLoader } from '../runtime/graph-source';
import { findComponent, type Library, type LibraryComponent } from './library';

/** A node not hosted here, and why. */
export interface LeftAlone {
  readonly node: string;
  readonly component: string;
  readonly reason: string;
}

/** A node started with the participant library's command. */
export interface LibraryNode {
  readonly role: string;
  readonly component: LibraryComponent;
  /** The graph's IIPs to the node, by inport (empty with `initials: false`). */
  readonly iips: Record<string, unknown>;
}

/** What to host of a system graph. */
export interface SystemPlan {
  /** The NoFlo participants to host in this process. */
  readonly participants: ParticipantInput[];
  /** The nodes to start as processes of their own, from the library. */
  readonly commands: LibraryNode[];
  readonly leftAlone: LeftAlone[];
}

/**
 * Read a system graph and decide which of its nodes this process hosts.
 * With `initials: false` the graph's IIPs are not given to the participants
 * as their own: a coordinator sends them through the roles' inqueues, once
 * the bindings downstream are made (an IIP a participant takes at its start
 * is answered before anything is bound, and its output lost). A component
 * that `library` has is started with its command, even when NoFlo could
 * load it here: the library says how the project wants it run.
 */
export async function planSystem(
  file: string,
  loader: ComponentLoader,
  basedir: string,
  options: { initials?: boolean; library?: Library } = {},
): Promise<SystemPlan> {
  const graph = await loadGraphFile(path.resolve(basedir, file));
  const names = Object.keys(loader.components ?? {});
  const participants: ParticipantInput[] = [];
  const commands: LibraryNode[] = [];
  const leftAlone: LeftAlone[] = [];
  const initials = (role: string): Record<string, unknown> => {
    const iips: Record<string, unknown> = {};
    for (const iip of options.initials === false ? [] : graph.initializers) {
      if (iip.to.node === role) {
        iips[iip.to.port] = iip.from.data;
      }
    }
    return iips;
  };
  for (const node of graph.nodes) {
    const component = node.component;
    const fromLibrary = options.library && findComponent(options.library, component);
    if (component === ROUND_ROBIN_COMPONENT) {
      leftAlone.push({ node: node.id, component, reason: 'a round-robin binding, made by the coordinator' });
    } else if (fromLibrary) {
      commands.push({ role: node.id, component: fromLibrary, iips: initials(node.id) });
    } else if (lookupComponent(component, names).kind === 'missing') {
      leftAlone.push({ node: node.id, component, reason: 'no NoFlo component of that name here, nor a command for it in the participant library (a participant of another runtime?)' });
    } else {
      // Found as NoFlo finds it (a name without library too); one that several libraries have fails this participant's start, naming them.
      participants.push({ name: node.id, graph: component, iips: initials(node.id) });
    }
  }
  return { participants, commands, leftAlone };
}
