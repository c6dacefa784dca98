/**
 * The participants of other programs that `setup --participants` and the
 * `coordinator` start from the participant library: their flags (msgflo-setup's
 * `--library`, `--componentdir`, `--shell`, `--forward`), and what is said of
 * their processes.
 */
import createDebug from 'debug';
import path from 'node:path';
import { InvalidOptionError } from '../errors';
import { ChildSupervisor, describeCommand } from '../host/children';
import { childCommand, loadLibrary, type ChildCommand, type Library } from '../host/library';
import type { LibraryNode } from '../host/system';
import { DEFAULT_SHELL } from '../host/shell-words';
import { data, info, warn } from './output';

const debug = createDebug('noflo-runtime-msgflo:cli-children');

export { DEFAULT_SHELL };

/** Flags of the commands that start participants from the library. */
export interface LibraryFlags {
  library?: string;
  componentdir?: string;
  /** `--shell` alone is `true`: {@link DEFAULT_SHELL}. */
  shell?: string | boolean;
  /** `--forward` alone is `true`: both streams. */
  forward?: string | boolean;
}

/** What starts the library's participants, for one command. */
export interface LibraryRunner {
  readonly library: Library;
  readonly children: ChildSupervisor;
  /**
   * The command of `node` (its IIPs in `#IIPS`).
   *
   * @throws {InvalidOptionError} naming the library entry, for a command that needs a shell without `--shell`
   */
  command(node: LibraryNode): ChildCommand;
  /** Start `node`'s command as a supervised child. */
  start(node: LibraryNode): Promise<void>;
  /** Stop the child of `role`. */
  stop(role: string): Promise<void>;
}

/**
 * The streams of `--forward`: `stderr`, `stdout`, or both comma-separated, as
 * msgflo-setup takes them; alone, both.
 *
 * @throws {InvalidOptionError} for another stream name
 */
export function forwardStreams(value: string | boolean | undefined): Set<'stdout' | 'stderr'> {
  if (value === undefined || value === false) {
    return new Set();
  }
  if (value === true) {
    return new Set(['stdout', 'stderr']);
  }
  const streams = new Set<'stdout' | 'stderr'>();
  for (const name of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (name !== 'stdout' && name !== 'stderr') {
      throw new InvalidOptionError(`invalid --forward "${value}": expected stderr, stdout or stderr,stdout`);
    }
    streams.add(name);
  }
  return streams;
}

/**
 * Read the library of project `basedir` and make the supervisor of its
 * participants, which get the broker in `MSGFLO_BROKER` (as msgflo-setup
 * gives it), run in `basedir`, and find the programs of the project's
 * `node_modules/.bin` (msgflo-nodejs, msgflo-python) on their `PATH`.
 * Their lines are passed on, each after `ROLE: `, as `--forward` says (to
 * stdout what they write on stdout, to stderr the rest); a death is said
 * with its last lines, forwarded or not.
 *
 * @throws {InvalidOptionError} for a bad library (naming the file and the entry) or `--forward` value
 */
export async function libraryRunner(flags: LibraryFlags, basedir: string, broker: string): Promise<LibraryRunner> {
  const forward = forwardStreams(flags.forward);
  const shell = flags.shell === true ? DEFAULT_SHELL : flags.shell || undefined;
  const library = await loadLibrary(basedir, { file: flags.library, componentDir: flags.componentdir });
  const bin = path.join(basedir, 'node_modules', '.bin');
  const children = new ChildSupervisor({
    cwd: basedir,
    env: { ...process.env, MSGFLO_BROKER: broker, PATH: [bin, process.env.PATH].filter(Boolean).join(path.delimiter) },
  });
  children.on('spawned', (role, pid) => info(`role ${role}: process ${pid} started`));
  children.on('output', (role, stream, line) => {
    if (!forward.has(stream)) {
      debug('%s %s: %s', role, stream, line);
    } else if (stream === 'stdout') {
      data(`${role}: ${line}`);
    } else {
      info(`${role}: ${line}`);
    }
  });
  children.on('died', (role, reason, restartInMs, lastLines) => {
    const last = lastLines.length > 0 && forward.size === 0 ? `; its last lines: ${lastLines.join(' | ')}` : '';
    warn(`role ${role}: its process ${reason}; starting it again in ${restartInMs / 1000} s${last}`);
  });
  const command = (node: LibraryNode): ChildCommand => childCommand(library, node.component, { role: node.role, iips: node.iips }, shell);
  return {
    library,
    children,
    command,
    async start(node: LibraryNode): Promise<void> {
      const line = command(node);
      info(`role ${node.role} (${node.component.name}): ${describeCommand(line)}`);
      await children.start(node.role, line);
    },
    stop: (role) => children.stop(role),
  };
}
