/**
 * The FBP runtime protocol of one participant, over its queue pair
 * `.fbp.<id>.receive` / `.fbp.<id>.send` (WIRE: "Queue names"), declared in
 * its discovery message. Read-only: runtime, component (its own, and the
 * source of its graph), network status and the packets on its edges, and
 * trace. Replies are built from the fields the protocol defines, never by
 * echoing the request.
 */
import createDebug from 'debug';
import type { EventEmitter } from 'node:events';
import type { Flowtrace } from 'flowtrace';
import { errorMessage } from '../errors';
import type { ParticipantDefinition } from '../protocol/definition';
import type { Graph } from '../runtime/graph-source';
import type { Subscription, Transport } from '../transport/transport';
import { PacketFeed } from './fbp-packets';
import type { FbpClient, FbpHandler } from './fbp-websocket';

const debug = createDebug('noflo-runtime-msgflo:fbp');

/** The FBP protocol version spoken. */
export const FBP_PROTOCOL_VERSION = '0.7';

/** What this endpoint can do, as `runtime:runtime` announces it. */
export const PARTICIPANT_CAPABILITIES = ['protocol:runtime', 'protocol:component', 'component:getsource', 'protocol:network', 'network:status', 'network:data', 'protocol:trace'];

/** The queue pair of a participant's FBP protocol endpoint. */
export function fbpQueues(id: string): { receive: string; send: string } {
  return { receive: `.fbp.${id}.receive`, send: `.fbp.${id}.send` };
}

/** What the endpoint reads from its participant. */
export interface EndpointSubject {
  readonly definition: ParticipantDefinition;
  readonly graph: Graph;
  /** Whether the participant consumes and its network runs. */
  readonly running: boolean;
  readonly flowtrace: Flowtrace | undefined;
}

export interface Request {
  protocol: string;
  command: string;
  payload: Record<string, unknown>;
  requestId?: string;
  /** Sent by clients of runtimes that require one; never echoed. */
  secret?: string;
}

export interface Reply {
  protocol: string;
  command: string;
  payload: unknown;
  responseTo?: string;
}

/**
 * Serve the protocol of participant `id` on its queue pair, answering with
 * `handler` (for example `{ respond: (request) => handle(request, subject) }`);
 * resolves with the subscription. The queue pair is one client: messages
 * pushed to it later go to the same `.send` queue.
 */
export async function serveFbpProtocol(transport: Transport, id: string, handler: FbpHandler): Promise<Subscription> {
  const queues = fbpQueues(id);
  await transport.createQueue('outqueue', queues.send, { persistent: false });
  await transport.createQueue('inqueue', queues.receive, { persistent: false });
  const send = (message: Reply): Promise<void> => transport.send('outqueue', queues.send, message);
  const client: FbpClient = {
    state: new Map(),
    send: (message) => void send(message).catch((err: unknown) => debug('sending %s:%s failed: %s', message.protocol, message.command, errorMessage(err))),
  };
  return transport.subscribe(
    queues.receive,
    (delivery) => {
      const request = parseRequest(delivery.body);
      Promise.resolve()
        .then(() => handler.respond(request, client))
        .catch((err: unknown) => [failure(request, err)])
        .then((replies) => Promise.all(replies.map(send)))
        .catch((err: unknown) => debug('reply failed: %s', errorMessage(err)))
        .finally(() => void delivery.ack());
    },
    { prefetch: 1 },
  );
}

/** An endpoint's way of answering, closed with its participant. */
export interface FbpEndpoint extends FbpHandler {
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

/** Read a request; a string says why it is not one. */
export function parseRequest(body: Buffer): Request | string {
  let message: unknown;
  try {
    message = JSON.parse(body.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  const m = message as Partial<Request> | null;
  if (!m || typeof m.protocol !== 'string' || typeof m.command !== 'string') {
    return 'not an FBP protocol message: expected {protocol, command, payload}';
  }
  const request: Request = { protocol: m.protocol, command: m.command, payload: typeof m.payload === 'object' && m.payload !== null ? m.payload : {} };
  if (typeof m.requestId === 'string') {
    request.requestId = m.requestId;
  }
  if (typeof m.secret === 'string') {
    request.secret = m.secret;
  }
  return request;
}

/** Messages whose schemas, unlike the others', leave no room for `responseTo`. */
const WITHOUT_RESPONSE_TO = new Set(['network:edges', 'runtime:packet']);

/** A message answering `request` (with its `requestId` as `responseTo`, where the protocol allows one). */
export function reply(request: Request | undefined, protocol: string, command: string, payload: unknown): Reply {
  return message(protocol, command, payload, request?.requestId);
}

/** A message, answering the request `responseTo` where the protocol allows it. */
export function message(protocol: string, command: string, payload: unknown, responseTo: string | undefined): Reply {
  const result: Reply = { protocol, command, payload };
  if (responseTo && !WITHOUT_RESPONSE_TO.has(`${protocol}:${command}`)) {
    result.responseTo = responseTo;
  }
  return result;
}

export function error(request: Request | undefined, protocol: string, message: string): Reply {
  return reply(request, protocol, 'error', { message });
}

/** The error answering `request` (or a message that was not one) that failed with `err`. */
export function failure(request: Request | string, err: unknown): Reply {
  return typeof request === 'string' ? error(undefined, 'runtime', errorMessage(err)) : error(request, request.protocol, errorMessage(err));
}

/** A port as `component:component` describes it. */
export interface ComponentPort {
  id: string;
  type: string;
  description: string;
  addressable: boolean;
  required: boolean;
}

/** The payload of `component:component`. */
export interface ComponentInfo {
  name: string;
  description: string;
  icon: string;
  subgraph: boolean;
  inPorts: ComponentPort[];
  outPorts: ComponentPort[];
}

/** A participant's component, as its discovery message describes it. */
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

/** The `component:source` of the graph `name`, or an error when something else was asked for. */
export function sourceMessage(request: Request, name: string, graph: Graph, what: string): Reply {
  if (request.payload.name !== name) {
    return error(request, 'component', `component:getsource: only "${name}", ${what}, has a source here (asked for ${JSON.stringify(request.payload.name)})`);
  }
  const [library = '', component = name] = name.includes('/') ? name.split('/', 2) : ['', name];
  return reply(request, 'component', 'source', { name: component, library, language: 'json', code: JSON.stringify(graph.toJSON(), null, 2) });
}

/** The replies to one request. */
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
    case 'trace:start':
    case 'trace:stop':
    case 'trace:clear':
    case 'trace:dump':
      return [trace(request, subject, name)];
    default:
      return [error(request, request.protocol, `${request.protocol}:${request.command} is not supported by this read-only participant endpoint`)];
  }
}

function trace(request: Request, subject: EndpointSubject, graph: string): Reply {
  const flowtrace = subject.flowtrace;
  if (!flowtrace) {
    return error(request, 'trace', `${request.protocol}:${request.command}: tracing is off; start the participant with --trace`);
  }
  switch (request.command) {
    case 'dump':
      return reply(request, 'trace', 'dump', { graph, type: 'flowtrace.json', flowtrace: JSON.stringify(flowtrace.toJSON()) });
    case 'clear':
      flowtrace.clear();
      return reply(request, 'trace', 'clear', { graph });
    default:
      // Recording is on for the participant's whole life with --trace.
      return reply(request, 'trace', request.command, { graph });
  }
}
