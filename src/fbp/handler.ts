/**
 * How an FBP protocol endpoint answers, whatever carries its messages (a
 * WebSocket connection, a participant's queue pair): a handler gives the
 * replies to each request and may push more messages to a client later.
 * And the order requests are answered in: one at a time, each once the one
 * before it is answered, as clients expect (`addnode` then `addedge` sent in
 * the same tick work).
 */
import { failure, type Reply, type Request } from './messages';

/** One connected client: a WebSocket connection, or a queue pair. */
export interface FbpClient {
  /** Send a message to this client (dropped once it is gone; never throws). */
  send(message: Reply): void;
  /** Per-connection state kept by the handler, by a key of its choosing. */
  readonly state: Map<string, unknown>;
}

/** How an endpoint answers. */
export interface FbpHandler {
  /**
   * The replies to one request, sent in order to the client that asked; later
   * messages can be pushed with `client.send`. `request` is a string when the
   * message was not a request (why, see `parseRequest`). A throw or rejection
   * is answered as the protocol's error (see {@link answer}).
   */
  respond(request: Request | string, client: FbpClient): Reply[] | Promise<Reply[]>;
  /** A client connected (WebSocket only: a queue pair is one client, there from the start). */
  connected?(client: FbpClient): void;
  /** A client is gone: forget what was kept for it. */
  disconnected?(client: FbpClient): void;
}

/**
 * `handler`'s replies to `request` from `client`; never rejects: a failure
 * becomes the one reply, `<protocol>:error` (`runtime:error` for a message
 * that was not a request) with the error's message, never its stack.
 */
export async function answer(handler: FbpHandler, request: Request | string, client: FbpClient): Promise<Reply[]> {
  try {
    return await handler.respond(request, client);
  } catch (err) {
    return [failure(request, err)];
  }
}

/**
 * Tasks run one at a time, each once the one before has settled, in the
 * order given: the requests of one connection, or of every connection of an
 * endpoint that must not interleave them. A task that fails does not stop
 * the ones after it.
 */
export class InOrder {
  private last: Promise<void> = Promise.resolve();

  /** Run `task` after every task given before; settles as `task` does. */
  run<T>(task: () => T | Promise<T>): Promise<T> {
    const result = this.last.then(task);
    this.last = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Resolves once every task given so far has settled. */
  idle(): Promise<void> {
    return this.last;
  }
}
