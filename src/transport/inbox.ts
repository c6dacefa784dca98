/**
 * Names of inboxes (`Transport.inbox`): private addresses that collect
 * answers to a discovery request.
 */
import { randomUUID } from 'node:crypto';

/** What every inbox address starts with. */
export const INBOX_PREFIX = 'fbp.reply.';

/** A new inbox address, unique across processes. */
export function inboxAddress(): string {
  return `${INBOX_PREFIX}${randomUUID()}`;
}

