/**
 * The messages of the FBP runtime protocol (fbp-protocol 0.7), both ways:
 * a request read from the wire, and the replies, notifications and errors a
 * runtime sends back. Shared by every endpoint that speaks the protocol: a
 * participant's and the coordinator's. No I/O here.
 *
 * Replies are built from the fields the protocol defines, never by echoing
 * the request: a request's `secret` never goes back out.
 */
import { errorMessage } from '../errors';

/** The FBP protocol version spoken, as `runtime:runtime` and discovery messages give it. */
export const FBP_PROTOCOL_VERSION = '0.7';

/** A request from an FBP client: `{protocol, command, payload}` and, optionally, its id and the runtime's secret. */
export interface Request {
  /** The sub-protocol: `runtime`, `graph`, `network`, `component`, `trace`. */
  protocol: string;
  command: string;
  /** The request's payload; `{}` when the message had none, or one that is not an object. */
  payload: Record<string, unknown>;
  /** The client's id of this request, answered as `responseTo`. */
  requestId?: string;
  /** Sent by clients of runtimes that require one; never echoed. */
  secret?: string;
}

/** A message a runtime sends: a reply to a request, or a notification (no `responseTo`). */
export interface Reply {
  protocol: string;
  command: string;
  payload: unknown;
  /** The `requestId` of the request answered, where the protocol's schema allows one. */
  responseTo?: string;
}

/** A port as `component:component` describes it. */
export interface ComponentPort {
  id: string;
  /** The port's datatype; `all` when it has none. */
  type: string;
  description: string;
  addressable: boolean;
  required: boolean;
}

/** The payload of `component:component`. */
export interface ComponentInfo {
  /** The component's name, `library/Component` or bare. */
  name: string;
  description: string;
  icon: string;
  /** Whether it is a graph rather than a component of code. */
  subgraph: boolean;
  inPorts: ComponentPort[];
  outPorts: ComponentPort[];
}

/**
 * Read a request from the bytes of one message (a WebSocket frame or a queue
 * message): JSON with string `protocol` and `command`. Never throws: a string
 * says why the bytes are not a request, for a `runtime:error` reply.
 */
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

/**
 * The message `protocol:command` answering `request`, with its `requestId` as
 * `responseTo` where the protocol allows one; without a request, a
 * notification. `payload` is sent as given (see `./schema.ts` to cut one to
 * the protocol's shape).
 */
export function reply(request: Request | undefined, protocol: string, command: string, payload: unknown): Reply {
  return message(protocol, command, payload, request?.requestId);
}

/** The message `protocol:command`, answering the request `responseTo` where the protocol allows it. */
export function message(protocol: string, command: string, payload: unknown, responseTo: string | undefined): Reply {
  const result: Reply = { protocol, command, payload };
  if (responseTo && !WITHOUT_RESPONSE_TO.has(`${protocol}:${command}`)) {
    result.responseTo = responseTo;
  }
  return result;
}

/** The protocol's error message, `<protocol>:error` with `{message}`, answering `request` (if any). */
export function error(request: Request | undefined, protocol: string, message: string): Reply {
  return reply(request, protocol, 'error', { message });
}

/**
 * The error answering `request` that failed with `err`: `<protocol>:error`
 * in the request's sub-protocol, or `runtime:error` for a message that was
 * not a request (`request` is then why, from {@link parseRequest}).
 */
export function failure(request: Request | string, err: unknown): Reply {
  return typeof request === 'string' ? error(undefined, 'runtime', errorMessage(err)) : error(request, request.protocol, errorMessage(err));
}
