/**
 * A MsgFlo participant library: how to start a participant of a component
 * that is not a NoFlo one here (a msgflo-python or msgflo-nodejs program, a
 * C++ binary). As the `msgflo` package defines it, a JSON object
 *
 * ```json
 * {"components": {"NAME": "command with #ROLE"}, "variables": {"VAR": "text"}, "handlers": {".py": "command with #FILENAME"}}
 * ```
 *
 * on its own (`msgflo.json`) or under the `"msgflo"` key of a project's
 * `package.json`, plus the files of a component directory (`participants/`
 * by default), each started through the handler of its extension.
 *
 * A command is a template. `#NAME` markers are replaced as msgflo does: the
 * library's own variables (text, expanded first, so one may hold several
 * words and other markers), then `#ROLE`, `#IIPS` (the role's IIPs as one
 * JSON object), `#COMPONENT`, `#COMPONENTNAME` (the component without its
 * library prefix) and `#FILENAME` (a component file's path). Those five are
 * values, not command text: built for a shell ({@link shellCommand}) they
 * are quoted so that a shell passes each as one word whatever it holds;
 * built without one ({@link execCommand}) the template is split into words
 * first and each value lands inside its word, unquoted.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, InvalidOptionError } from '../errors';
import { shellQuote, splitWords } from './shell-words';

export { shellQuote } from './shell-words';

/** The markers whose values the runtime gives, per participant. */
export const VALUE_MARKERS = ['ROLE', 'IIPS', 'COMPONENT', 'COMPONENTNAME', 'FILENAME'] as const;

/** One of {@link VALUE_MARKERS}. */
export type ValueMarker = (typeof VALUE_MARKERS)[number];

/**
 * msgflo's handlers for the files of a component directory, by extension.
 * A library's own `handlers` replace these one by one.
 */
export const DEFAULT_HANDLERS: Readonly<Record<string, string>> = {
  '.yml': 'msgflo-register --role #ROLE:#FILENAME',
  '.js': 'msgflo-nodejs --name #ROLE #FILENAME',
  '.coffee': 'msgflo-nodejs --name #ROLE #FILENAME',
  '.py': 'msgflo-python #FILENAME #ROLE',
  '.json': 'noflo-runtime-msgflo --name #ROLE --graph #COMPONENT --iips #IIPS',
  '.fbp': 'noflo-runtime-msgflo --name #ROLE --graph #COMPONENT --iips #IIPS',
};

/** A component the library can start. */
export interface LibraryComponent {
  /** As a system graph's node names it, e.g. `python/Repeat`. */
  readonly name: string;
  /** The command template, `#` markers not yet replaced. */
  readonly template: string;
  /** For a component directory's file: its path. */
  readonly filename?: string;
  /** Where it was defined, for messages: `library "FILE", component "NAME"`. */
  readonly where: string;
}

/** A participant library, read and checked. */
export interface Library {
  /** The file it was read from; `(none)` when the project has none. */
  readonly source: string;
  /** The project's name (`package.json`'s `name`), the library prefix of the directory's components. */
  readonly namespace: string | undefined;
  /** The library's variables, by marker name (upper case). */
  readonly variables: Readonly<Record<string, string>>;
  /** By name. */
  readonly components: ReadonlyMap<string, LibraryComponent>;
}

/** What a participant's command is built from. */
export interface Instance {
  readonly role: string;
  /** The role's IIPs by inport; `{}` when a coordinator sends them itself. */
  readonly iips?: Readonly<Record<string, unknown>>;
}

/** A command to start without a shell: the program and its arguments, each one argv entry. */
export interface ExecCommand {
  readonly file: string;
  readonly args: readonly string[];
}

/** A command line for a shell, run as `shell -c line`. */
export interface ShellCommand {
  readonly shell: string;
  readonly line: string;
}

/** What a participant's process runs: the program and its arguments, or a line for a shell. */
export type ChildCommand = ExecCommand | ShellCommand;

const MARKER = /#([A-Z][A-Z0-9_]*)/g;

/**
 * Find the library of project `basedir`: `file` when given, else
 * `msgflo.json` there, else the `msgflo` key of its `package.json`; plus
 * the files of `componentDir` (relative to `basedir`; default
 * `participants`, as msgflo's; a missing directory adds nothing).
 *
 * @throws {InvalidOptionError} one line naming the file and the entry: a file given that cannot be read, not JSON, of the wrong shape, a component without a command
 */
