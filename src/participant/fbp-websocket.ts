/**
 * The FBP runtime protocol over a WebSocket (subprotocol `noflo`), for FBP
 * clients that connect to runtimes directly: a participant's own
 * (`--protocol-port`) and the coordinator's. The caller says how requests are
 * answered.
 */
import createDebug from 'debug';
import { WebSocketServer } from 'ws';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { parseRequest, type Reply, type Request } from './fbp-endpoint';

const debug = createDebug('noflo-runtime-msgflo:fbp-websocket');

/** A listening WebSocket endpoint. */
export interface WebSocketEndpoint {
  /** The address clients connect to, e.g. `ws://127.0.0.1:3569`. */
  readonly address: string;
  /** The port listened on (the one chosen, when asked for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Listen on `host:port` and answer each request with `respond`'s replies, in order. */
export async function serveFbpWebSocket(host: string, port: number, respond: (request: Request | string) => Reply[]): Promise<WebSocketEndpoint> {
  const server = new WebSocketServer({ host, port, handleProtocols: (protocols) => (protocols.has('noflo') ? 'noflo' : false) });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err) => reject(new BrokerError(ErrorCode.BrokerConnection, `cannot listen for the FBP protocol on ${host}:${port}: ${errorMessage(err)}`, { cause: err })));
  });
  server.on('connection', (socket) => {
    // Answered synchronously, so replies keep the requests' order.
    socket.on('message', (data) => {
      for (const reply of respond(parseRequest(Buffer.from(data as Buffer)))) {
        socket.send(JSON.stringify(reply));
      }
    });
    socket.on('error', (err) => debug('client error: %s', err.message));
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    address: `ws://${host}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) {
          client.terminate();
        }
        server.close(() => resolve());
      }),
  };
}
