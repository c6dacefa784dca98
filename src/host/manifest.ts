/**
 * `--participants FILE.json`: a JSON array of participants, each an object
 * with the options of one participant (`name`, `graph`, `prefetch`, `iips`,
 * `deadletter`, `inports`, `outports`, `dedicatedNetwork`, ...). A `broker`
 * is a URL, a comma-separated list of them, or an array of them.
 */
import { readFile } from 'node:fs/promises';
import { InvalidOptionError, MsgfloError, OptionProblemsError, errorMessage } from '../errors';
import { checkedBrokerList, describeType, PARTICIPANT_KEYS, type ParticipantInput } from '../participant/options';
import { joinBrokerList } from '../transport/url';

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

/**
 * Check the contents of a participants file (`source` names it in errors).
 * Every entry is checked: one wrong entry is refused with its own error (an
 * {@link InvalidOptionError}, or a `BrokerUrlError` for its broker);
 * several with an {@link OptionProblemsError}, a line per wrong entry, each
 * naming the file, the entry's position and its first problem.
 */
export function parseManifest(entries: unknown, source: string): ParticipantInput[] {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new InvalidOptionError(`participants file "${source}": expected a non-empty JSON array of participants`);
  }
  const problems: MsgfloError[] = [];
  const inputs = entries.map((entry: unknown, index) => {
    try {
      return parseEntry(entry, `participants file "${source}", entry ${index + 1}`);
    } catch (err) {
      if (!(err instanceof MsgfloError)) {
        throw err;
      }
      problems.push(err);
      return undefined;
    }
  });
  if (problems.length > 1) {
    throw new OptionProblemsError(problems.map((problem) => problem.message));
  }
  if (problems[0]) {
    throw problems[0];
  }
  return inputs as ParticipantInput[];
}

/** Check one entry of a participants file; `where` names it in errors. */
function parseEntry(entry: unknown, where: string): ParticipantInput {
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
  if (record.broker === undefined) {
    return record as unknown as ParticipantInput;
  }
  const broker = brokerList(record.broker, `${where} ("${String(record.name)}")`);
  return { ...record, broker } as unknown as ParticipantInput;
}

/**
 * A participant's `broker`: `"amqp://a,amqp://b"` or `["amqp://a", "amqp://b"]`,
 * checked, as one list string. The value itself is not shown when it is of
 * the wrong type: it may hold a password.
 */
function brokerList(value: unknown, where: string): string {
  const strings = Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string');
  if (typeof value !== 'string' && !strings) {
    const items: unknown[] = Array.isArray(value) ? value : [];
    const odd = items.findIndex((item) => typeof item !== 'string');
    const got = odd >= 0 ? `an array whose item ${odd + 1} is ${describeType(items[odd])}` : describeType(value);
    throw new InvalidOptionError(`${where}: "broker" must be a URL, a comma-separated list of URLs or an array of URLs, got ${got}`);
  }
  return checkedBrokerList(joinBrokerList(value as string | string[]), `${where}: "broker"`);
}