export async function loadLibrary(basedir: string, options: { file?: string | undefined; componentDir?: string | undefined } = {}): Promise<Library> {
  let source = '';
  let json: unknown = {};
  if (options.file !== undefined) {
    source = path.resolve(basedir, options.file);
    json = await readJson(source, true);
  } else {
    for (const name of ['msgflo.json', 'package.json']) {
      const candidate = path.join(basedir, name);
      const found = await readJson(candidate, false);
      if (found !== undefined) {
        source = candidate;
        json = found;
        break;
      }
    }
  }
  const library = parseLibrary(json, source || '(none)');
  const dir = path.resolve(basedir, options.componentDir ?? 'participants');
  const files = await componentFiles(dir, library, json);
  if (files.length === 0) {
    return library;
  }
  const components = new Map(library.components);
  for (const component of files) {
    // The library's own entries win over a file of the same name, as in msgflo.
    if (!components.has(component.name)) {
      components.set(component.name, component);
    }
  }
  return { ...library, components };
}

async function readJson(file: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if (!required && (cause as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw new InvalidOptionError(`cannot read library "${file}": ${errorMessage(cause)}`, { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new InvalidOptionError(`library "${file}" is not JSON: ${errorMessage(cause)}`, { cause });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The library part of a file's JSON: its `msgflo` key when it has one (package.json), else the whole. */
function libraryPart(json: unknown, source: string): Record<string, unknown> {
  if (!isRecord(json)) {
    throw new InvalidOptionError(`library "${source}": expected a JSON object like {"components": {"NAME": "command with #ROLE"}}`);
  }
  if (json.msgflo === undefined) {
    return json;
  }
  if (!isRecord(json.msgflo)) {
    throw new InvalidOptionError(`library "${source}": "msgflo" must be an object like {"components": {"NAME": "command with #ROLE"}}`);
  }
  return json.msgflo;
}

/** A string map of the library, each value a non-empty string. */
function stringMap(value: unknown, key: string, entry: string, source: string): Record<string, string> {
  if (value === undefined) {
    return {};
  }
  if (!isRecord(value)) {
    throw new InvalidOptionError(`library "${source}": "${key}" must be an object of ${entry} to command text`);
  }
  const result: Record<string, string> = {};
  for (const [name, text] of Object.entries(value)) {
    if (typeof text !== 'string' || text.trim() === '') {
      throw new InvalidOptionError(`library "${source}": ${entry} "${name}" has no command: expected a non-empty string, got ${JSON.stringify(text) ?? 'nothing'}`);
    }
    result[name] = text;
  }
  return result;
}

/**
 * Check a library's JSON (`source` names it in errors): each component a
 * command, each variable text, no variable named as a value marker, every
 * `#MARKER` of a command known.
 *
 * @throws {InvalidOptionError} one line naming `source` and the entry
 */
export function parseLibrary(json: unknown, source: string): Library {
  const part = libraryPart(json, source);
  const namespace = typeof part.namespace === 'string' ? part.namespace : isRecord(json) && typeof json.name === 'string' ? json.name : undefined;
  const variables: Record<string, string> = {};
  for (const [name, text] of Object.entries(stringMap(part.variables, 'variables', 'variable', source))) {
    const marker = name.toUpperCase();
    if ((VALUE_MARKERS as readonly string[]).includes(marker)) {
      throw new InvalidOptionError(`library "${source}": variable "${name}" is given by the runtime for each participant; choose another name`);
    }
    variables[marker] = text;
  }
  stringMap(part.handlers, 'handlers', 'handler', source);
  const components = new Map<string, LibraryComponent>();
  for (const [name, template] of Object.entries(stringMap(part.components, 'components', 'component', source))) {
    components.set(name, { name, template, where: `library "${source}", component "${name}"` });
  }
  const library: Library = { source, namespace, variables, components };
  for (const component of components.values()) {
    // Built once now, so that a bad entry stops the start rather than the node's first start.
    expandVariables(library, component);
  }
  return library;
}

/** The components of directory `dir`: each file with a handler, named after it (with the library prefix). */
async function componentFiles(dir: string, library: Library, json: unknown): Promise<LibraryComponent[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw new InvalidOptionError(`cannot read component directory "${dir}": ${errorMessage(cause)}`, { cause });
  }
  const handlers = { ...DEFAULT_HANDLERS, ...stringMap(libraryPart(json, library.source).handlers, 'handlers', 'handler', library.source) };
  const result: LibraryComponent[] = [];
  for (const file of names.sort()) {
    const ext = path.extname(file);
    const template = handlers[ext];
    if (template === undefined) {
      continue;
    }
    const base = path.basename(file, ext);
    const name = library.namespace ? `${library.namespace}/${base}` : base;
    const component: LibraryComponent = { name, template, filename: path.join(dir, file), where: `component directory "${dir}", file "${file}"` };
    expandVariables(library, component);
    result.push(component);
  }
  return result;
}

/**
 * The component the library has for `name`, found as msgflo finds it: by
 * name, else by the name without its library prefix, else with the
 * library's own prefix added.
 */
export function findComponent(library: Library, name: string): LibraryComponent | undefined {
  const { components, namespace } = library;
  const direct = components.get(name) ?? components.get(name.slice(name.lastIndexOf('/') + 1));
  if (direct || !namespace || name.includes('/')) {
    return direct;
  }
  return components.get(`${namespace}/${name}`);
}

/**
 * The template with the library's variables expanded (repeatedly, so that
 * one variable may use another), value markers left in place.
 *
 * @throws {InvalidOptionError} naming the entry: variables that expand each other without end, or a marker that is neither a variable nor a value
 */
function expandVariables(library: Library, component: LibraryComponent): string {
  let text = component.template;
  for (let round = 0; ; round += 1) {
    let changed = false;
    text = text.replace(MARKER, (whole, name: string) => {
      const value = longestVariable(library.variables, name);
      if (value === undefined) {
        return whole;
      }
      changed = true;
      return value.text + name.slice(value.name.length);
    });
    if (!changed) {
      break;
    }
    if (round === 20) {
      throw new InvalidOptionError(`${component.where}: its variables expand each other without end`);
    }
  }
  // Only a whole word is taken for a marker here: `#Section` of a URL is not one.
  for (const [, name] of text.matchAll(/#([A-Z][A-Z0-9_]*)(?![A-Za-z0-9_])/g)) {
    if (name !== undefined && valueMarker(name) === undefined) {
      throw new InvalidOptionError(
        `${component.where}: #${name} is neither a variable of the library nor one of #${VALUE_MARKERS.join(', #')}`,
      );
    }
  }
  return text;
}

/**
 * The longest variable name that `name` starts with (markers need no
 * separator after them, as in msgflo); none when a value marker is as long.
 */
function longestVariable(variables: Readonly<Record<string, string>>, name: string): { name: string; text: string } | undefined {
  let best: { name: string; text: string } | undefined;
  for (const [variable, text] of Object.entries(variables)) {
    if (name.startsWith(variable) && (!best || variable.length > best.name.length)) {
      best = { name: variable, text };
    }
  }
  const marker = valueMarker(name);
  return best && marker && marker.length >= best.name.length ? undefined : best;
}

/** The longest value marker that `name` starts with. */
function valueMarker(name: string): ValueMarker | undefined {
  return [...VALUE_MARKERS].sort((a, b) => b.length - a.length).find((marker) => name.startsWith(marker));
}

function values(component: LibraryComponent, instance: Instance): Record<ValueMarker, string> {
  const slash = component.name.lastIndexOf('/');
  return {
    ROLE: instance.role,
    IIPS: JSON.stringify(instance.iips ?? {}),
    COMPONENT: component.name,
    COMPONENTNAME: component.name.slice(slash + 1),
    FILENAME: component.filename ?? '',
  };
}

function replaceValues(text: string, given: Record<ValueMarker, string>, quote: (value: string) => string): string {
  return text.replace(MARKER, (whole, name: string) => {
    const marker = valueMarker(name);
    return marker === undefined ? whole : quote(given[marker]) + name.slice(marker.length);
  });
}

/**
 * The command line of a participant of `component`, for a POSIX shell (a
 * Procfile line, `--shell`): its values quoted with {@link shellQuote}, the
 * rest as the library wrote it.
 */
export function shellCommand(library: Library, component: LibraryComponent, instance: Instance): string {
  return replaceValues(expandVariables(library, component), values(component, instance), shellQuote);
}

/**
 * The program and arguments of a participant of `component`, to start
 * without a shell: the template is split into words as a shell would
 * (blanks, `'...'`, `"..."`, `\`), then each value replaces its marker
 * inside its word, as it is.
 *
 * @throws {InvalidOptionError} naming the entry, when the command needs a shell (a pipe, a redirection, `$`, `;`, `&`, backquotes) or has an unclosed quote
 */
export function execCommand(library: Library, component: LibraryComponent, instance: Instance): ExecCommand {
  const given = values(component, instance);
  const words = splitWords(expandVariables(library, component), component.where).map((word) => replaceValues(word, given, (value) => value));
  const [file, ...args] = words;
  if (file === undefined) {
    throw new InvalidOptionError(`${component.where}: the command is empty`);
  }
  return { file, args };
}

/**
 * The command of a participant of `component`: through `shell` (`sh -c
 * LINE`) when one is given, as msgflo-setup's `--shell` does, else
 * without one.
 *
 * @throws {InvalidOptionError} as {@link execCommand} does, without a shell
 */
export function childCommand(library: Library, component: LibraryComponent, instance: Instance, shell?: string): ChildCommand {
  return shell ? { shell, line: shellCommand(library, component, instance) } : execCommand(library, component, instance);
}
