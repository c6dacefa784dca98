/**
 * What of a system graph a coordinator could not make: an edge naming a port
 * its role does not have, a binding the broker refused, an IIP that could not
 * be sent. Pure data, and a line for each.
 */
import { ErrorCode, MsgfloError } from '../errors';
import { describeEdge, type Binding, type Edge } from '../protocol/bindings';
import type { Iip } from './initials';

/** One part of the system the coordinator could not make, and why. */
export type SystemFailure =
  /** The edge names a port its (discovered) role does not have. */
  | { readonly kind: 'edge'; readonly edge: Edge; readonly reason: string }
  /** The broker refused the binding (on MQTT: the forwarding) made from these edges. */
  | { readonly kind: 'binding'; readonly binding: Binding; readonly edges: readonly Edge[]; readonly reason: string }
  /** The IIP could not be sent: its role lacks the port, or the broker refused the message. */
  | { readonly kind: 'iip'; readonly iip: Iip; readonly reason: string };

/** A stable key: the same failure seen at the next reconciliation has the same key. */
export function failureKey(failure: SystemFailure): string {
  switch (failure.kind) {
    case 'edge':
      return `edge ${describeEdge(failure.edge)}`;
    case 'binding':
      return `binding ${failure.binding.type} ${failure.binding.src} ${failure.binding.tgt} ${failure.binding.deadletter ?? ''}`;
    case 'iip':
      return `iip ${failure.iip.process} ${failure.iip.port} ${JSON.stringify(failure.iip.data)}`;
  }
}

/** One line naming what failed and why. */
export function describeFailure(failure: SystemFailure): string {
  switch (failure.kind) {
    case 'edge':
      return `cannot bind edge ${describeEdge(failure.edge)}: ${failure.reason}`;
    case 'binding': {
      const { binding } = failure;
      const deadletter = binding.deadletter ? `, dead letters to ${binding.deadletter}` : '';
      const edges = failure.edges.length > 0 ? ` (edge ${failure.edges.map(describeEdge).join(', ')})` : '';
      return `cannot bind ${binding.type.toUpperCase()} ${binding.src} -> ${binding.tgt}${deadletter}${edges}: ${failure.reason}`;
    }
    case 'iip':
      return `cannot send the IIP to ${failure.iip.port.toUpperCase()} ${failure.iip.process}: ${failure.reason}`;
  }
}

/** A system left incomplete: the failures, each said already as it happened, counted in one line. */
export class SystemIncompleteError extends MsgfloError {
  readonly failures: readonly SystemFailure[];

  constructor(failures: readonly SystemFailure[]) {
    const count = (kind: SystemFailure['kind']): number => failures.filter((failure) => failure.kind === kind).length;
    const parts = [
      [count('edge'), 'edge cannot be bound', 'edges cannot be bound'],
      [count('binding'), 'binding refused', 'bindings refused'],
      [count('iip'), 'IIP not sent', 'IIPs not sent'],
    ] as const;
    const said = parts.filter(([n]) => n > 0).map(([n, one, many]) => `${n} ${n === 1 ? one : many}`);
    super(count('binding') + count('iip') > 0 ? ErrorCode.BrokerOperation : ErrorCode.GraphLoad, `the system is incomplete (each failure named above): ${said.join(', ')}`);
    this.failures = failures;
  }
}
