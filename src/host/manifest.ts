/**
 * `--participants FILE.json`: a JSON array of participants, each an object
 * with the options of one participant (`name`, `graph`, `prefetch`, `iips`,
 * `deadletter`, `inports`, `outports`, `dedicatedNetwork`, ...).
 */
import { readFile } from 'node:fs/promises';
import { InvalidOptionError, errorMessage } from '../errors';
import { PARTICIPANT_KEYS, type ParticipantInput } from '../participant/options';

/** Read and check a participants file. */
export async function readManifest(file: string): Promise<ParticipantInput[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new InvalidOptionError(`cannot read participants file "${file}": ${errorMessage(cause)}`, { cause });
  }
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch (cause) {
    throw new InvalidOptionError(`participants file "${file}" is not JSON: ${errorMessage(cause)}`, { cause });
  }
  return parseManifest(entries, file);
}

/** Check the contents of a participants file (`source` names it in errors). */
export function parseManifest(entries: unknown, source: string): ParticipantInput[] {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new InvalidOptionError(`participants file "${source}": expected a non-empty JSON array of participants`);
  }
  return entries.map((entry: unknown, index) => {
    const where = `participants file "${source}", entry ${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new InvalidOptionError(`${where}: expected an object like {"name": "repeat", "graph": "core/Repeat"}`);
    }
    const record = entry as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!PARTICIPANT_KEYS.includes(key)) {
        throw new InvalidOptionError(`${where}: unknown option "${key}" (known: ${PARTICIPANT_KEYS.join(', ')})`);
      }
    }
    for (const key of ['name', 'graph']) {
      if (typeof record[key] !== 'string' || record[key] === '') {
        throw new InvalidOptionError(`${where}: "${key}" is required and must be a string`);
      }
    }
    return record as unknown as ParticipantInput;
  });
}
