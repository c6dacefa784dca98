/**
 * `--basedir`: the project directory a command finds its graphs, components
 * and participant library in. One that does not exist is refused before
 * anything starts, rather than surfacing later as a graph or component "not
 * found" in it.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { InvalidOptionError, errorMessage } from '../errors';

/**
 * The absolute project directory of `--basedir` (the current directory when
 * not given).
 *
 * @param value - the flag's value as typed, if given
 * @param flag - the flag, as named in errors
 * @returns the directory, resolved against the current directory
 * @throws InvalidOptionError (one line, naming the flag and the value) when it does not exist, is not a directory, or cannot be read
 */
export function projectDirectory(value: string | undefined, flag = '--basedir'): string {
  if (value === undefined) {
    return process.cwd();
  }
  const dir = path.resolve(value);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'no such directory' : errorMessage(cause);
    throw new InvalidOptionError(`invalid ${flag} "${value}": ${why}`, { cause });
  }
  if (!isDirectory) {
    throw new InvalidOptionError(`invalid ${flag} "${value}": not a directory`);
  }
  return dir;
}
