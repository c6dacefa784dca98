/**
 * The FBP runtime protocol over a WebSocket (subprotocol `noflo`), for FBP
 * clients that connect to runtimes directly: a participant's own
 * (`--protocol-port`) and the coordinator's. The caller says how requests are
 * answered; requests of one connection are answered strictly one at a time,
 * in order, even when answering takes a while (so `addnode` then `addedge`
 * sent in the same tick work).
 */
import createDebug from 'debug';
import { WebSocket, WebSocketServer } from 'ws';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { answer, InOrder, type FbpClient, type FbpHandler } from './handler';
import { parseRequest, type Reply, type Request } from './messages';

const debug = createDebug('noflo-runtime-msgflo:fbp-websocket');

/** A listening WebSocket endpoint. */
export interface WebSocketEndpoint {
  /** The address clients connect to, e.g. `ws://127.0.0.1:3569`. */
  readonly address: string;
  /** The port listened on (the one chosen, when asked for port 0). */
  readonly port: number;
  /** The clients connected now. */
  clients(): FbpClient[];
  /** Disconnect every client and stop listening. */
  close(): Promise<void>;
}

/**
 * Listen on `host:port` (port 0: one the system picks) and answer each
 * request with `handler`'s replies, in order, one request of a connection at
 * a time. A client offering the `noflo` subprotocol gets it; a frame that is
 * not a request reaches `handler` as a string saying why.
 *
 * @param handler - a {@link FbpHandler}, or just its `respond`
 * @throws {BrokerError} code `EBROKERCONNECT` when it cannot listen (port taken, address not local)
 */
export async function serveFbpWebSocket(host: string, port: number, handler: FbpHandler | ((request: Request | string) => Reply[])): Promise<WebSocketEndpoint> {
  const endpoint: FbpHandler = typeof handler === 'function' ? { respond: handler } : handler;
  const server = new WebSocketServer({ host, port, handleProtocols: (protocols) => (protocols.has('noflo') ? 'noflo' : false) });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err) => reject(new BrokerError(ErrorCode.BrokerConnection, `cannot listen for the FBP protocol on ${host}:${port}: ${errorMessage(err)}`, { cause: err })));
  });
  const clients = new Map<WebSocket, FbpClient>();
  server.on('connection', (socket) => {
    const client: FbpClient = {
      state: new Map(),
      send: (message) => {
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify(message));
        }
      },
    };
    clients.set(socket, client);
    endpoint.connected?.(client);
    const order = new InOrder();
    socket.on('message', (data) => {
      const request = parseRequest(Buffer.from(data as Buffer));
      void order.run(async () => {
        for (const reply of await answer(endpoint, request, client)) {
          client.send(reply);
        }
      });
    });
    socket.on('close', () => {
      clients.delete(socket);
      endpoint.disconnected?.(client);
    });
    socket.on('error', (err) => debug('client error: %s', err.message));
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    address: `ws://${host}:${bound}`,
    port: bound,
    clients: () => [...clients.values()],
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) {
          client.terminate();
        }
        server.close(() => resolve());
      }),
  };
}
