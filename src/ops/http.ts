/**
 * The operations HTTP endpoint of a process: `/metrics` (Prometheus text),
 * `/healthz` (alive) and `/readyz` (ready, or 503 with the reasons), plus
 * whatever routes the caller adds (the coordinator's live page).
 */
import createDebug from 'debug';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidOptionError } from '../errors';
import type { ReadinessCheck } from './health';
import { scrubCredentials } from './redact';

const debug = createDebug('noflo-runtime-msgflo:ops:http');

/** A route's handler; it writes the whole response. */
export type RouteHandler = (request: http.IncomingMessage, response: http.ServerResponse) => void | Promise<void>;

/** What the endpoint serves. */
export interface OpsEndpointOptions {
  readonly host: string;
  readonly port: number;
  /** The Prometheus text for `/metrics`. */
  readonly metrics: () => Promise<string>;
  readonly readiness: ReadinessCheck;
  /** Further routes by path (GET only). */
  readonly routes?: Readonly<Record<string, RouteHandler>>;
}

/** A listening endpoint. */
export interface OpsEndpoint {
  /** `http://host:port`, the port resolved when 0 was asked for. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Listen on `host:port`; rejects naming the address when it cannot. */
export async function serveOps(options: OpsEndpointOptions): Promise<OpsEndpoint> {
  const routes: Record<string, RouteHandler> = {
    '/metrics': async (_request, response) => {
      const body = await options.metrics();
      response.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(body);
    },
    '/healthz': (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok\n');
    },
    '/readyz': (_request, response) => {
      const { ready, reasons } = options.readiness();
      const body = ready ? 'ready\n' : `not ready: ${scrubCredentials(reasons.join('; '))}\n`;
      response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    },
    ...options.routes,
  };
  const server = http.createServer((request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost');
    const route = routes[pathname];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (!route) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${pathname}\n`);
      return;
    }
    Promise.resolve(route(request, response)).catch((err: unknown) => {
      debug('%s failed: %s', pathname, err instanceof Error ? err.message : String(err));
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      }
      response.end();
    });
  });
  // Event streams stay open: they must not hold the process on shutdown.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new InvalidOptionError(`cannot serve HTTP on ${options.host}:${options.port}: ${err.code ?? err.message}`, { cause: err }));
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  debug('serving on %s:%d', options.host, port);
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A port number from a flag; throws naming the flag. */
export function parsePort(value: string, flag: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError(`invalid ${flag} "${value}": expected a port number from 0 to 65535`);
  }
  return port;
}
