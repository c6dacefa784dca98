/**
 * The participant definition of the MsgFlo discovery protocol: pure data, no
 * I/O. See WIRE: "Discovery" and "Queue names".
 */

/** One port of a participant as announced on the wire. */
export interface PortDefinition {
  /** Port name in the NoFlo graph, e.g. `in`. */
  id: string;
  /** NoFlo datatype, e.g. `string`, `all`. */
  type: string;
  /** Queue (AMQP) or topic (MQTT) carrying the port's messages; absent when hidden. */
  queue?: string;
  description?: string;
  schema?: string;
  hidden?: boolean;
}

/** What a participant announces itself as. */
export interface ParticipantDefinition {
  /** Unique per running participant: `<role>-<random>`. */
  id: string;
  /** The node name the participant plays in a system graph. */
  role: string;
  /** The component or graph name, e.g. `core/Repeat`. */
  component: string;
  label?: string;
  icon?: string;
  inports: PortDefinition[];
  outports: PortDefinition[];
  /** For participants that speak the FBP runtime protocol: the runtime type, e.g. `noflo-nodejs`. */
  type?: string;
  /** FBP runtime protocol version. */
  version?: string;
  /** Queue carrying FBP protocol requests to the participant. */
  inqueue?: string;
  /** Queue carrying its FBP protocol replies. */
  outqueue?: string;
  /**
   * When the participant started, in ms since the epoch (its clock). Not part
   * of the MsgFlo protocol: this runtime's participants send it, others may
   * not. A coordinator sends a role's system-graph IIPs again to a participant
   * that started after they were sent (a restart, a new replica), and not to
   * one that was running already and is only heard again (announcements
   * replayed after a coordinator restart).
   */
  started?: number;
}

/** Per-port overrides given by options, `--attr` or graph metadata. */
export interface PortOverride {
  queue?: string;
  hidden?: boolean;
  description?: string;
  type?: string;
  schema?: string;
  /**
   * Outports: what an output the broker routes to no queue means for its job
   * (`--attr outports.out.unroutable=fail`); overrides the participant's
   * `onUnroutable`. Not part of the discovery message.
   */
  unroutable?: 'ack' | 'fail';
}

/**
 * A participant's announcement, as sent on the `fbp` queue (WIRE:
 * "Discovery"). `time` (ms since the epoch, when sent) is ours: a
 * coordinator judges from it how old a message that waited in the queue
 * is; other MsgFlo programs neither send nor read it.
 */
export interface ParticipantAnnouncement {
  protocol: 'discovery';
  command: 'participant';
  payload: ParticipantDefinition;
  time?: number;
}

/**
 * Sent by a participant that stops cleanly, so that coordinators forget it at
 * once instead of after their timeout. Ours, and sent where only our
 * programs listen (`DISCOVERY_CONTROL_TOPIC`), never on `fbp`.
 */
export interface LeaveMessage {
  protocol: 'discovery';
  command: 'leave';
  payload: { id: string; role: string };
  time?: number;
}

/** A discovery message a participant sends. */
export type DiscoveryMessage = ParticipantAnnouncement | LeaveMessage;

/** The queue every participant announces itself on. */
export const DISCOVERY_QUEUE = 'fbp';

/** Default queue name for a port: role, a dot, the port id upper-cased. */
export function defaultQueueName(role: string, portId: string): string {
  return `${role}.${portId.toUpperCase()}`;
}

/**
 * Apply an override to a port and give it its queue: the override's, else the
 * default one, else none when hidden.
 */
export function resolvePort(role: string, port: PortDefinition, override: PortOverride | undefined): PortDefinition {
  const { unroutable: _unroutable, ...shown } = override ?? {};
  const merged: PortDefinition = { ...port, ...shown };
  if (merged.hidden) {
    delete merged.queue;
    return merged;
  }
  if (!merged.queue) {
    merged.queue = defaultQueueName(role, port.id);
  }
  return merged;
}

/** An inport and an outport of one participant on the same queue. */
export interface QueueClash {
  readonly inport: string;
  readonly outport: string;
  readonly queue: string;
}

/**
 * Inports and outports that share a queue. Whatever an outport sends there
 * comes back in through the inport: one message makes jobs without end.
 */
export function queueClashes(definition: Pick<ParticipantDefinition, 'inports' | 'outports'>): QueueClash[] {
  const clashes: QueueClash[] = [];
  for (const inport of definition.inports) {
    for (const outport of definition.outports) {
      if (inport.queue !== undefined && inport.queue === outport.queue) {
        clashes.push({ inport: inport.id, outport: outport.id, queue: inport.queue });
      }
    }
  }
  return clashes;
}

/** Two inports of one participant on the same queue. */
export interface InqueueClash {
  readonly inports: readonly [string, string];
  readonly queue: string;
}

/**
 * Inports that share a queue. Each message would reach one of them as the
 * broker picks (AMQP: round robin between their consumers) or both (MQTT: two
 * subscriptions), never the port it was meant for.
 */
export function inqueueClashes(definition: Pick<ParticipantDefinition, 'inports'>): InqueueClash[] {
  const clashes: InqueueClash[] = [];
  const seen = new Map<string, string>();
  for (const inport of definition.inports) {
    if (inport.queue === undefined) {
      continue;
    }
    const first = seen.get(inport.queue);
    if (first === undefined) {
      seen.set(inport.queue, inport.id);
    } else {
      clashes.push({ inports: [first, inport.id], queue: inport.queue });
    }
  }
  return clashes;
}

/**
 * The discovery message for a definition; hidden ports are left out. With
 * `time` (ms since the epoch), the message says when it was sent.
 */
export function discoveryMessage(definition: ParticipantDefinition, time?: number): ParticipantAnnouncement {
  const visible = (ports: PortDefinition[]): PortDefinition[] => ports.filter((p) => !p.hidden && p.queue);
  const message: ParticipantAnnouncement = {
    protocol: 'discovery',
    command: 'participant',
    payload: { ...definition, inports: visible(definition.inports), outports: visible(definition.outports) },
  };
  if (time !== undefined) {
    message.time = time;
  }
  return message;
}

/**
 * The keys of the definition every MsgFlo participant sends (msgflo's own
 * tests of participants in other languages check for exactly these).
 */
export const DISCOVERY_KEYS = ['id', 'role', 'component', 'label', 'icon', 'inports', 'outports'] as const;

/**
 * The discovery message for a definition with only {@link DISCOVERY_KEYS},
 * hidden ports left out, `label` and `icon` empty when it has none, and no
 * `time`: for consumers that check the exact key set. Keys of ours are
 * lost: see {@link ParticipantDefinition} and {@link ParticipantAnnouncement}.
 */
export function plainDiscoveryMessage(definition: ParticipantDefinition): ParticipantAnnouncement {
  const { payload } = discoveryMessage(definition);
  return {
    protocol: 'discovery',
    command: 'participant',
    payload: {
      id: payload.id,
      role: payload.role,
      component: payload.component,
      label: payload.label ?? '',
      icon: payload.icon ?? '',
      inports: payload.inports,
      outports: payload.outports,
    },
  };
}

/** The message a participant sends on `fbp` when it stops cleanly ({@link LeaveMessage}). */
export function leaveMessage(definition: Pick<ParticipantDefinition, 'id' | 'role'>, time = Date.now()): LeaveMessage {
  return { protocol: 'discovery', command: 'leave', payload: { id: definition.id, role: definition.role }, time };
}

/** The dead-letter queue (and exchange) of an inqueue. */
export function deadLetterQueueName(queue: string): string {
  return `dead-${queue}`;
}
