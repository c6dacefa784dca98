/**
 * What the coordinator tells FBP clients about components: the ones its
 * participants announce, and the NoFlo components and graphs it can start
 * as participants itself.
 */
import createDebug from 'debug';
import { errorMessage } from '../errors';
import type { ComponentInfo, ComponentPort } from '../fbp/messages';
import { ROUND_ROBIN_COMPONENT } from '../protocol/bindings';
import type { ComponentLoader } from '../runtime/graph-source';

const debug = createDebug('noflo-runtime-msgflo:coordinator-components');

export type { ComponentInfo };

/** The NoFlo component and graph names `loader` can start as participants. */
export function hostableComponents(loader: ComponentLoader | undefined): string[] {
  return Object.keys(loader?.components ?? {})
    // Not participants: NoFlo's generic subgraph, and round-robin markers (under any library name).
    .filter((name) => name !== 'Graph' && name !== ROUND_ROBIN_COMPONENT && !name.endsWith('/RoundRobin'))
    .sort();
}

interface NofloPort {
  canAttach?: () => boolean;
  getDataType?: () => string;
  getDescription?: () => string;
  isAddressable?: () => boolean;
  isRequired?: () => boolean;
}

interface NofloInstance {
  description?: string;
  inPorts: Record<string, NofloPort>;
  outPorts: Record<string, NofloPort>;
  getIcon?: () => string;
  isSubgraph(): boolean;
  isReady?: () => boolean;
  once(event: string, listener: () => void): unknown;
  shutdown?: () => Promise<void>;
}

/** Describe a NoFlo component (or graph) by instantiating it once; undefined when it cannot be loaded. */
export async function nofloComponent(loader: ComponentLoader, name: string): Promise<ComponentInfo | undefined> {
  let instance: NofloInstance;
  try {
    instance = (await loader.load(name, {})) as unknown as NofloInstance;
    if (instance.isReady && !instance.isReady()) {
      await new Promise<void>((resolve) => instance.once('ready', resolve));
    }
  } catch (err) {
    debug('cannot describe %s: %s', name, errorMessage(err));
    return undefined;
  }
  const ports = (list: Record<string, NofloPort>): ComponentPort[] =>
    Object.entries(list)
      .filter(([, port]) => typeof port === 'object' && port !== null && typeof port.canAttach === 'function')
      .map(([id, port]) => ({
        id,
        type: port.getDataType?.() ?? 'all',
        description: port.getDescription?.() ?? '',
        addressable: port.isAddressable?.() ?? false,
        required: port.isRequired?.() ?? false,
      }));
  const info: ComponentInfo = {
    name,
    description: instance.description ?? '',
    icon: instance.getIcon?.() ?? '',
    subgraph: instance.isSubgraph(),
    inPorts: ports(instance.inPorts),
    outPorts: ports(instance.outPorts),
  };
  await instance.shutdown?.().catch((err: unknown) => debug('shutting %s down: %s', name, errorMessage(err)));
  return info;
}
