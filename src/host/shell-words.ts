/**
 * Words of a POSIX shell command line (sh, bash, dash; foreman and Heroku
 * run Procfile lines through one): quoting a value as one word, and
 * splitting a line into words the way a shell does for quotes and
 * backslashes, for commands started without one.
 */
import { InvalidOptionError } from '../errors';

/** The shell of `--shell` given alone (setup, coordinator). */
export const DEFAULT_SHELL = '/bin/sh';

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quote `value` for a POSIX shell (sh, bash, dash; foreman and Heroku run
 * Procfile lines through one) so that it is one word, taken literally:
 * left as it is when it has only safe characters, else in single quotes,
 * each `'` written `'\''`.
 */
export function shellQuote(value: string): string {
  return SAFE_WORD.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Split a command into words as a POSIX shell does for blanks, `'...'`,
 * `"..."` and backslashes (`where` names the command in errors).
 *
 * @throws {InvalidOptionError} for what needs a shell (a pipe, a redirection, `$`, `;`, `&`, backquotes, parentheses) or an unclosed quote
 */
export function splitWords(text: string, where: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (word !== undefined) {
        words.push(word);
        word = undefined;
      }
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) {
        throw new InvalidOptionError(`${where}: unclosed ' in the command`);
      }
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let quoted = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j += 1) {
        const q = text[j] as string;
        if (q === '$' || q === '`') {
          throw new InvalidOptionError(`${where}: the command uses ${q} (shell syntax): start it with --shell`);
        }
        if (q === '\\' && j + 1 < text.length && '$`"\\\n'.includes(text[j + 1] as string)) {
          j += 1;
        }
        quoted += text[j] as string;
      }
      if (j >= text.length) {
        throw new InvalidOptionError(`${where}: unclosed " in the command`);
      }
      word = (word ?? '') + quoted;
      i = j;
    } else if (c === '\\' && i + 1 < text.length) {
      i += 1;
      word = (word ?? '') + (text[i] as string);
    } else if ('|&;<>()$`'.includes(c)) {
      throw new InvalidOptionError(`${where}: the command uses ${c} (shell syntax): start it with --shell`);
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) {
    words.push(word);
  }
  return words;
}

