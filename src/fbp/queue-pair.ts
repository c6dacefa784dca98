/**
 * The FBP runtime protocol over a broker: a queue pair
 * `.fbp.<id>.receive` / `.fbp.<id>.send` (WIRE: "Queue names"), as a
 * participant declares it in its discovery message (`inqueue`, `outqueue`).
 * Requests are read from `.receive`, replies and later messages go to
 * `.send`. The pair is one client; its requests are answered one at a time,
 * in order (a prefetch of 1, each acknowledged once answered).
 */
import createDebug from 'debug';
import { errorMessage } from '../errors';
import type { Subscription, Transport } from '../transport/transport';
import { answer, type FbpClient, type FbpHandler } from './handler';
import { parseRequest, type Reply } from './messages';

const debug = createDebug('noflo-runtime-msgflo:fbp');

/** The queue pair of the FBP protocol endpoint of participant `id`: requests in on `receive`, replies out on `send`. */
export function fbpQueues(id: string): { receive: string; send: string } {
  return { receive: `.fbp.${id}.receive`, send: `.fbp.${id}.send` };
}

/**
 * Serve the protocol of participant `id` on its queue pair, answering with
 * `handler` (for example `{ respond: (request) => handle(request, subject) }`);
 * resolves with the subscription, to cancel and close when the participant
 * stops. Both queues are declared non-persistent. The queue pair is one
 * client: messages pushed to it later go to the same `.send` queue. A reply
 * that cannot be sent is logged and dropped; the request is acknowledged
 * anyway, as a client would not be able to read its answer either.
 *
 * @throws rejects with the transport's error when the queues cannot be declared or consumed
 */
export async function serveFbpProtocol(transport: Transport, id: string, handler: FbpHandler): Promise<Subscription> {
  const queues = fbpQueues(id);
  await transport.createQueue('outqueue', queues.send, { persistent: false });
  await transport.createQueue('inqueue', queues.receive, { persistent: false });
  const send = (message: Reply): Promise<void> => transport.send('outqueue', queues.send, message);
  const client: FbpClient = {
    state: new Map(),
    send: (message) => void send(message).catch((err: unknown) => debug('sending %s:%s failed: %s', message.protocol, message.command, errorMessage(err))),
  };
  return transport.subscribe(
    queues.receive,
    (delivery) => {
      const request = parseRequest(delivery.body);
      // Answered after the transport's delivery callback returns, never inside it.
      void Promise.resolve()
        .then(() => answer(handler, request, client))
        .then((replies) => Promise.all(replies.map(send)))
        .catch((err: unknown) => debug('reply failed: %s', errorMessage(err)))
        .finally(() => void delivery.ack());
    },
    { prefetch: 1 },
  );
}
