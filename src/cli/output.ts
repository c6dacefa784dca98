/**
 * How the command line reports: one line per failure, a stack trace only when
 * DEBUG is set, exit codes that scripts can test. Stdout carries only a
 * command's data (dump's messages, JSON job lines, status's table, the
 * Procfile), so it can be piped; every status line goes to stderr.
 */
import { errorMessage, OptionProblemsError } from '../errors';

/** The standard streams that failed a write, and are silent since. */
const closed = new Set<NodeJS.WriteStream>();

/** The program name used in messages. */
export const PROGRAM = 'noflo-runtime-msgflo';

/** `n` and the noun, singular for one: "1 job", "2 jobs", "0 jobs". */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** Print a one-line error (with the stack when DEBUG is set) and exit non-zero. */
export function fail(err: unknown): never {
  // Some messages (Node's module errors) carry a multi-line appendix: DEBUG shows it.
  const message = errorMessage(err);
  // Several problems at once (a participants file's entries) are a line each.
  const lines = err instanceof OptionProblemsError ? err.problems : [process.env.DEBUG ? message : (message.split('\n', 1)[0] ?? '')];
  process.stderr.write(lines.map((line) => `${PROGRAM}: ${line}\n`).join(''));
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

/**
 * Make a failed write on stdout or stderr (EPIPE once the reader is gone, as
 * in `| head -1`; EBADF) end that stream's output, not the process. Node
 * reports such a failure as an 'error' event on the stream; unhandled, it is
 * an uncaught exception, whose report is written to stderr, fails again, and
 * so on forever, at full CPU. From the first failure on, every later write to
 * that stream (ours, `debug`'s, a component's `console`) is dropped, and the
 * process carries on silently there. A failed stdout is said once on stderr.
 * Call once, before anything is written.
 */
export function guardOutputStreams(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (closed.has(stream)) {
        return;
      }
      closed.add(stream);
      stream.write = dropWrite as NodeJS.WriteStream['write'];
      if (stream === process.stdout && !closed.has(process.stderr)) {
        // Said on stderr alone: stdout carries data, and a failed stderr has no one to tell.
        warn(`stdout failed (${err.code ?? err.message}): nothing more is written there`);
      }
    });
  }
}

/** A write that goes nowhere, calling back as a successful one does. */
function dropWrite(_chunk: unknown, encoding?: BufferEncoding | ((err?: Error | null) => void), callback?: (err?: Error | null) => void): boolean {
  const done = typeof encoding === 'function' ? encoding : callback;
  if (done) {
    process.nextTick(done);
  }
  return true;
}
