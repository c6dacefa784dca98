/**
 * The read-only FBP runtime protocol of one participant, served on its queue
 * pair (`../fbp/queue-pair.ts`) and, with `--protocol-port`, a WebSocket
 * (`../fbp/websocket.ts`): runtime, component (its own, and the source of
 * its graph), network status and the packets on its edges, and trace
 * (turned on and off here too: tracing observes, it edits nothing).
 * Replies are built from the fields the protocol defines, never by echoing
 * the request. The full protocol (`--protocol-full`) is `./fbp-full.ts`.
 */
import type { EventEmitter } from 'node:events';
import type { FbpHandler } from '../fbp/handler';
import { error, FBP_PROTOCOL_VERSION, reply, type ComponentInfo, type ComponentPort, type Reply, type Request } from '../fbp/messages';
import type { ParticipantDefinition } from '../protocol/definition';
import type { Graph } from '../runtime/graph-source';
import { PacketFeed } from './fbp-packets';
import { traceReply, type ParticipantTrace } from './trace';

/** What this endpoint can do, as `runtime:runtime` announces it. */
export const PARTICIPANT_CAPABILITIES = ['protocol:runtime', 'protocol:component', 'component:getsource', 'protocol:network', 'network:status', 'network:data', 'protocol:trace'];

/** What the endpoint reads from its participant. */
export interface EndpointSubject {
  readonly definition: ParticipantDefinition;
  readonly graph: Graph;
  /** Whether the participant consumes and its network runs. */
  readonly running: boolean;
  /** Its Flowtrace, which `trace:*` requests turn on and off, dump and clear. */
  readonly trace: ParticipantTrace;
}

/** An endpoint's way of answering, closed with its participant. */
export interface FbpEndpoint extends FbpHandler {
  /** Release what the endpoint holds (listeners on the participant's network, networks its clients started); the participant is stopping. */
  close(): void | Promise<void>;
}

/**
 * The read-only protocol of `subject`, for the queue pair and the WebSocket:
 * {@link handle}'s replies, and the packets of `network` (the participant's
 * running NoFlo network, if one runs) pushed as `network:data` to clients.
 */
export function readOnlyEndpoint(subject: EndpointSubject, network: EventEmitter | undefined): FbpEndpoint {
  const packets = new PacketFeed(network, subject.definition.component);
  return {
    respond(request, client) {
      if (typeof request !== 'string') {
        packets.follow(client);
        if (request.protocol === 'network' && request.command === 'edges') {
          const selected = packets.select(client, request.payload.edges, request.requestId);
          return selected ? [selected] : [];
        }
      }
      return handle(request, subject);
    },
    disconnected: (client) => packets.forget(client),
    close: () => packets.close(),
  };
}

/**
 * A participant's component as `component:component` gives it, from its
 * discovery message: its ports, with no datatype given as `all`, none
 * addressable or required (a queue is neither).
 *
 * @param subgraph - whether to call it a graph (the participant's own endpoint does; the coordinator lists participants as components)
 */
export function participantComponent(definition: ParticipantDefinition, subgraph: boolean): ComponentInfo {
  const ports = (list: ParticipantDefinition['inports']): ComponentPort[] =>
    list.map((p) => ({ id: p.id, type: p.type || 'all', description: p.description ?? '', addressable: false, required: false }));
  return {
    name: definition.component,
    description: definition.label ?? '',
    icon: definition.icon ?? '',
    subgraph,
    inPorts: ports(definition.inports),
    outPorts: ports(definition.outports),
  };
}

/** A `component:component` message for a participant's component. */
export function componentMessage(request: Request, definition: ParticipantDefinition, subgraph: boolean): Reply {
  return reply(request, 'component', 'component', participantComponent(definition, subgraph));
}

/**
 * The `component:source` of the graph `name` (its JSON; a `library/name`
 * gives both), or `component:error` when `request` asks for another name;
 * `what` says what `name` is, in that error.
 */
export function sourceMessage(request: Request, name: string, graph: Graph, what: string): Reply {
  if (request.payload.name !== name) {
    return error(request, 'component', `component:getsource: only "${name}", ${what}, has a source here (asked for ${JSON.stringify(request.payload.name)})`);
  }
  const [library = '', component = name] = name.includes('/') ? name.split('/', 2) : ['', name];
  return reply(request, 'component', 'source', { name: component, library, language: 'json', code: JSON.stringify(graph.toJSON(), null, 2) });
}

/**
 * The read-only endpoint's replies to one request (a string: a message that
 * was not one, answered `runtime:error`). Sub-protocols and commands it does
 * not serve are answered `<protocol>:error`. Its one graph is the one
 * every reply names, whatever graph a request names (older clients send
 * `default`).
 */
export function handle(request: Request | string, subject: EndpointSubject): Reply[] {
  if (typeof request === 'string') {
    return [error(undefined, 'runtime', request)];
  }
  const { definition } = subject;
  const name = definition.component;
  switch (`${request.protocol}:${request.command}`) {
    case 'runtime:getruntime':
      return [
        reply(request, 'runtime', 'runtime', {
          id: definition.id,
          label: definition.label ?? definition.role,
          type: 'noflo-nodejs',
          version: FBP_PROTOCOL_VERSION,
          capabilities: PARTICIPANT_CAPABILITIES,
          allCapabilities: PARTICIPANT_CAPABILITIES,
          graph: name,
        }),
      ];
    case 'component:list':
      return [componentMessage(request, definition, true), reply(request, 'component', 'componentsready', 1)];
    case 'component:getsource':
      return [sourceMessage(request, name, subject.graph, "this participant's graph")];
    case 'network:getstatus':
      return [reply(request, 'network', 'status', { graph: name, started: subject.running, running: subject.running })];
    default:
      if (request.protocol === 'trace') {
        return [traceReply(request, subject.trace, name)];
      }
      return [error(request, request.protocol, `${request.protocol}:${request.command} is not supported by this read-only participant endpoint`)];
  }
}
