/**
 * How commander's help and errors read: options' defaults as the user types
 * them, errors behind the program's name on one line, and a stray word
 * answered with the commands there are.
 */
import type { Command, Help, Option } from 'commander';
import { PROGRAM } from './output';

/**
 * An option's help text, as commander's but with choices, defaults and presets
 * unquoted: `(default: text)`, as one would type it, not `(default: "text")`.
 */
export function describeOption(option: Option): string {
  const extra: string[] = [];
  if (option.argChoices) {
    extra.push(`choices: ${option.argChoices.join(', ')}`);
  }
  // Booleans' defaults concern the code, not the user (as in commander).
  if (option.defaultValue !== undefined && (option.required || option.optional)) {
    extra.push(`default: ${option.defaultValueDescription ?? String(option.defaultValue)}`);
  }
  if (option.presetArg !== undefined && option.optional) {
    extra.push(`preset: ${String(option.presetArg)}`);
  }
  if (option.envVar !== undefined) {
    extra.push(`env: ${option.envVar}`);
  }
  if (extra.length === 0) {
    return option.description;
  }
  return option.description ? `${option.description} (${extra.join(', ')})` : `(${extra.join(', ')})`;
}

/** The help settings of every command. */
export const HELP: Partial<Help> = { optionDescription: describeOption };

/**
 * One of commander's error messages ("error: unknown option '--nmae'\n(Did
 * you mean --name?)") as the program's others read: behind its name, one line.
 */
export function commanderError(text: string): string {
  return text.replace(/^error: /, `${PROGRAM}: `).replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)');
}

/**
 * Refuse `word`, a stray operand of the program: name it, the closest
 * command when one is close, and all of them. Exits 1.
 */
export function unknownCommand(cli: Command, word: string): never {
  const names = cli.createHelp().visibleCommands(cli).map((command) => command.name());
  const closest = nearest(word, names);
  const hint = closest === undefined ? '' : ` (did you mean ${closest}?)`;
  cli.error(`${PROGRAM}: unknown command '${word}'${hint}; commands: ${names.join(', ')}`, { code: 'commander.unknownCommand' });
}

/**
 * Refuse `help WORD` when WORD is no command (commander would print the
 * program's usage instead), as a stray word is refused: see
 * {@link unknownCommand}. Exits 1; `help help` prints the program's usage
 * (exit 0), and it returns when WORD is another command or an option.
 */
export function checkHelpTopic(cli: Command, word: string): void {
  if (word.startsWith('-')) {
    return;
  }
  if (word === 'help') {
    cli.help();
  }
  const known = cli.createHelp().visibleCommands(cli).flatMap((command) => [command.name(), ...command.aliases()]);
  if (!known.includes(word)) {
    unknownCommand(cli, word);
  }
}

/** The candidate closest to `word` when it is near enough to be a slip of the keyboard. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(word.length * 0.4));
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(word.toLowerCase(), name);
    if (distance <= limit && (best === undefined || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name;
}

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const above = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}
