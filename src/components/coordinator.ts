/**
 * `msgflo/Coordinator`: the coordinator as a NoFlo component, so a NoFlo
 * graph can supervise and rewire a distributed system. Give it a broker
 * address and a system graph; it sends out participants as they are
 * discovered, updated or lost, bindings as they are made or removed, data
 * of the system graph's exported outports, and errors.
 */
import noflo from 'noflo';
import { Coordinator } from '../coordinator/coordinator';
import { describeFailure } from '../coordinator/failures';
import { errorMessage } from '../errors';
import type { Edge } from '../protocol/bindings';
import { loadGraphFile, type Graph } from '../runtime/graph-source';
import { createTransport } from '../transport';

type Component = InstanceType<typeof noflo.Component>;

/** A system graph as given: a graph object (JSON), `.fbp` text, or a file path. */
async function toGraph(value: unknown): Promise<Graph> {
  if (typeof value === 'string') {
    if (/\.(fbp|json)$/i.test(value.trim())) {
      return loadGraphFile(value.trim());
    }
    return noflo.loadFBP(value);
  }
  if (typeof value === 'object' && value !== null) {
    return noflo.loadJSON(value as Parameters<typeof noflo.loadJSON>[0]);
  }
  throw new Error(`graph: expected a graph object, .fbp text or a file path, got ${JSON.stringify(value)}`);
}

function toEdge(value: unknown): Edge {
  const edge = value as { src?: { process?: unknown; port?: unknown }; tgt?: { process?: unknown; port?: unknown } };
  const ok = (end: { process?: unknown; port?: unknown } | undefined): boolean => typeof end?.process === 'string' && typeof end.port === 'string';
  if (!ok(edge?.src) || !ok(edge?.tgt)) {
    throw new Error(`edge: expected {"src": {"process", "port"}, "tgt": {"process", "port"}}, got ${JSON.stringify(value)}`);
  }
  return value as Edge;
}

/** Build the component. */
export function getComponent(): Component {
  let coordinator: Coordinator | undefined;
  const component = new noflo.Component({
    description: 'Coordinate MsgFlo participants on a broker: discovery, bindings from a system graph, exported ports',
    icon: 'sitemap',
    inPorts: {
      broker: { datatype: 'string', description: 'Broker URL (amqp://, mqtt://)', control: true },
      graph: { datatype: 'all', description: 'System graph: object, .fbp text or file path' },
      addedge: { datatype: 'object', description: 'Edge to add: {src: {process, port}, tgt: {process, port}}' },
      removeedge: { datatype: 'object', description: 'Edge to remove' },
      send: { datatype: 'object', description: 'Packet for an exported inport of the system graph: {port, data}' },
    },
    outPorts: {
      participant: { datatype: 'object', description: 'Participants as they are added, updated, removed: {change, participant}' },
      binding: { datatype: 'object', description: 'Bindings as they are made or removed: {change, binding}' },
      data: { datatype: 'object', description: 'Data of the exported outports: {port, data}' },
      error: { datatype: 'object' },
    },
  });
  component.tearDown = async () => {
    const current = coordinator;
    coordinator = undefined;
    await current?.stop();
  };
  component.process((input, output) => {
    const run = async (): Promise<void> => {
      if (input.hasData('graph')) {
        if (!input.hasData('broker')) {
          return;
        }
        const broker = input.getData('broker') as string;
        const graph = await toGraph(input.getData('graph'));
        await coordinator?.stop();
        const next = new Coordinator(createTransport(broker));
        next.on('participant', (change, participant) => output.send({ participant: { change, participant } }));
        next.on('bound', (binding) => output.send({ binding: { change: 'added', binding } }));
        next.on('unbound', (binding) => output.send({ binding: { change: 'removed', binding } }));
        next.on('data', (port, data) => output.send({ data: { port, data } }));
        next.on('warning', (err) => output.send({ error: err }));
        next.on('failed', (failure) => output.send({ error: new Error(describeFailure(failure)) }));
        coordinator = next;
        await next.start();
        await next.load(graph);
        return;
      }
      for (const port of ['addedge', 'removeedge', 'send'] as const) {
        if (input.hasData(port)) {
          const value = input.getData(port) as unknown;
          if (!coordinator) {
            throw new Error(`${port}: no system yet; send a broker and a graph first`);
          }
          if (port === 'send') {
            const { port: exported, data } = value as { port?: unknown; data?: unknown };
            await coordinator.send(String(exported), data);
          } else {
            await coordinator[port === 'addedge' ? 'addEdge' : 'removeEdge'](toEdge(value));
          }
        }
      }
    };
    run().then(
      () => output.done(),
      (err: unknown) => output.done(err instanceof Error ? err : new Error(errorMessage(err))),
    );
  });
  return component;
}
