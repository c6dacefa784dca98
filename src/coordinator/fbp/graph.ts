/**
 * The `graph` sub-protocol of the coordinator's FBP runtime: editing the
 * one graph it holds. Nodes are roles: a new node's participant is found
 * among those discovered, or started in this process (a NoFlo component or
 * graph), or waited for; edges are bindings, exported ports are the
 * system's. Every change that touches the system is applied at once
 * (`SystemState.apply`); metadata and groups are the graph's alone.
 * `graph:clear` replaces the graph: the participants it started stop, its
 * bindings are removed.
 */
import * as noflo from 'noflo';
import { reply, type Reply, type Request } from '../../fbp/messages';
import type { Host } from '../../host/host';
import { findComponent } from '../../host/library';
import { listNames, lookupComponent } from '../../runtime/component-names';
import { hostableComponents } from '../components';
import { edgeId, fail, meta, nodePort, pick, str, type Payload } from './payload';
import { portsMessage } from './runtime';
import type { SubProtocol, SystemState } from './state';

/** `graph:*` requests: every command of the sub-protocol but `error`. */
export class GraphProtocol implements SubProtocol {
  constructor(private readonly state: SystemState) {}

  /**
   * The replies to a change: its echo, built from the fields the protocol
   * defines (a removed node's edges, IIPs and exported ports first; an
   * exported port's change followed by `runtime:ports`).
   *
   * @throws {RequestError} for an unknown command, another graph, a payload missing a field, a node, edge, port or group that does not exist (or already does)
   * @throws the host's error when the participant of a new node cannot start, the coordinator's when a binding fails
   */
  async handle(request: Request): Promise<Reply[]> {
    const { state } = this;
    const p = request.payload;
    const command = request.command;
    const ok = (payload: Payload): Reply[] => [reply(request, 'graph', command, payload)];
    if (command === 'clear') {
      return this.clear(request);
    }
    if (command === 'error') {
      fail('unknown command');
    }
    const graph = state.checkGraph(p);
    const g = state.graph;
    switch (command) {
      case 'addnode': {
        const id = str(p, 'id');
        const component = str(p, 'component');
        if (g.getNode(id)) {
          fail(`node "${id}" already exists in graph "${graph}"`);
        }
        await this.adopt(id, component);
        g.addNode(id, component, meta(p));
        await state.apply();
        return ok({ id, component, metadata: meta(p), graph });
      }
      case 'removenode': {
        const id = str(p, 'id');
        state.checkNode(id);
        const replies: Reply[] = [];
        for (const edge of g.edges.filter((e) => e.from.node === id || e.to.node === id)) {
          replies.push(reply(request, 'graph', 'removeedge', { src: { node: edge.from.node, port: edge.from.port }, tgt: { node: edge.to.node, port: edge.to.port }, graph }));
        }
        for (const iip of g.initializers.filter((i) => i.to.node === id)) {
          replies.push(reply(request, 'graph', 'removeinitial', { src: { data: iip.from.data as unknown }, tgt: { node: iip.to.node, port: iip.to.port }, graph }));
        }
        for (const [kind, exported] of [['removeinport', g.inports], ['removeoutport', g.outports]] as const) {
          for (const [name, target] of Object.entries(exported)) {
            if (target.process === id) {
              replies.push(reply(request, 'graph', kind, { public: name, graph }));
            }
          }
        }
        g.removeNode(id);
        const role = state.roleOf(id);
        state.roles.delete(id);
        await this.release(role);
        await state.apply();
        replies.push(reply(request, 'graph', 'removenode', { id, graph }));
        return replies;
      }
      case 'renamenode': {
        const from = str(p, 'from');
        const to = str(p, 'to');
        state.checkNode(from);
        if (g.getNode(to)) {
          fail(`node "${to}" already exists in graph "${graph}"`);
        }
        // The node keeps its role, and so its queues and what waits in them.
        state.roles.set(to, state.roleOf(from));
        state.roles.delete(from);
        g.renameNode(from, to);
        await state.apply();
        return ok({ from, to, graph });
      }
      case 'changenode': {
        const id = str(p, 'id');
        state.checkNode(id);
        g.setNodeMetadata(id, meta(p));
        return ok({ id, metadata: { ...(g.getNode(id)?.metadata ?? {}) }, graph });
      }
      case 'addedge': {
        const src = nodePort(p, 'src');
        const tgt = nodePort(p, 'tgt');
        state.checkNode(src.node);
        state.checkNode(tgt.node);
        state.checkPort(src, 'outports');
        state.checkPort(tgt, 'inports');
        if (src.index !== undefined || tgt.index !== undefined) {
          g.addEdgeIndex(src.node, src.port, src.index, tgt.node, tgt.port, tgt.index, meta(p));
        } else {
          g.addEdge(src.node, src.port, tgt.node, tgt.port, meta(p));
        }
        await state.apply();
        return ok({ src, tgt, metadata: meta(p), graph });
      }
      case 'removeedge': {
        const src = nodePort(p, 'src');
        const tgt = nodePort(p, 'tgt');
        if (!g.getEdge(src.node, src.port, tgt.node, tgt.port)) {
          fail(`no edge ${edgeId(src, tgt)} in graph "${graph}"`);
        }
        g.removeEdge(src.node, src.port, tgt.node, tgt.port);
        await state.apply();
        return ok({ src, tgt, graph });
      }
      case 'changeedge': {
        const src = nodePort(p, 'src');
        const tgt = nodePort(p, 'tgt');
        const edge = g.getEdge(src.node, src.port, tgt.node, tgt.port);
        if (!edge) {
          fail(`no edge ${edgeId(src, tgt)} in graph "${graph}"`);
        }
        g.setEdgeMetadata(src.node, src.port, tgt.node, tgt.port, meta(p));
        return ok({ src, tgt, metadata: { ...(edge.metadata ?? {}) }, graph });
      }
      case 'addinitial': {
        const tgt = nodePort(p, 'tgt');
        state.checkNode(tgt.node);
        state.checkPort(tgt, 'inports');
        const source = p.src;
        if (typeof source !== 'object' || source === null || !('data' in source)) {
          fail('missing src.data: the packet to send');
        }
        const data = (source as Payload).data;
        if (tgt.index !== undefined) {
          g.addInitialIndex(data, tgt.node, tgt.port, tgt.index, meta(p));
        } else {
          g.addInitial(data, tgt.node, tgt.port, meta(p));
        }
        await state.syncIips();
        return ok({ src: { data }, tgt, metadata: meta(p), graph });
      }
      case 'removeinitial': {
        const tgt = nodePort(p, 'tgt');
        const removed = g.initializers.filter((iip) => iip.to.node === tgt.node && iip.to.port === tgt.port);
        if (removed.length === 0) {
          fail(`no IIP to ${edgeId(undefined, tgt)} in graph "${graph}"`);
        }
        g.removeInitial(tgt.node, tgt.port);
        await state.syncIips();
        return removed.map((iip) => reply(request, 'graph', 'removeinitial', { src: { data: iip.from.data as unknown }, tgt, graph }));
      }
      case 'addinport':
      case 'addoutport': {
        const name = str(p, 'public');
        const node = str(p, 'node');
        const port = str(p, 'port');
        state.checkNode(node);
        state.checkPort({ node, port }, command === 'addinport' ? 'inports' : 'outports');
        if (command === 'addinport') {
          g.addInport(name, node, port, meta(p));
        } else {
          g.addOutport(name, node, port, meta(p));
        }
        await state.apply();
        return [reply(request, 'graph', command, { public: name, node, port, ...pick(p, ['metadata']), graph }), portsMessage(state, undefined)];
      }
      case 'removeinport':
      case 'removeoutport': {
        const name = str(p, 'public');
        const exported = command === 'removeinport' ? g.inports : g.outports;
        if (!(name in exported)) {
          fail(`no exported ${command === 'removeinport' ? 'inport' : 'outport'} "${name}" in graph "${graph}"`);
        }
        if (command === 'removeinport') {
          g.removeInport(name);
        } else {
          g.removeOutport(name);
        }
        await state.apply();
        return [reply(request, 'graph', command, { public: name, graph }), portsMessage(state, undefined)];
      }
      case 'renameinport':
      case 'renameoutport': {
        const from = str(p, 'from');
        const to = str(p, 'to');
        const exported = command === 'renameinport' ? g.inports : g.outports;
        if (!(from in exported)) {
          fail(`no exported port "${from}" in graph "${graph}"`);
        }
        if (command === 'renameinport') {
          g.renameInport(from, to);
        } else {
          g.renameOutport(from, to);
        }
        await state.apply();
        return [reply(request, 'graph', command, { from, to, graph }), portsMessage(state, undefined)];
      }
      case 'addgroup': {
        const name = str(p, 'name');
        const nodes = p.nodes;
        if (!Array.isArray(nodes) || nodes.some((n) => typeof n !== 'string')) {
          fail('missing nodes: expected an array of node ids');
        }
        g.addGroup(name, nodes as string[], meta(p));
        return ok({ name, nodes, metadata: meta(p), graph });
      }
      case 'removegroup': {
        const name = str(p, 'name');
        this.group(name);
        g.removeGroup(name);
        return ok({ name, graph });
      }
      case 'renamegroup': {
        const from = str(p, 'from');
        const to = str(p, 'to');
        this.group(from);
        g.renameGroup(from, to);
        return ok({ from, to, graph });
      }
      case 'changegroup': {
        const name = str(p, 'name');
        this.group(name);
        g.setGroupMetadata(name, meta(p));
        return ok({ name, metadata: { ...(g.groups.find((group) => group.name === name)?.metadata ?? {}) }, graph });
      }
      default:
        fail('unknown command');
    }
  }

