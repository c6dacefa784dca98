/**
 * Reading discovery messages: what a coordinator accepts as a participant
 * definition, with the reason when it does not; and the messages of our
 * discovery requests (see {@link DISCOVERY_CONTROL_TOPIC}).
 */
import type { ParticipantDefinition, PortDefinition } from './definition';

/**
 * A discovery message, or why it is not one. `time` is when it was sent
 * (ms since the epoch), when the sender said (our participants do).
 */
export type ParsedDiscovery = { readonly ok: true; readonly definition: ParticipantDefinition; readonly time?: number } | { readonly ok: false; readonly reason: string };

/** A message on `fbp` read: an announcement, a participant leaving, or why it is neither. */
export type FbpMessage =
  | { readonly kind: 'participant'; readonly definition: ParticipantDefinition; readonly time?: number }
  | { readonly kind: 'leave'; readonly id: string; readonly role: string; readonly time?: number }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Where our programs send the discovery messages that only they understand:
 * discovery requests ({@link DiscoveryRequest}) and leave notices
 * (`LeaveMessage`). A fanout exchange (durable, as our outqueues are) on
 * AMQP, a topic on MQTT, of this name; our participants and coordinators
 * listen to it. Not `fbp`: msgflo-setup nacks any message there that is not
 * an announcement and throws, which ends it, and the msgflo coordinator logs
 * each as a failure.
 */
export const DISCOVERY_CONTROL_TOPIC = 'fbp.control';

/**
 * A discovery request. Without `replyTo`, each participant announces itself
 * on `fbp` (a coordinator learns the system at its start). With it, each
 * participant sends its announcement, and each coordinator the participants
 * it knows ({@link RegistryAnswer}), to that inbox (see `Transport.inbox`),
 * so a listener such as `status` does not take turns with a coordinator on
 * the `fbp` queue.
 */
export interface DiscoveryRequest {
  protocol: 'discovery';
  command: 'request';
  payload: { replyTo?: string };
}

/** A coordinator's answer to a {@link DiscoveryRequest}: every participant it knows, with when it was last heard from (ms since the epoch). */
export interface RegistryAnswer {
  protocol: 'discovery';
  command: 'registry';
  payload: { participants: Array<{ definition: ParticipantDefinition; lastSeen: number }> };
}

/** A message sent to an inbox in answer to a request: a participant's own announcement, or a coordinator's registry. */
export type RequestAnswer =
  | { readonly kind: 'participant'; readonly definition: ParticipantDefinition; readonly time?: number }
  | { readonly kind: 'registry'; readonly participants: ReadonlyArray<{ readonly definition: ParticipantDefinition; readonly lastSeen: number }> }
  | { readonly kind: 'invalid'; readonly reason: string };

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
  const time = typeof message.time === 'number' && Number.isFinite(message.time) ? message.time : undefined;
  const definition = { ...(payload as unknown as ParticipantDefinition), inports, outports };
  return time === undefined ? { ok: true, definition } : { ok: true, definition, time };
}

/** Read a message from `fbp`: an announcement ({@link parseDiscovery}), a `leave`, or why neither. */
export function parseFbpMessage(message: unknown): FbpMessage {
  if (isRecord(message) && message.protocol === 'discovery' && message.command === 'leave') {
    const payload = message.payload;
    if (!isRecord(payload) || typeof payload.id !== 'string' || payload.id === '') {
      return { kind: 'invalid', reason: 'leave message without payload.id' };
    }
    const time = typeof message.time === 'number' ? message.time : undefined;
    return { kind: 'leave', id: payload.id, role: typeof payload.role === 'string' ? payload.role : '', ...(time === undefined ? {} : { time }) };
  }
  const parsed = parseDiscovery(message);
  if (!parsed.ok) {
    return { kind: 'invalid', reason: parsed.reason };
  }
  return parsed.time === undefined ? { kind: 'participant', definition: parsed.definition } : { kind: 'participant', definition: parsed.definition, time: parsed.time };
}

/** A discovery request, answered at `replyTo` when given. */
export function discoveryRequest(replyTo?: string): DiscoveryRequest {
  return { protocol: 'discovery', command: 'request', payload: replyTo === undefined ? {} : { replyTo } };
}

/** Read a message from {@link DISCOVERY_CONTROL_TOPIC}: a request, with the inbox to answer at (undefined: announce on `fbp`), or null when it is no request. */
export function parseDiscoveryRequest(message: unknown): { replyTo: string | undefined } | null {
  if (!isRecord(message) || message.protocol !== 'discovery' || message.command !== 'request') {
    return null;
  }
  const replyTo = isRecord(message.payload) && typeof message.payload.replyTo === 'string' && message.payload.replyTo !== '' ? message.payload.replyTo : undefined;
  return { replyTo };
}

/** Read a message that arrived at an inbox in answer to a request. */
export function parseRequestAnswer(message: unknown): RequestAnswer {
  if (isRecord(message) && message.protocol === 'discovery' && message.command === 'registry') {
    const list = isRecord(message.payload) ? message.payload.participants : undefined;
    if (!Array.isArray(list)) {
      return { kind: 'invalid', reason: 'registry answer without payload.participants' };
    }
    const participants: Array<{ definition: ParticipantDefinition; lastSeen: number }> = [];
    for (const entry of list) {
      const parsed = isRecord(entry) ? parseDiscovery({ protocol: 'discovery', command: 'participant', payload: entry.definition }) : undefined;
      if (parsed?.ok && isRecord(entry) && typeof entry.lastSeen === 'number') {
        participants.push({ definition: parsed.definition, lastSeen: entry.lastSeen });
      }
    }
    return { kind: 'registry', participants };
  }
  const parsed = parseFbpMessage(message);
  return parsed.kind === 'leave' ? { kind: 'invalid', reason: 'a leave message is no answer' } : parsed;
}
