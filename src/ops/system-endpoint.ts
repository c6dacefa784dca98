/**
 * What the coordinator serves besides `/metrics` and the health checks: the
 * live page (`/`), ELK for its layout (`/elk.js`), the current picture as
 * JSON (`/state`) and as server-sent events (`/events`), and the picture's
 * counts as Prometheus metrics.
 */
import { readFile } from 'node:fs/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RouteHandler } from './http';
import { SYSTEM_PAGE } from './page';
import type { SystemView } from './system-view';

/** Names of the coordinator's own metrics. */
export const SYSTEM_METRIC_NAMES = {
  participants: 'msgflo_system_participants',
  edgeMessages: 'msgflo_system_edge_messages_total',
  failed: 'msgflo_system_role_failed_total',
  inFlight: 'msgflo_system_role_jobs_in_flight',
  queueDepth: 'msgflo_system_queue_messages',
} as const;

/** The routes of the page. */
export function systemRoutes(view: SystemView): Record<string, RouteHandler> {
  let elk: Promise<Buffer> | undefined;
  return {
    '/': (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(SYSTEM_PAGE);
    },
    '/elk.js': async (_request, response) => {
      elk ??= readFile(require.resolve('elkjs/lib/elk.bundled.js'));
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' }).end(await elk);
    },
    '/state': (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view.snapshot()));
    },
    '/events': (request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      const send = (snapshot: unknown): void => {
        response.write(`data: ${JSON.stringify(snapshot)}\n\n`);
      };
      send(view.snapshot());
      view.on('update', send);
      request.on('close', () => view.off('update', send));
    },
  };
}

/** Expose the picture's counts in `registry`. */
export function registerSystemMetrics(registry: Registry, view: SystemView): void {
  const registers = [registry];
  new Gauge({
    name: SYSTEM_METRIC_NAMES.participants,
    help: 'Participants discovered, by role',
    labelNames: ['role'],
    registers,
    collect() {
      this.reset();
      for (const role of view.snapshot().roles) {
        this.set({ role: role.role }, role.participants.length);
      }
    },
  });
  new Counter({
    name: SYSTEM_METRIC_NAMES.edgeMessages,
    help: 'Messages seen on a bound edge since the coordinator started (a tap on the source queue)',
    labelNames: ['src', 'tgt', 'type'],
    registers,
    collect() {
      this.reset();
      for (const edge of view.snapshot().edges) {
        this.inc({ src: `${edge.src.role}.${edge.src.port}`, tgt: `${edge.tgt.role}.${edge.tgt.port}`, type: edge.type }, edge.total);
      }
    },
  });
  new Counter({
    name: SYSTEM_METRIC_NAMES.failed,
    help: "Failed messages seen on a role's dead-letter exchanges or topics since the coordinator started",
    labelNames: ['role'],
    registers,
    collect() {
      this.reset();
      for (const role of view.snapshot().roles) {
        this.inc({ role: role.role }, role.failed);
      }
    },
  });
  new Gauge({
    name: SYSTEM_METRIC_NAMES.inFlight,
    help: 'Jobs in flight by role, read from the metrics its participants announce',
    labelNames: ['role'],
    registers,
    collect() {
      this.reset();
      for (const role of view.snapshot().roles) {
        if (role.inFlight !== null) {
          this.set({ role: role.role }, role.inFlight);
        }
      }
    },
  });
  new Gauge({
    name: SYSTEM_METRIC_NAMES.queueDepth,
    help: 'Messages waiting in a queue (AMQP inqueues and dead-letter queues)',
    labelNames: ['queue'],
    registers,
    collect() {
      this.reset();
      const snapshot = view.snapshot();
      for (const port of snapshot.roles.flatMap((r) => r.inports)) {
        if (port.depth !== null) {
          this.set({ queue: port.queue }, port.depth);
        }
      }
      for (const dead of snapshot.deadLetters) {
        if (dead.depth !== null) {
          this.set({ queue: dead.queue }, dead.depth);
        }
      }
    },
  });
}
