/**
 * `procfile GRAPH`: a Procfile with one line per role of a system graph, as
 * msgflo-procfile writes it: our NoFlo participants, and the commands of the
 * participant library for the others. Every line is what a POSIX shell
 * (foreman, Heroku) runs as meant, whatever the IIPs hold.
 */
import { InvalidOptionError } from '../errors';
import { loadLibrary, shellCommand, shellQuote } from '../host/library';
import { planSystem } from '../host/system';
import { ROUND_ROBIN_COMPONENT } from '../protocol/bindings';
import { createComponentLoader } from '../runtime/graph-source';
import { projectDirectory } from './basedir';
import { data, PROGRAM, warn } from './output';

/** Flags of the procfile command. */
export interface ProcfileFlags {
  basedir?: string;
  ignore?: string[];
  include?: string[];
  library?: string;
  components?: string;
}

/** Role names from repeated flags, each of which may be a comma-separated list (as msgflo-setup takes them). */
export function roleList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((value) => value.split(',')).map((role) => role.trim()).filter((role) => role !== '');
}

/** Print the Procfile of `graphFile`. */
export async function procfile(graphFile: string, flags: ProcfileFlags): Promise<void> {
  const basedir = projectDirectory(flags.basedir);
  const library = await loadLibrary(basedir, { file: flags.library, componentDir: flags.components });
  const plan = await planSystem(graphFile, await createComponentLoader(basedir, { onWarning: warn }), basedir, { library });
  const ignored = new Set(roleList(flags.ignore));
  const lines: string[] = [];
  for (const participant of plan.participants) {
    if (ignored.has(participant.name)) {
      continue;
    }
    const iips = participant.iips && Object.keys(participant.iips).length > 0 ? ` --iips ${shellQuote(JSON.stringify(participant.iips))}` : '';
    lines.push(`${participant.name}: ${PROGRAM} --name ${shellQuote(participant.name)} --graph ${shellQuote(participant.graph)}${iips}`);
  }
  for (const node of plan.commands) {
    if (!ignored.has(node.role)) {
      lines.push(`${node.role}: ${shellCommand(library, node.component, { role: node.role, iips: node.iips })}`);
    }
  }
  const unknown = plan.leftAlone.filter((node) => node.component !== ROUND_ROBIN_COMPONENT && !ignored.has(node.node));
  if (unknown.length > 0) {
    throw new InvalidOptionError(
      `no command for ${unknown.map((n) => `role "${n.node}" (${n.component})`).join(', ')}: add the component to the participant library, or --ignore the role and --include its Procfile line`,
    );
  }
  lines.push(...(flags.include ?? []));
  data(lines.join('\n'));
}