  private group(name: string): void {
    const { state } = this;
    if (!state.graph.groups.some((group) => group.name === name)) {
      fail(`no group "${name}" in graph "${state.graph.name}"`);
    }
  }

  private async clear(request: Request): Promise<Reply[]> {
    const { state } = this;
    const p = request.payload;
    const id = str(p, 'id');
    for (const role of [...state.hosted, ...state.launched]) {
      await this.release(role);
    }
    state.roles.clear();
    state.graphAliases.clear();
    state.graph = new noflo.Graph(id, { caseSensitive: true });
    state.started = false;
    await state.apply();
    return [reply(request, 'graph', 'clear', pick(p, ['id', 'name', 'library', 'main', 'icon', 'description']))];
  }

  /**
   * Find or start the participant of a new node: a participant of that role
   * already there is used; a component of the participant library is
   * started with its command; a NoFlo component or graph is started in this
   * process; a component only discovered elsewhere is waited for.
   */
  private async adopt(role: string, component: string): Promise<void> {
    const { state } = this;
    if ([...state.roles.values()].includes(role)) {
      fail(`role "${role}" is already played by another node of graph "${state.graph.name}"`);
    }
    const registry = state.coordinator.registry;
    const existing = registry.byRole(role);
    if (existing) {
      if (existing.component !== component) {
        fail(`a participant of role "${role}" runs ${existing.component}, not ${component}`);
      }
      state.roles.set(role, role);
      return;
    }
    const commands = state.options.commands;
    const fromLibrary = commands && findComponent(commands.library, component);
    if (fromLibrary) {
      // The coordinator sends the IIPs itself, through the inqueue, as msgflo's does.
      await commands.start({ role, component: fromLibrary, iips: {} });
      state.launched.add(role);
      state.roles.set(role, role);
      return;
    }
    const host = state.options.participantHost;
    const lookup = lookupComponent(component, hostableComponents(state.options.loader));
    if (host && lookup.kind === 'ambiguous') {
      fail(`component "${component}" is ambiguous: ${listNames(lookup.candidates)} are all called so; give the library`);
    }
    if (host && lookup.kind === 'found') {
      // Checked as every participant's graph is: a failure names the node's role and the problem.
      const participant = await host.add({ name: role, graph: component });
      state.hosted.add(role);
      state.roles.set(role, role);
      // Known at once, rather than when its discovery message comes around.
      registry.handle({ protocol: 'discovery', command: 'participant', payload: participant.definition });
      return;
    }
    if (registry.list().some((definition) => definition.component === component)) {
      state.roles.set(role, role);
      return;
    }
    fail(`unknown component "${component}": neither in the participant library, nor a NoFlo component or graph this coordinator can start, nor the component of a discovered participant`);
  }

  /** Stop a participant this runtime started for a node now gone. */
  private async release(role: string): Promise<void> {
    const { state } = this;
    const registry = state.coordinator.registry;
    if (state.launched.delete(role)) {
      await state.options.commands?.stop(role);
      // Gone with its process: not kept until its discovery times out.
      for (const definition of registry.list().filter((d) => d.role === role)) {
        registry.forget(definition.id);
      }
      return;
    }
    if (!state.hosted.delete(role)) {
      return;
    }
    const host = state.options.participantHost as Host;
    const ids = host.list().filter((definition) => definition.role === role).map((definition) => definition.id);
    await host.remove(role);
    for (const id of ids) {
      registry.forget(id);
    }
  }
}
