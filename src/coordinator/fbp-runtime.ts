/**
 * The system as one FBP runtime: the coordinator's WebSocket endpoint for
 * Flowhub and other FBP protocol clients. Nodes are roles, components are the
 * participants' components, edges are bindings. This first version is
 * read-only: it shows the system and its status; editing is refused.
 */
import { createHash } from 'node:crypto';
import { InvalidOptionError } from '../errors';
import { componentMessage, error, FBP_PROTOCOL_VERSION, reply, sourceMessage, type Reply, type Request } from '../participant/fbp-endpoint';
import { serveFbpWebSocket } from '../participant/fbp-websocket';
import type { Graph } from '../runtime/graph-source';
import type { Coordinator } from './coordinator';

/** What the coordinator's runtime can do, as `runtime:runtime` announces it. */
export const COORDINATOR_CAPABILITIES = ['protocol:runtime', 'protocol:component', 'component:getsource', 'protocol:network', 'network:status'];

/** Where and how the runtime listens. */
export interface CoordinatorRuntimeOptions {
  readonly host: string;
  readonly port: number;
  /** Required of every request when set; required to be set when `host` is not loopback. */
  readonly secret?: string | undefined;
  /** The main graph's name, as clients see it. */
  readonly graphName: string;
}

/** A listening runtime endpoint. */
export interface CoordinatorRuntime {
  readonly address: string;
  /** Stable across restarts for the same graph and address, so clients recognize the runtime. */
  readonly id: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Serve `coordinator`'s system, `graph`, over the FBP runtime protocol. */
export async function serveCoordinatorRuntime(coordinator: Coordinator, graph: Graph, options: CoordinatorRuntimeOptions): Promise<CoordinatorRuntime> {
  if (!LOOPBACK.has(options.host) && !options.secret) {
    throw new InvalidOptionError(`--host ${options.host} is not loopback: give a --secret, which clients must send with every request`);
  }
  // The id depends on the port bound, known only once listening: the
  // context is filled in then, before any client can connect.
  const context = { coordinator, graph, options, id: '' };
  const endpoint = await serveFbpWebSocket(options.host, options.port, (request) => handleRuntime(request, context));
  context.id = stableId(`${options.graphName}@${options.host}:${endpoint.port}`);
  return { address: endpoint.address, id: context.id, close: () => endpoint.close() };
}

/** A UUID-shaped id derived from `seed`. */
function stableId(seed: string): string {
  const hex = createHash('sha1').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

interface Context {
  readonly coordinator: Coordinator;
  readonly graph: Graph;
  readonly options: CoordinatorRuntimeOptions;
  readonly id: string;
}

/** The replies to one request. */
export function handleRuntime(request: Request | string, context: Context): Reply[] {
  if (typeof request === 'string') {
    return [error(undefined, 'runtime', request)];
  }
  const { coordinator, graph, options } = context;
  if (options.secret && request.secret !== options.secret) {
    return [error(request, request.protocol, `${request.protocol}:${request.command}: wrong or missing secret`)];
  }
  const name = options.graphName;
  switch (`${request.protocol}:${request.command}`) {
    case 'runtime:getruntime':
      return [
        reply(request, 'runtime', 'runtime', {
          id: context.id,
          label: 'MsgFlo system (noflo-runtime-msgflo coordinator)',
          type: 'msgflo',
          version: FBP_PROTOCOL_VERSION,
          capabilities: COORDINATOR_CAPABILITIES,
          allCapabilities: COORDINATOR_CAPABILITIES,
          graph: name,
        }),
      ];
    case 'component:list': {
      const components = new Map(coordinator.registry.list().map((definition) => [definition.component, definition]));
      return [...[...components.values()].map((definition) => componentMessage(request, definition, false)), reply(request, 'component', 'componentsready', components.size)];
    }
    case 'component:getsource':
      return [sourceMessage(request, name, graph, 'the system graph')];
    case 'network:getstatus': {
      // Started: bindings are being made; running: every role is there.
      return [reply(request, 'network', 'status', { graph: name, started: true, running: coordinator.missingRoles().length === 0 })];
    }
    default:
      return [error(request, request.protocol, `${request.protocol}:${request.command} is not supported yet: this coordinator runtime is read-only`)];
  }
}
