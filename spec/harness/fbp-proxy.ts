/**
 * A WebSocket proxy between an FBP protocol client and a runtime, checking
 * every message the runtime sends against the `fbp-protocol` JSON schemas,
 * strictly: unknown keys are errors, as they are to Flowhub's client. Tests
 * run clients (fbp-test, fbp-spec, fbp-client) through it and assert that
 * nothing invalid went by.
 */
import type { TestContext } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';

interface Tv4 {
  freshApi(): Tv4;
  addSchema(uri: string, schema: unknown): void;
  getSchema(uri: string): unknown;
  validateMultiple(data: unknown, schema: unknown, checkRecursive?: boolean, banUnknownProperties?: boolean): { valid: boolean; errors: Array<{ message: string; dataPath: string }> };
}

/**
 * A validator of its own, on a copy of the schemas: registering them changes
 * them in place, and FBP clients in the same process (fbp-client) register
 * the same objects with a validator of theirs.
 */
const tv4 = (require('tv4') as Tv4).freshApi();
const schemas = structuredClone(require('fbp-protocol/schema/schemas') as Record<string, unknown>);
for (const name of ['shared', 'graph', 'network', 'runtime', 'component', 'trace']) {
  tv4.addSchema(`/${name}/`, schemas[name]);
}
(require('fbp-protocol/schema/format') as (validator: Tv4) => void)(tv4);

/** Where a message carries packets of any shape: unknown keys there are the user's data. */
const FREE_FORM = ['/payload/data/', '/payload/payload/', '/payload/src/data/', '/payload/metadata/'];

/** A message from a runtime, as received. */
export interface RuntimeMessage {
  protocol: string;
  command: string;
  payload: Record<string, unknown>;
  responseTo?: string;
}

/** Why `message` breaks the protocol's schema (strictly), or undefined when it does not. */
export function schemaProblem(message: RuntimeMessage): string | undefined {
  const schema = tv4.getSchema(`/${message.protocol}/output/${message.command}`);
  if (!schema) {
    return `${message.protocol}:${message.command}: no such message in the protocol`;
  }
  const result = tv4.validateMultiple(message, schema, false, true);
  const errors = result.errors.filter((e) => !FREE_FORM.some((prefix) => `${e.dataPath}/`.startsWith(prefix)));
  if (errors.length === 0) {
    return undefined;
  }
  return `${message.protocol}:${message.command}: ${errors.map((e) => `${e.dataPath || '/'} ${e.message}`).join('; ')} in ${JSON.stringify(message).slice(0, 300)}`;
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
      const problem = schemaProblem(message);
      if (problem) {
        problems.push(problem);
      }
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
