/**
 * The full FBP runtime protocol of one participant (`--protocol-full`):
 * graph editing, network control and data, every component the component
 * loader knows, component sources, runtime packets, traces. NoFlo's own
 * runtime library (noflo-runtime-base) does the work; this file plugs the
 * participant's graph and running network into it as the main graph, and
 * carries its messages to the clients of the queue pair and the WebSocket.
 * The main graph's traces are the participant's own (`./trace.ts`), the
 * ones `--trace` and the read-only endpoint record; older clients name the
 * main graph `default`, which is taken as its name in every request.
 *
 * Every message leaves cut to the protocol's schema (see `../fbp/schema.ts`),
 * so it never carries a secret or a stack trace. Requests' secrets are ignored:
 * the endpoint grants everything to whoever can reach it.
 */
import createDebug from 'debug';
import Base from 'noflo-runtime-base';
import { errorMessage } from '../errors';
import { InOrder, type FbpClient } from '../fbp/handler';
import { error, type Reply, type Request } from '../fbp/messages';
import { protocolMessage } from '../fbp/schema';
import { checkAddedNode, type ComponentLoader, type Graph } from '../runtime/graph-source';
import { sourceMessage, type FbpEndpoint } from './fbp-endpoint';
import { traceReply, type ParticipantTrace } from './trace';

const debug = createDebug('noflo-runtime-msgflo:fbp-full');

/**
 * How long a request may go unanswered before the next one is handled: some
 * (metadata of a node that does not exist) are never answered at all.
 */
const ANSWER_WAIT_MS = 2000;

/** Everything the full endpoint can do, as `runtime:runtime` announces it. */
export const FULL_CAPABILITIES = [
  'protocol:runtime',
  'protocol:graph',
  'protocol:component',
  'protocol:network',
  'protocol:trace',
  'component:getsource',
  'component:setsource',
  'network:data',
  'network:control',
  'network:status',
];

/** What the full endpoint serves. */
export interface FullSubject {
  readonly id: string;
  readonly label: string;
  /** The participant's graph's name: its main graph. */
  readonly name: string;
  readonly graph: Graph;
  /** What tells the participant's graph apart from the project's others ({@link GraphSource.key}), to refuse nodes that include it. */
  readonly graphKey: unknown;
  /** The participant's running NoFlo network; none in dedicated-network mode. */
  readonly network: unknown;
  readonly basedir: string;
  readonly loader: ComponentLoader;
  /** The participant's Flowtrace: the main graph's `trace:*` requests are answered from it. */
  readonly trace: ParticipantTrace;
}

/** The graph id older clients (the msgflo coordinator's, scripts written for the original runtime) send for a participant's one graph. */
export const DEFAULT_GRAPH = 'default';

/** A handler for both the queue pair and the WebSocket; closing stops the networks clients started. */
export type FullEndpoint = FbpEndpoint;

/** Who asked: the reply goes back there, with the request's id. */
interface RequestContext {
  readonly client: FbpClient;
  readonly requestId: string | undefined;
}

/** A request being handled, until the library's first answer to it. */
interface Pending {
  readonly context: RequestContext;
  readonly protocol: string;
  readonly answered: () => void;
}

class ParticipantRuntime extends Base {
  /** Clients that have asked something: they get the broadcasts (graph changes, network events). */
  readonly clients = new Set<FbpClient>();
  pending: Pending | undefined;

  override send(protocol: string, topic: string, payload: unknown, context: unknown): void {
    const asker = context as Partial<RequestContext> | null | undefined;
    if (!asker?.client) {
      this.sendAll(protocol, topic, payload);
      return;
    }
    if (this.pending?.context === asker) {
      this.pending.answered();
    }
    const message = protocolMessage(protocol, topic, flowtraceAsText(protocol, topic, payload), asker.requestId);
    if (message) {
      asker.client.send(message);
    } else {
      debug('not sent, not in the protocol: %s:%s', protocol, topic);
    }
  }

  override sendAll(protocol: string, topic: string, payload: unknown): void {
    // Edits are acknowledged by broadcasting the change.
    if (this.pending?.protocol === protocol) {
      this.pending.answered();
    }
    if (this.clients.size === 0) {
      return;
    }
    const message = protocolMessage(protocol, topic, payload);
    if (!message) {
      debug('not sent, not in the protocol: %s:%s', protocol, topic);
      return;
    }
    for (const client of this.clients) {
      client.send(message);
    }
  }
}

/**
 * The full protocol for `subject`, its graph and network registered with
 * noflo-runtime-base as the main graph. Requests from all clients are handled
 * one at a time, each until the library's first answer to it (or
 * {@link ANSWER_WAIT_MS}); a `graph:addnode` of a component that is not
 * installed, or that would include the graph it is added to, is refused with
 * `graph:error` before the library loads it. A request's failure is answered
 * `<protocol>:error`; nothing is thrown.
 */
