/**
 * A plain WebSocket client of an FBP runtime (subprotocol `noflo`) that keeps
 * every message it receives, for tests that look at the raw protocol.
 */
import type { TestContext } from 'node:test';
import { WebSocket } from 'ws';

/** A message from a runtime. */
export interface FbpMessage {
  protocol: string;
  command: string;
  payload: Record<string, unknown>;
  responseTo?: string;
}

/** An open connection and what came in on it so far. */
export interface FbpSocket {
  readonly socket: WebSocket;
  readonly received: FbpMessage[];
  /** The next message to come in. */
  next(): Promise<FbpMessage>;
  send(message: unknown): void;
}

/** Connect to `address`; closed after the test. */
export async function openFbpSocket(t: TestContext, address: string): Promise<FbpSocket> {
  const socket = new WebSocket(address, 'noflo');
  t.after(() => socket.close());
  const received: FbpMessage[] = [];
  socket.on('message', (data) => received.push(JSON.parse(String(data)) as FbpMessage));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return {
    socket,
    received,
    next: () => new Promise((resolve) => socket.once('message', (data) => resolve(JSON.parse(String(data)) as FbpMessage))),
    send: (message) => socket.send(JSON.stringify(message)),
  };
}
