/**
 * Reading discovery messages: what a coordinator accepts as a participant
 * definition, with the reason when it does not.
 */
import type { ParticipantDefinition, PortDefinition } from './definition';

/** A discovery message, or why it is not one. */
export type ParsedDiscovery = { readonly ok: true; readonly definition: ParticipantDefinition } | { readonly ok: false; readonly reason: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function ports(value: unknown, field: string): PortDefinition[] | string {
  if (!Array.isArray(value)) {
    return `payload.${field} is not an array`;
  }
  for (const [index, port] of value.entries()) {
    if (!isRecord(port) || typeof port.id !== 'string' || port.id === '') {
      return `payload.${field}[${index}] has no id`;
    }
    if (port.queue !== undefined && typeof port.queue !== 'string') {
      return `payload.${field}[${index}].queue is not a string`;
    }
  }
  return value as PortDefinition[];
}

/** Check a decoded `fbp` message: `{protocol: 'discovery', command: 'participant', payload}`. */
export function parseDiscovery(message: unknown): ParsedDiscovery {
  if (!isRecord(message)) {
    return { ok: false, reason: `not a JSON object: ${JSON.stringify(message)?.slice(0, 80)}` };
  }
  if (message.protocol !== 'discovery' || message.command !== 'participant') {
    return { ok: false, reason: `not a discovery message (protocol ${JSON.stringify(message.protocol)}, command ${JSON.stringify(message.command)})` };
  }
  const payload = message.payload;
  if (!isRecord(payload)) {
    return { ok: false, reason: 'payload is not an object' };
  }
  for (const field of ['id', 'role', 'component'] as const) {
    if (typeof payload[field] !== 'string' || payload[field] === '') {
      return { ok: false, reason: `payload.${field} is missing or not a string` };
    }
  }
  const inports = ports(payload.inports ?? [], 'inports');
  const outports = ports(payload.outports ?? [], 'outports');
  if (typeof inports === 'string') {
    return { ok: false, reason: inports };
  }
  if (typeof outports === 'string') {
    return { ok: false, reason: outports };
  }
  return { ok: true, definition: { ...(payload as unknown as ParticipantDefinition), inports, outports } };
}