export function createFullEndpoint(subject: FullSubject): FullEndpoint {
  const runtime = new ParticipantRuntime({
    baseDir: subject.basedir,
    id: subject.id,
    label: subject.label,
    type: 'noflo-nodejs',
    capabilities: FULL_CAPABILITIES,
    defaultPermissions: FULL_CAPABILITIES,
    permissions: {},
  });
  runtime.on('error', (err: unknown) => debug('runtime error: %s', errorMessage(err)));
  // The participant's loader, already listed, for every graph clients build here too.
  runtime.component.loaders[subject.basedir] = subject.loader;
  const { name, graph } = subject;
  // The library edits a live graph through its network, found by this id.
  graph.properties.id = name;
  runtime.graph.graphs[name] = graph;
  runtime.graph.subscribeGraph(name, graph, null);
  if (subject.network) {
    runtime.network.networks[name] = { network: subject.network, filters: {} };
    runtime.network.subscribeNetwork(subject.network, name, null);
    runtime.runtime.registerNetwork(name, subject.network);
  }
  runtime.runtime.setMainGraph(name);

  // NoFlo loads a node's component as soon as it is added: one that is not
  // installed fails with no name, and a graph including the graph it is added
  // to loads without end. Checked first, as a graph is before it starts.
  const refusedNode = async (request: Request): Promise<Reply[] | undefined> => {
    const { graph: graphName, id, component } = request.payload;
    if (typeof graphName !== 'string' || typeof id !== 'string' || typeof component !== 'string') {
      return undefined; // The library says what is missing.
    }
    const into = graphName === name ? { label: name, key: subject.graphKey ?? graph } : { label: graphName, key: runtime.graph.graphs[graphName] };
    try {
      for (const warning of await checkAddedNode(into, { id, component }, subject.loader, subject.basedir)) {
        debug('graph:addnode %s: %s', id, warning);
      }
      return undefined;
    } catch (err) {
      return [error(request, 'graph', `cannot add node "${id}" to graph "${graphName}": ${errorMessage(err)}`)];
    }
  };

  // The library handles a request asynchronously (a node is added once its
  // component is loaded) and does not queue them: one at a time, from all
  // clients, each until its first answer, as a client sending `addnode` then
  // `addedge` at once expects.
  const order = new InOrder();
  const handleInOrder = (request: Request, client: FbpClient): Promise<Reply[]> =>
    order.run(async () => {
      const refusal = request.protocol === 'graph' && request.command === 'addnode' ? await refusedNode(request) : undefined;
      return (
        refusal ??
        new Promise<Reply[]>((resolve) => {
          const context: RequestContext = { client, requestId: request.requestId };
          const timer = setTimeout(() => answered(), ANSWER_WAIT_MS);
          const answered = (): void => {
            clearTimeout(timer);
            if (runtime.pending?.context === context) {
              runtime.pending = undefined;
            }
            resolve([]);
          };
          runtime.pending = { context, protocol: request.protocol, answered };
          const payload: Record<string, unknown> = { ...request.payload };
          delete payload.secret;
          try {
            runtime.receive(request.protocol, request.command, payload, context);
          } catch (err) {
            answered();
            resolve([error(request, request.protocol, errorMessage(err))]);
          }
        })
      );
    });

  return {
    respond(asked: Request | string, client: FbpClient): Reply[] | Promise<Reply[]> {
      if (typeof asked === 'string') {
        return [error(undefined, 'runtime', asked)];
      }
      runtime.clients.add(client);
      const request = naming(asked, name);
      if (request.protocol === 'component' && request.command === 'getsource' && request.payload.name === name) {
        // The library would answer with the component's code; the participant's graph is what runs here.
        return [sourceMessage(request, name, graph, "this participant's graph")];
      }
      if (request.protocol === 'trace' && request.payload.graph === name) {
        // The library would record a trace of its own, and none at all of a network traced since its start.
        return [traceReply(request, subject.trace, name)];
      }
      return handleInOrder(request, client);
    },
    disconnected(client: FbpClient): void {
      runtime.clients.delete(client);
    },
    async close(): Promise<void> {
      runtime.clients.clear();
      for (const [graphName, entry] of Object.entries(runtime.network.networks)) {
        if (graphName === name || !entry.network) {
          continue; // The participant stops its own.
        }
        const network = runtime.network.getNetwork(graphName);
        await network?.stop().catch((err: unknown) => debug('stopping network %s failed: %s', graphName, errorMessage(err)));
      }
    },
  };
}

/**
 * `request` with the graph id {@link DEFAULT_GRAPH} taken as `main`, the
 * participant's graph: in the `graph` of any request, and the `id` of
 * `graph:clear`. Replies name the graph by its name.
 */
export function naming(request: Request, main: string): Request {
  const { payload } = request;
  const key = request.protocol === 'graph' && request.command === 'clear' ? 'id' : 'graph';
  if (payload[key] !== DEFAULT_GRAPH || main === DEFAULT_GRAPH) {
    return request;
  }
  return { ...request, payload: { ...payload, [key]: main } };
}

/** A `trace:dump` payload's `flowtrace` as the protocol's schema has it, JSON text (the library sends the object). */
function flowtraceAsText(protocol: string, topic: string, payload: unknown): unknown {
  if (protocol !== 'trace' || topic !== 'dump' || typeof payload !== 'object' || payload === null) {
    return payload;
  }
  const { flowtrace } = payload as { flowtrace?: unknown };
  return flowtrace === undefined || typeof flowtrace === 'string' ? payload : { ...payload, flowtrace: JSON.stringify(flowtrace) };
}
