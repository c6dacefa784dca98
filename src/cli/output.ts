/**
 * How the command line reports: one line per failure, a stack trace only when
 * DEBUG is set, exit codes that scripts can test. Stdout carries only a
 * command's data (dump's messages, JSON job lines, status's table, the
 * Procfile), so it can be piped; every status line goes to stderr.
 */
import { errorMessage } from '../errors';

/** The program name used in messages. */
export const PROGRAM = 'noflo-runtime-msgflo';

/** Print a one-line error (with the stack when DEBUG is set) and exit non-zero. */
export function fail(err: unknown): never {
  // Some messages (Node's module errors) carry a multi-line appendix: DEBUG shows it.
  const message = errorMessage(err);
  process.stderr.write(`${PROGRAM}: ${process.env.DEBUG ? message : message.split('\n', 1)[0]}\n`);
  if (process.env.DEBUG && err instanceof Error && err.stack) {
    process.stderr.write(`${err.stack}\n`);
  }
  process.exit(1);
}

/** Print a line of a command's result on stdout. */
export function data(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Print a status line (what started, where, what was bound) on stderr. */
export function info(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Print a warning line on stderr. */
export function warn(line: string): void {
  process.stderr.write(`${PROGRAM}: ${line}\n`);
}
