/**
 * A WebSocket proxy between an FBP protocol client and a runtime, checking
 * every message the runtime sends against the `fbp-protocol` JSON schemas,
 * strictly: unknown keys are errors, as they are to Flowhub's client. Tests
 * run clients (fbp-test, fbp-spec, fbp-client) through it and assert that
 * nothing invalid went by.
 */
import type { TestContext } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { fbpSchemaErrors } from './fbp-schema';

/** A message from a runtime, as received. */
export interface RuntimeMessage {
  protocol: string;
  command: string;
  payload: Record<string, unknown>;
  responseTo?: string;
}

/** A listening proxy. */
export interface FbpProxy {
  /** Where clients connect instead of the runtime. */
  readonly address: string;
  readonly port: number;
  /** Every message the runtime sent, in order. */
  readonly received: RuntimeMessage[];
  /** Schema violations seen. */
  readonly problems: string[];
}

/** Proxy `upstream` (a `ws://` address) on a free loopback port, closed after the test. */
export async function startFbpProxy(t: TestContext, upstream: string): Promise<FbpProxy> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => (protocols.has('noflo') ? 'noflo' : false) });
  await new Promise((resolve) => server.once('listening', resolve));
  const received: RuntimeMessage[] = [];
  const problems: string[] = [];
  server.on('connection', (client) => {
    const runtime = new WebSocket(upstream, 'noflo');
    const early: Array<Buffer | string> = [];
    client.on('message', (data) => {
      if (runtime.readyState === WebSocket.OPEN) {
        runtime.send(String(data));
      } else {
        early.push(String(data));
      }
    });
    runtime.on('open', () => {
      for (const data of early.splice(0)) {
        runtime.send(data);
      }
    });
    runtime.on('message', (data) => {
      const text = String(data);
      let message: RuntimeMessage;
      try {
        message = JSON.parse(text) as RuntimeMessage;
      } catch {
        problems.push(`not JSON: ${text.slice(0, 100)}`);
        return;
      }
      received.push(message);
      problems.push(...fbpSchemaErrors(message));
      if (client.readyState === WebSocket.OPEN) {
        client.send(text);
      }
    });
    const closeBoth = (): void => {
      client.close();
      runtime.close();
    };
    client.on('close', closeBoth);
    runtime.on('close', closeBoth);
    client.on('error', () => undefined);
    runtime.on('error', () => client.terminate());
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) {
          client.terminate();
        }
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { address: `ws://127.0.0.1:${port}`, port, received, problems };
}
