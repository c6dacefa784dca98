/**
 * The `status` table: roles, their participants, ports and queues, with
 * queue depths where the broker tells them (AMQP).
 */
import { deadLetterQueueName, type ParticipantDefinition } from '../protocol/definition';
import type { QueueDepth } from './queue-depths';

/** Depths by queue name; undefined for a queue the broker does not have. */
export type DepthMap = ReadonlyMap<string, QueueDepth | undefined>;

/** The queues whose depth the table shows: every inqueue and its dead-letter queue. */
export function queuesToInspect(definitions: readonly ParticipantDefinition[]): string[] {
  const queues = new Set<string>();
  for (const definition of definitions) {
    for (const port of definition.inports) {
      if (port.queue) {
        queues.add(port.queue);
        queues.add(deadLetterQueueName(port.queue));
      }
    }
  }
  return [...queues];
}

/** Lines of text: the table, then the participants; `depths` undefined when the broker has none to tell (MQTT). */
export function formatStatus(definitions: readonly ParticipantDefinition[], depths: DepthMap | undefined): string[] {
  const byRole = new Map<string, ParticipantDefinition[]>();
  for (const definition of definitions) {
    byRole.set(definition.role, [...(byRole.get(definition.role) ?? []), definition]);
  }
  const header = ['ROLE', 'COMPONENT', 'PARTICIPANTS', 'PORT', 'QUEUE'];
  if (depths) {
    header.push('MESSAGES', 'CONSUMERS', 'DEAD-LETTERED');
  }
  const rows: string[][] = [header];
  const show = (depth: QueueDepth | undefined, field: keyof QueueDepth): string => (depth ? String(depth[field]) : '-');
  for (const [role, members] of [...byRole].sort(([a], [b]) => a.localeCompare(b))) {
    const first = members[0] as ParticipantDefinition;
    const ports = [
      ...first.inports.filter((p) => p.queue).map((p) => ({ name: `in ${p.id}`, queue: p.queue as string, inqueue: true })),
      ...first.outports.filter((p) => p.queue).map((p) => ({ name: `out ${p.id}`, queue: p.queue as string, inqueue: false })),
    ];
    if (ports.length === 0) {
      ports.push({ name: '-', queue: '-', inqueue: false });
    }
    for (const [index, port] of ports.entries()) {
      const row = index === 0 ? [role, first.component, String(members.length)] : ['', '', ''];
      row.push(port.name, port.queue);
      if (depths) {
        if (port.inqueue) {
          const depth = depths.get(port.queue);
          row.push(show(depth, 'messages'), show(depth, 'consumers'), show(depths.get(deadLetterQueueName(port.queue)), 'messages'));
        } else {
          row.push('', '', '');
        }
      }
      rows.push(row);
    }
  }
  const widths = header.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
  const ids = definitions.map((d) => [d.id, d.role, d.component]).sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
  const idWidths = [0, 1].map((column) => Math.max(14, ...ids.map((row) => (row[column] as string).length)));
  lines.push('', `${'PARTICIPANT'.padEnd(idWidths[0] ?? 0)}  ${'ROLE'.padEnd(idWidths[1] ?? 0)}  COMPONENT`);
  for (const [id, role, component] of ids) {
    lines.push(`${(id as string).padEnd(idWidths[0] ?? 0)}  ${(role as string).padEnd(idWidths[1] ?? 0)}  ${component as string}`);
  }
  return lines;
}
