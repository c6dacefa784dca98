/**
 * The `network` sub-protocol of the coordinator's FBP runtime: starting and
 * stopping the system (the hosted participants consume or pause, the IIPs
 * are sent or withheld), its status, the edges a client follows, and what
 * the coordinator reports while it runs: IIPs sent (`network:data` on
 * `DATA -> PORT node()`) and IIPs that could not be (`network:error`). The
 * packets on the edges themselves are `./taps.ts`'s.
 */
import type { FbpClient } from '../../fbp/handler';
import { reply, type Reply, type Request } from '../../fbp/messages';
import type { SystemFailure } from '../failures';
import { edgeId, fail, nodePort, type Payload } from './payload';
import type { SubProtocol, SystemState } from './state';
import { SELECTION } from './taps';

/**
 * How long `network:getstatus` lets jobs in flight finish before answering:
 * a client asking right after packets went through sees where they ended,
 * not the instant a job was still being acknowledged.
 */
const STATUS_SETTLE_MS = 250;

/** `network:*` requests: `start`, `stop`, `getstatus`, `edges`. */
export class NetworkProtocol implements SubProtocol {
  constructor(private readonly state: SystemState) {}

  /**
   * `start` answers `network:started` to `client` and tells the others
   * before the IIPs go, so that their data follows it; its reply list is
   * empty.
   *
   * @throws {RequestError} for another command, another graph, or edges that are not `{src, tgt}`s
   */
  async handle(request: Request, client: FbpClient): Promise<Reply[]> {
    const { state } = this;
    const p = request.payload;
    const graph = state.checkGraph(p);
    switch (request.command) {
      case 'start': {
        await this.start();
        // Sent before the IIPs go, so that their data follows it.
        const started = reply(request, 'network', 'started', { time: new Date(state.startedAt).toISOString(), graph, started: true, running: state.running() });
        client.send(started);
        state.tellOthers(client, started);
        await state.syncIips(true);
        return [];
      }
      case 'stop': {
        const uptime = state.started ? (Date.now() - state.startedAt) / 1000 : 0;
        state.started = false;
        await state.syncIips();
        await Promise.all(state.hostedParticipants().map((participant) => participant.pause()));
        return [reply(request, 'network', 'stopped', { time: new Date().toISOString(), uptime, graph, started: false, running: false })];
      }
      case 'getstatus':
        await this.settled(STATUS_SETTLE_MS);
        return [reply(request, 'network', 'status', { graph, started: state.started, running: state.running() })];
      case 'edges': {
        const edges = p.edges;
        if (!Array.isArray(edges)) {
          fail('missing edges: expected an array of {src, tgt}');
        }
        const selected = edges.map((edge: unknown) => {
          const e = (typeof edge === 'object' && edge !== null ? edge : {}) as Payload;
          return { src: nodePort(e, 'src'), tgt: nodePort(e, 'tgt') };
        });
        client.state.set(SELECTION, new Set(selected.map((e) => edgeId(e.src, e.tgt))));
        return [reply(request, 'network', 'edges', { edges: selected, graph })];
      }
      default:
        fail('unknown command');
    }
  }

  /** Let the hosted participants consume; the IIPs are sent by the caller (see {@link SystemState.syncIips}). */
  async start(): Promise<void> {
    await Promise.all(this.state.hostedParticipants().map((participant) => participant.resume()));
    this.state.started = true;
    this.state.startedAt = Date.now();
  }

  /**
   * An IIP the coordinator sends, shown as `DATA -> PORT node()` to every
   * client before it goes, so that it comes before the packets it causes.
   */
  iipSending(role: string, port: string, data: unknown): void {
    const { state } = this;
    const tgt = { node: state.nodeOf(role), port };
    state.broadcast(reply(undefined, 'network', 'data', { id: edgeId(undefined, tgt), graph: state.graph.name, tgt, data }));
  }

  /** An IIP that could not be sent: `network:error` to every client (other failures are not the network's). */
  failed(failure: SystemFailure): void {
    const { state } = this;
    if (failure.kind === 'iip') {
      state.broadcast(reply(undefined, 'network', 'error', { message: `IIP to ${edgeId(undefined, { node: state.nodeOf(failure.iip.process), port: failure.iip.port })}: ${failure.reason}`, graph: state.graph.name }));
    }
  }

  /** Resolve once nothing runs, or after `ms`. */
  private async settled(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.state.running() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
