/** The parts of noflo-runtime-base (which ships no types) that this runtime uses. */
declare module 'noflo-runtime-base' {
  import { EventEmitter } from 'node:events';

  namespace BaseTransport {
    interface Options {
      baseDir?: string;
      id?: string;
      label?: string;
      type?: string;
      namespace?: string;
      capabilities?: string[];
      defaultPermissions?: string[];
      permissions?: Record<string, string[]>;
    }
    interface NetworkEntry {
      network: unknown;
      filters: Record<string, boolean>;
    }
  }

  class BaseTransport extends EventEmitter {
    constructor(options?: BaseTransport.Options);
    options: BaseTransport.Options;
    graph: {
      graphs: Record<string, unknown>;
      subscribeGraph(id: string, graph: unknown, context: unknown): void;
    };
    network: {
      networks: Record<string, BaseTransport.NetworkEntry>;
      subscribeNetwork(network: unknown, name: string, context: unknown): void;
      getNetwork(name: string): { stop(): Promise<unknown>; isStarted(): boolean } | null;
    };
    runtime: {
      registerNetwork(name: string, network: unknown): void;
      setMainGraph(name: string): void;
    };
    component: { loaders: Record<string, unknown> };
    send(protocol: string, topic: string, payload: unknown, context: unknown): void;
    sendAll(protocol: string, topic: string, payload: unknown): void;
    receive(protocol: string, topic: string, payload: Record<string, unknown>, context: unknown): void;
  }

  export = BaseTransport;
}
