/**
 * Reading a graph file, `.fbp` or `.json`, into a NoFlo graph. A file that
 * does not parse is refused with its name, line and column: the FBP parser
 * gives a location, and a JSON.parse position is turned into one.
 */
import { readFile } from 'node:fs/promises';
import noflo from 'noflo';
import { GraphLoadError, errorMessage } from '../errors';

/** A NoFlo graph instance (fbp-graph's Graph, as NoFlo exports it). */
export type Graph = InstanceType<typeof noflo.Graph>;

/** A place in a text, both counted from 1. */
export interface TextLocation {
  readonly line: number;
  readonly column: number;
}

/** Line and column of a character offset in `text`. */
export function locationAt(text: string, offset: number): TextLocation {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1] ?? '').length + 1 };
}

/**
 * Where JSON.parse stopped in `text`, from its error message: Node gives a
 * position ("at position 17"), newer ones a line and column too, and an
 * early end of the text gives neither (the end is the place).
 */
export function jsonErrorLocation(text: string, message: string): TextLocation | undefined {
  const lineColumn = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lineColumn) {
    return { line: Number(lineColumn[1]), column: Number(lineColumn[2]) };
  }
  const position = /at position (\d+)/.exec(message);
  if (position) {
    return locationAt(text, Number(position[1]));
  }
  if (/end of (JSON|data|input)/i.test(message)) {
    return locationAt(text, text.length);
  }
  return undefined;
}

/** A JSON.parse message without the position, which the location says better. */
function jsonReason(message: string): string {
  return message.replace(/,? ?(in JSON )?at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '');
}

/** "at line 3, column 5: " when known. */
function where(location: TextLocation | undefined): string {
  return location ? ` at line ${location.line}, column ${location.column}` : '';
}

/**
 * Why `text` is not valid JSON, with the place (`at line 3, column 5:
 * ...`); undefined when it is.
 */
export function jsonProblem(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    const message = errorMessage(err);
    return `not JSON${where(jsonErrorLocation(text, message))}: ${jsonReason(message)}`;
  }
}

/** The FBP parser's error location, when it gave one. */
function fbpErrorLocation(err: unknown): TextLocation | undefined {
  const start = (err as { location?: { start?: { line?: unknown; column?: unknown } } } | null)?.location?.start;
  return typeof start?.line === 'number' && typeof start.column === 'number' ? { line: start.line, column: start.column } : undefined;
}

/** Parse the text of graph file `file` (named in errors), by its extension. */
export async function parseGraph(text: string, file: string): Promise<Graph> {
  const json = file.toLowerCase().endsWith('.json');
  let definition: unknown;
  if (json) {
    try {
      definition = JSON.parse(text);
    } catch (cause) {
      const message = errorMessage(cause);
      throw new GraphLoadError(`cannot parse graph file "${file}"${where(jsonErrorLocation(text, message))}: ${jsonReason(message)}`, { cause });
    }
    if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) {
      throw new GraphLoadError(`cannot parse graph file "${file}": expected a JSON object with "processes" and "connections"`);
    }
  }
  let graph: Graph;
  try {
    graph = json ? await noflo.loadJSON(definition as Parameters<typeof noflo.loadJSON>[0]) : await noflo.loadFBP(text);
  } catch (cause) {
    throw new GraphLoadError(`cannot parse graph file "${file}"${where(fbpErrorLocation(cause))}: ${errorMessage(cause)}`, { cause });
  }
  if (graph.nodes.length === 0) {
    throw new GraphLoadError(`cannot parse graph file "${file}": it defines no processes (is it a NoFlo graph?)`);
  }
  return graph;
}

/** Load a graph file (`.fbp` or `.json`). */
export async function loadGraphFile(file: string): Promise<Graph> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(cause);
    throw new GraphLoadError(`cannot read graph file "${file}": ${reason}`, { cause });
  }
  return parseGraph(text, file);
}
