/**
 * The `runtime` sub-protocol of the coordinator's FBP runtime: what the
 * runtime is (`runtime:runtime`), the graph's exported ports
 * (`runtime:ports`), packets sent to an exported inport
 * (`runtime:packet` → `runtime:packetsent`, published to the inqueue behind
 * it), and the packets coming out of an exported outport (`runtime:packet`,
 * to every client).
 */
import { FBP_PROTOCOL_VERSION, reply, type Reply, type Request } from '../../fbp/messages';
import type { Graph } from '../../runtime/graph-source';
import { fail, pick, str } from './payload';
import type { SubProtocol, SystemState } from './state';

/** What the coordinator's runtime can do, as `runtime:runtime` announces it. */
export const COORDINATOR_CAPABILITIES = [
  'protocol:runtime',
  'protocol:graph',
  'protocol:component',
  'protocol:network',
  'component:getsource',
  'network:status',
  'network:data',
  'network:control',
];

/**
 * `runtime:ports`: the graph's exported ports, each described by the port of
 * the participant behind it once that is known (`all`, no description,
 * before). A notification without `request`.
 */
export function portsMessage(state: SystemState, request: Request | undefined): Reply {
  const ports = (exported: Graph['inports'], kind: 'inports' | 'outports'): unknown[] =>
    Object.entries(exported).map(([id, target]) => {
      const definition = state.coordinator.registry.byRole(state.roleOf(target.process));
      const port = definition?.[kind].find((q) => q.id === target.port);
      return { id, type: port?.type ?? 'all', description: port?.description ?? '', addressable: false, required: false };
    });
  return reply(request, 'runtime', 'ports', { graph: state.graph.name, inPorts: ports(state.graph.inports, 'inports'), outPorts: ports(state.graph.outports, 'outports') });
}

/** `runtime:*` requests: `getruntime`, `packet`. */
export class RuntimeProtocol implements SubProtocol {
  constructor(private readonly state: SystemState) {}

  /** @throws {RequestError} for another command, or a packet without graph, port or event */
  async handle(request: Request): Promise<Reply[]> {
    const { state } = this;
    const p = request.payload;
    switch (request.command) {
      case 'getruntime':
        return [
          reply(request, 'runtime', 'runtime', {
            id: state.id,
            label: 'MsgFlo system (noflo-runtime-msgflo coordinator)',
            type: 'msgflo',
            version: FBP_PROTOCOL_VERSION,
            capabilities: COORDINATOR_CAPABILITIES,
            allCapabilities: COORDINATOR_CAPABILITIES,
            graph: state.graph.name,
          }),
          portsMessage(state, request),
        ];
      case 'packet': {
        state.checkGraph(p);
        const port = str(p, 'port');
        const event = str(p, 'event');
        if (event === 'data') {
          await state.coordinator.send(port, p.payload);
        }
        return [reply(request, 'runtime', 'packetsent', { ...pick(p, ['port', 'event', 'type', 'schema']), graph: state.graph.name, payload: p.payload })];
      }
      default:
        fail('unknown command');
    }
  }

  /** A packet out of the exported outport `port`: `runtime:packet` to every client. */
  outportData(port: string, data: unknown): void {
    this.state.broadcast(reply(undefined, 'runtime', 'packet', { port, event: 'data', payload: data, graph: this.state.graph.name }));
  }
}
