/**
 * Starting participants for tests, with cleanup registered on the test.
 */
import path from 'node:path';
import type { TestContext } from 'node:test';
import { transportOptions } from '../../src/participant/connection';
import { normalizeOptions, type ParticipantInput } from '../../src/participant/options';
import { Participant } from '../../src/participant/participant';
import { createTransport } from '../../src/transport';

/** The fixture project: components and graphs the tests run. */
export const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'spec', 'fixtures');

/** The repository root. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** Start a participant on `broker` with fixtures as base directory; stopped after the test. */
export async function startParticipant(t: TestContext, broker: string, input: Omit<ParticipantInput, 'broker'>): Promise<Participant> {
  const options = normalizeOptions({ basedir: FIXTURES, ...input, broker }, {});
  const participant = new Participant(options, createTransport(broker, transportOptions(options)));
  t.after(() => participant.stop(2000));
  await participant.start();
  return participant;
}
