/**
 * The `component` sub-protocol of the coordinator's FBP runtime: the
 * components a graph's nodes can be (the components of discovered
 * participants, then those of the participant library, then the NoFlo
 * components and graphs the coordinator can start as participants itself), and sources: the system graph's, and those
 * of the NoFlo components here.
 */
import type { FbpClient } from '../../fbp/handler';
import { reply, type Reply, type Request } from '../../fbp/messages';
import { participantComponent } from '../../participant/fbp-endpoint';
import { hostableComponents, nofloComponent, type ComponentInfo } from '../components';
import { fail, pick, str, type Payload } from './payload';
import type { SubProtocol, SystemState } from './state';

/** `component:*` requests: `list`, `getsource`. */
export class ComponentProtocol implements SubProtocol {
  /** The hostable components, described once (each is instantiated to be). */
  private hostable: Promise<ComponentInfo[]> | undefined;

  constructor(private readonly state: SystemState) {}

  /**
   * `list`: a `component:component` per component, sent to `client` as they
   * come, then `component:componentsready` with their count, the reply.
   *
   * @throws {RequestError} for another command, or a source of a name that has none here
   */
  async handle(request: Request, client: FbpClient): Promise<Reply[]> {
    const { state } = this;
    switch (request.command) {
      case 'list': {
        const components = await this.components();
        for (const component of components) {
          client.send(reply(request, 'component', 'component', component));
        }
        return [reply(request, 'component', 'componentsready', components.length)];
      }
      case 'getsource': {
        const name = str(request.payload, 'name');
        if (name === state.graph.name || state.graphAliases.has(name)) {
          return [reply(request, 'component', 'source', { name, library: '', language: 'json', code: JSON.stringify(state.graph.toJSON(), null, 2) })];
        }
        const loader = state.options.loader;
        if (!loader || !(name in (loader.components ?? {}))) {
          fail(`no source for "${name}": it is neither the system graph "${state.graph.name}" nor a NoFlo component here`);
        }
        const source = await loader.getSource(name);
        return [reply(request, 'component', 'source', pick(source as unknown as Payload, ['name', 'library', 'language', 'code', 'tests']))];
      }
      default:
        fail('unknown command');
    }
  }

  /** Discovered components first; then the library's; then what can be hosted (described once). */
  private async components(): Promise<ComponentInfo[]> {
    const { options, coordinator } = this.state;
    const loader = options.loader;
    if (loader && options.participantHost) {
      this.hostable ??= (async () => {
        const described: ComponentInfo[] = [];
        for (const name of hostableComponents(loader)) {
          const info = await nofloComponent(loader, name);
          if (info) {
            described.push(info);
          }
        }
        return described;
      })();
    }
    const byName = new Map<string, ComponentInfo>();
    for (const definition of coordinator.registry.list()) {
      byName.set(definition.component, participantComponent(definition, false));
    }
    for (const component of options.commands?.library.components.values() ?? []) {
      if (!byName.has(component.name)) {
        // Its ports are known once a participant of it announces them.
        byName.set(component.name, { name: component.name, description: `started with: ${component.template}`, icon: '', subgraph: false, inPorts: [], outPorts: [] });
      }
    }
    for (const info of (await this.hostable) ?? []) {
      if (!byName.has(info.name)) {
        byName.set(info.name, info);
      }
    }
    return [...byName.values()];
  }
}
