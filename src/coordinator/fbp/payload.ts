/**
 * Reading the payloads of the requests the coordinator's FBP runtime
 * answers, and failing one: a request's error is thrown as a
 * {@link RequestError} and answered as `<protocol>:error` (see
 * `../fbp-runtime.ts`). Also the NoFlo-style names of edges and IIPs that
 * `network:data` carries as its `id`.
 */

/** A port of a node, as the protocol writes it (`src`, `tgt`). */
export interface NodePort {
  node: string;
  port: string;
  /** The index on an addressable port. */
  index?: number;
}

/** A request's payload. */
export type Payload = Record<string, unknown>;

/** A request's error, answered as `<protocol>:error`; `exact` ones are sent without naming the command. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly exact: boolean,
  ) {
    super(message);
  }
}

/**
 * Fail the request being answered.
 *
 * @param exact - send `message` as it is, rather than after `<protocol>:<command>: ` (for wordings clients match)
 * @throws {RequestError} always
 */
export function fail(message: string, exact = false): never {
  throw new RequestError(message, exact);
}

/**
 * The non-empty string `payload[key]`.
 *
 * @param what - the field's name in the error, e.g. `src.node`
 * @throws {RequestError} when it is missing, empty or not a string
 */
export function str(payload: Payload, key: string, what = key): string {
  const value = payload[key];
  if (typeof value !== 'string' || value === '') {
    fail(`missing ${what}: expected a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The payload's `metadata` object; `{}` when it has none, or one that is not an object. */
export function meta(payload: Payload): Record<string, unknown> {
  const value = payload.metadata;
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/**
 * The edge end `payload[key]`: `{node, port}` and a numeric `index`, if any.
 *
 * @throws {RequestError} when it is missing, or its node or port is not a non-empty string
 */
export function nodePort(payload: Payload, key: 'src' | 'tgt'): NodePort {
  const value = payload[key];
  if (typeof value !== 'object' || value === null) {
    fail(`missing ${key}: expected {node, port}`);
  }
  const end = value as Payload;
  const result: NodePort = { node: str(end, 'node', `${key}.node`), port: str(end, 'port', `${key}.port`) };
  if (typeof end.index === 'number') {
    result.index = end.index;
  }
  return result;
}

/** Only the keys of `source` that are set, in the order given. */
export function pick(source: Payload, keys: readonly string[]): Payload {
  const result: Payload = {};
  for (const key of keys) {
    if (source[key] !== undefined) {
      result[key] = source[key];
    }
  }
  return result;
}

/** The NoFlo-style name of an edge (`A() OUT -> IN B()`), or of an IIP (`DATA -> IN B()`). */
export function edgeId(src: NodePort | undefined, tgt: NodePort): string {
  const to = `${tgt.port.toUpperCase()} ${tgt.node}()`;
  return src ? `${src.node}() ${src.port.toUpperCase()} -> ${to}` : `DATA -> ${to}`;
}
