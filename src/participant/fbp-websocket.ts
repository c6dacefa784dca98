/**
 * The participant's FBP runtime protocol over a WebSocket of its own
 * (`--protocol-port`), for FBP clients that connect to runtimes directly.
 * Same read-only handling as the queue pair; bound to loopback unless told
 * otherwise.
 */
import createDebug from 'debug';
import { WebSocketServer } from 'ws';
import { BrokerError, ErrorCode, errorMessage } from '../errors';
import { handle, parseRequest, type EndpointSubject } from './fbp-endpoint';

const debug = createDebug('noflo-runtime-msgflo:fbp-websocket');

/** A running WebSocket endpoint. */
export interface WebSocketEndpoint {
  /** The address clients connect to, e.g. `ws://127.0.0.1:3569`. */
  readonly address: string;
  close(): Promise<void>;
}

/** Serve `subject`'s FBP protocol on `host:port` (subprotocol `noflo`). */
export async function serveFbpWebSocket(subject: EndpointSubject, port: number, host = '127.0.0.1'): Promise<WebSocketEndpoint> {
  const server = new WebSocketServer({ host, port, handleProtocols: (protocols) => (protocols.has('noflo') ? 'noflo' : false) });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err) => reject(new BrokerError(ErrorCode.BrokerConnection, `cannot listen for the FBP protocol on ${host}:${port}: ${errorMessage(err)}`, { cause: err })));
  });
  server.on('connection', (socket) => {
    // One message at a time per connection: replies keep the requests' order.
    socket.on('message', (data) => {
      for (const reply of handle(parseRequest(Buffer.from(data as Buffer)), subject)) {
        socket.send(JSON.stringify(reply));
      }
    });
    socket.on('error', (err) => debug('client error: %s', err.message));
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    address: `ws://${host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) {
          client.terminate();
        }
        server.close(() => resolve());
      }),
  };
}
