/**
 * The shape of every message an FBP runtime may send, as the fbp-protocol
 * schemas define it: which payload fields exist, and inside them which
 * fields of ports, edge ends and port lists. Messages built elsewhere (by
 * noflo-runtime-base, or from a NoFlo network's events) are cut to this
 * shape before they leave, so that a client validating strictly (unknown
 * keys rejected) accepts them, and so that nothing the protocol does not
 * define, a secret or an error's stack, is ever sent.
 */
import { message, type Reply } from './messages';

/** `true`: kept as it is; an object: only its listed fields; `[shape]`: an array of such. */
type Shape = { readonly [key: string]: true | Shape | readonly [Shape] } | true;

const END: Shape = { node: true, port: true, index: true };
const PORT: Shape = { id: true, type: true, schema: true, required: true, addressable: true, description: true, values: true, default: true };
const EVENT = { id: true, src: END, tgt: END, graph: true, subgraph: true } as const;
const MESSAGE: Shape = { message: true };
const RENAME: Shape = { from: true, to: true, graph: true };
const EXPORT: Shape = { public: true, node: true, port: true, metadata: true, graph: true };
const UNEXPORT: Shape = { public: true, graph: true };

/** Payload shapes by `protocol:command`, from the fbp-protocol output schemas. */
const OUTPUT: Readonly<Record<string, Shape>> = {
  'runtime:error': MESSAGE,
  'runtime:runtime': { id: true, label: true, version: true, allCapabilities: true, capabilities: true, graph: true, type: true, namespace: true, repository: true, repositoryVersion: true },
  'runtime:ports': { graph: true, inPorts: [PORT], outPorts: [PORT] },
  'runtime:packet': { port: true, event: true, type: true, schema: true, payload: true, graph: true },
  'runtime:packetsent': { port: true, event: true, type: true, schema: true, payload: true, graph: true },
  'component:error': MESSAGE,
  'component:component': { name: true, description: true, icon: true, subgraph: true, inPorts: [PORT], outPorts: [PORT] },
  'component:componentsready': true,
  'component:source': { name: true, language: true, library: true, code: true, tests: true },
  'graph:error': MESSAGE,
  'graph:clear': { id: true, name: true, library: true, main: true, icon: true, description: true },
  'graph:addnode': { id: true, component: true, metadata: true, graph: true },
  'graph:removenode': { id: true, graph: true },
  'graph:renamenode': RENAME,
  'graph:changenode': { id: true, metadata: true, graph: true },
  'graph:addedge': { src: END, tgt: END, metadata: true, graph: true },
  'graph:removeedge': { src: END, tgt: END, graph: true },
  'graph:changeedge': { src: END, tgt: END, metadata: true, graph: true },
  'graph:addinitial': { src: { data: true }, tgt: END, metadata: true, graph: true },
  'graph:removeinitial': { src: { data: true }, tgt: END, graph: true },
  'graph:addinport': EXPORT,
  'graph:removeinport': UNEXPORT,
  'graph:renameinport': RENAME,
  'graph:addoutport': EXPORT,
  'graph:removeoutport': UNEXPORT,
  'graph:renameoutport': RENAME,
  'graph:addgroup': { name: true, nodes: true, metadata: true, graph: true },
  'graph:removegroup': { name: true, graph: true },
  'graph:renamegroup': RENAME,
  'graph:changegroup': { name: true, metadata: true, graph: true },
  'network:error': { message: true, graph: true },
  'network:started': { time: true, graph: true, started: true, running: true, debug: true },
  'network:stopped': { time: true, uptime: true, graph: true, started: true, running: true, debug: true },
  'network:status': { graph: true, uptime: true, started: true, running: true, debug: true },
  'network:output': { message: true, type: true, url: true },
  'network:processerror': { id: true, error: true, graph: true },
  'network:icon': { id: true, icon: true, graph: true },
  'network:edges': { edges: [{ src: END, tgt: END }], graph: true },
  'network:connect': EVENT,
  'network:disconnect': EVENT,
  'network:begingroup': { ...EVENT, group: true },
  'network:endgroup': { ...EVENT, group: true },
  'network:data': { ...EVENT, data: true, type: true, schema: true },
  'trace:error': MESSAGE,
  'trace:start': { graph: true, buffersize: true },
  'trace:stop': { graph: true },
  'trace:clear': { graph: true },
  'trace:dump': { graph: true, type: true, flowtrace: true },
};

/**
 * The message `protocol:command` with `payload` cut to the protocol's shape
 * (fields the output schema does not define are dropped, at every depth it
 * describes), answering the request `responseTo` where the protocol allows
 * it; undefined when the protocol defines no such message. An `Error`
 * payload becomes `{message}`; values are made plain JSON first (dates
 * become strings; one that is not JSON, a circular one, becomes `{}`).
 */
export function protocolMessage(protocol: string, command: string, payload: unknown, responseTo?: string): Reply | undefined {
  const shape = OUTPUT[`${protocol}:${command}`];
  if (!shape) {
    return undefined;
  }
  const plain: unknown = payload instanceof Error ? { message: payload.message } : jsonValue(payload);
  return message(protocol, command, pick(plain, shape), responseTo);
}

function jsonValue(value: unknown): unknown {
  if (value === undefined) {
    return {};
  }
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    // Circular or otherwise not JSON: nothing of it can be sent.
    return {};
  }
}

function pick(value: unknown, shape: Shape): unknown {
  if (shape === true || typeof value !== 'object' || value === null || Array.isArray(value)) {
    return value;
  }
  const result: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    const fieldShape = shape[key];
    if (fieldShape === undefined || field === undefined) {
      continue;
    }
    if (Array.isArray(fieldShape)) {
      const [item] = fieldShape as readonly [Shape];
      result[key] = Array.isArray(field) ? field.map((element) => pick(element, item)) : field;
    } else {
      result[key] = pick(field, fieldShape as Shape);
    }
  }
  return result;
}
