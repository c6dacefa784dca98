/**
 * `procfile GRAPH`: a Procfile with one line per role of a system graph, as
 * msgflo-procfile writes it.
 */
import path from 'node:path';
import { InvalidOptionError } from '../errors';
import { planSystem } from '../host/system';
import { ROUND_ROBIN_COMPONENT } from '../protocol/bindings';
import { createComponentLoader } from '../runtime/graph-source';
import { data, PROGRAM, warn } from './output';

/** Flags of the procfile command. */
export interface ProcfileFlags {
  basedir?: string;
  ignore?: string[];
  include?: string[];
}

/** Print the Procfile of `graphFile`. */
export async function procfile(graphFile: string, flags: ProcfileFlags): Promise<void> {
  const basedir = path.resolve(flags.basedir ?? process.cwd());
  const plan = await planSystem(graphFile, await createComponentLoader(basedir, { onWarning: warn }), basedir);
  const ignored = new Set(flags.ignore ?? []);
  const lines: string[] = [];
  for (const participant of plan.participants) {
    if (ignored.has(participant.name)) {
      continue;
    }
    const iips = participant.iips && Object.keys(participant.iips).length > 0 ? ` --iips '${JSON.stringify(participant.iips)}'` : '';
    lines.push(`${participant.name}: ${PROGRAM} --name ${participant.name} --graph ${participant.graph}${iips}`);
  }
  const unknown = plan.leftAlone.filter((node) => node.component !== ROUND_ROBIN_COMPONENT && !ignored.has(node.node));
  if (unknown.length > 0) {
    throw new InvalidOptionError(
      `no command for ${unknown.map((n) => `role "${n.node}" (${n.component})`).join(', ')}: --ignore them, and --include their Procfile lines`,
    );
  }
  lines.push(...(flags.include ?? []));
  data(lines.join('\n'));
}
