/**
 * The system as one FBP runtime: the coordinator's WebSocket endpoint for
 * Flowhub and other FBP protocol clients. Nodes are roles, components are the
 * participants' components, edges are bindings. This first version is
 * read-only: it shows the system and its status; editing is refused.
 */
import createDebug from 'debug';
import { createHash } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { BrokerError, ErrorCode, InvalidOptionError, errorMessage } from '../errors';
import { error, parseRequest, reply, type Reply, type Request } from '../participant/fbp-endpoint';
import type { Graph } from '../runtime/graph-source';
import type { Coordinator } from './coordinator';

const debug = createDebug('noflo-runtime-msgflo:fbp-runtime');

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
  const server = new WebSocketServer({ host: options.host, port: options.port, handleProtocols: (protocols) => (protocols.has('noflo') ? 'noflo' : false) });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err) => reject(new BrokerError(ErrorCode.BrokerConnection, `cannot listen on ${options.host}:${options.port}: ${errorMessage(err)}`, { cause: err })));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const id = stableId(`${options.graphName}@${options.host}:${port}`);
  server.on('connection', (socket) => {
    socket.on('message', (data) => {
      const request = parseRequest(Buffer.from(data as Buffer));
      for (const message of handleRuntime(request, { coordinator, graph, options, id })) {
        socket.send(JSON.stringify(message));
      }
    });
    socket.on('error', (err) => debug('client error: %s', err.message));
  });
  return {
    address: `ws://${options.host}:${port}`,
    id,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) {
          client.terminate();
        }
        server.close(() => resolve());
      }),
  };
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
          version: '0.7',
          capabilities: COORDINATOR_CAPABILITIES,
          allCapabilities: COORDINATOR_CAPABILITIES,
          graph: name,
        }),
      ];
    case 'component:list': {
      const seen = new Map<string, Reply>();
      for (const definition of coordinator.registry.list()) {
        if (!seen.has(definition.component)) {
          seen.set(
            definition.component,
            reply(request, 'component', 'component', {
              name: definition.component,
              description: definition.label ?? '',
              icon: definition.icon ?? '',
              subgraph: false,
              inPorts: definition.inports.map((p) => ({ id: p.id, type: p.type, description: p.description ?? '', addressable: false, required: false })),
              outPorts: definition.outports.map((p) => ({ id: p.id, type: p.type, description: p.description ?? '', addressable: false, required: false })),
            }),
          );
        }
      }
      return [...seen.values(), reply(request, 'component', 'componentsready', seen.size)];
    }
    case 'component:getsource':
      if (request.payload.name !== name) {
        return [error(request, 'component', `component:getsource: only the system graph "${name}" has a source here (asked for ${JSON.stringify(request.payload.name)})`)];
      }
      return [reply(request, 'component', 'source', { name, library: '', language: 'json', code: JSON.stringify(graph.toJSON(), null, 2) })];
    case 'network:getstatus': {
      // Started: bindings are being made; running: every role is there.
      return [reply(request, 'network', 'status', { graph: name, started: true, running: coordinator.missingRoles().length === 0 })];
    }
    default:
      return [error(request, request.protocol, `${request.protocol}:${request.command} is not supported yet: this coordinator runtime is read-only`)];
  }
}
