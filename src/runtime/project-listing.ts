/**
 * Listing a NoFlo project's components and graphs when NoFlo's own listing
 * fails on a malformed graph file. NoFlo lists with fbp-manifest, which
 * parses every `.json` file of a package's `graphs/` folder and gives up on
 * the whole project at the first that is not JSON, without naming it: one
 * broken file, and no graph of the project can start. Here every package is
 * listed with fbp-manifest as NoFlo does; one that fails so is listed again
 * from a mirror of it without its malformed graph files, which are reported.
 * The result is a manifest NoFlo registers as it would its `fbp.json`.
 */
import createDebug from 'debug';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../errors';
import { jsonProblem } from './graph-file';

const debug = createDebug('noflo-runtime-msgflo:project-listing');

/** A component or graph of a manifest module; paths are relative to the project. */
interface ManifestComponent {
  name: string;
  path?: string;
  source?: string;
  tests?: string;
}

/** A module of an fbp-manifest manifest (one library of one runtime). */
export interface ManifestModule {
  name: string;
  /** The package's folder, relative to the project. */
  base: string;
  components: ManifestComponent[];
}

interface ListOptions {
  runtimes: string[];
  root: string;
  subdirs: boolean;
  recursive: boolean;
}

/** fbp-manifest's NoFlo lister: one package, and the packages it depends on. */
interface NofloLister {
  list(baseDir: string, options: ListOptions): Promise<ManifestModule[]>;
  listDependencies(baseDir: string, options: ListOptions): Promise<string[]>;
}

/** A graph file left out of the listing, and why. */
export interface SkippedGraph {
  readonly file: string;
  readonly reason: string;
}

/** What {@link listProject} found. */
export interface ProjectListing {
  readonly modules: ManifestModule[];
  readonly skipped: SkippedGraph[];
}

/** The lister NoFlo itself uses: fbp-manifest as installed for noflo. */
function nofloLister(): NofloLister {
  const fromNoflo = createRequire(require.resolve('noflo'));
  return fromNoflo('fbp-manifest/src/lib/runtimes/noflo') as NofloLister;
}

/** The `.json` files of `dir/graphs` that are not JSON. */
export async function malformedGraphs(dir: string): Promise<SkippedGraph[]> {
  const graphs = path.join(dir, 'graphs');
  let entries: string[];
  try {
    entries = await readdir(graphs);
  } catch {
    return []; // No graphs folder: nothing to be malformed.
  }
  const found: SkippedGraph[] = [];
  for (const entry of entries.filter((name) => path.extname(name) === '.json').sort()) {
    const file = path.join(graphs, entry);
    const reason = jsonProblem(await readFile(file, 'utf8').catch(() => '{}'));
    if (reason) {
      found.push({ file, reason });
    }
  }
  return found;
}

/**
 * List the NoFlo components and graphs of `basedir` and the packages it
 * depends on, in the order fbp-manifest does, leaving malformed graph files
 * out. Throws what fbp-manifest throws for any other failure.
 */
export async function listProject(basedir: string): Promise<ProjectListing> {
  const lister = nofloLister();
  const options: ListOptions = { runtimes: ['noflo'], root: basedir, subdirs: true, recursive: true };
  const skipped: SkippedGraph[] = [];

  const listPackage = async (dir: string): Promise<ManifestModule[]> => {
    try {
      return await lister.list(dir, options);
    } catch (cause) {
      const bad = cause instanceof SyntaxError ? await malformedGraphs(dir) : [];
      if (bad.length === 0) {
        throw cause;
      }
      skipped.push(...bad);
      return listMirror(lister, dir, basedir, options, new Set(bad.map((b) => path.basename(b.file))));
    }
  };
  const listTree = async (dir: string): Promise<ManifestModule[]> => {
    const modules = await listPackage(dir);
    for (const dependency of await lister.listDependencies(dir, options)) {
      modules.push(...(await listTree(dependency)));
    }
    return modules;
  };
  return { modules: await listTree(basedir), skipped };
}

/**
 * List package `dir` from a temporary mirror of it whose `graphs/` lacks
 * `leaveOut`, then point the paths back at the package itself.
 */
async function listMirror(lister: NofloLister, dir: string, basedir: string, options: ListOptions, leaveOut: ReadonlySet<string>): Promise<ManifestModule[]> {
  const mirror = await mkdtemp(path.join(os.tmpdir(), 'noflo-listing-'));
  try {
    const packageFile = path.join(dir, 'package.json');
    if (await exists(packageFile)) {
      await symlink(packageFile, path.join(mirror, 'package.json'));
    } else {
      // fbp-manifest names a package without package.json after its folder.
      await writeFile(path.join(mirror, 'package.json'), JSON.stringify({ name: path.basename(dir) }));
    }
    for (const folder of ['components', 'spec']) {
      if (await exists(path.join(dir, folder))) {
        await symlink(path.join(dir, folder), path.join(mirror, folder));
      }
    }
    await mkdir(path.join(mirror, 'graphs'));
    for (const entry of await readdir(path.join(dir, 'graphs'))) {
      if (!leaveOut.has(entry)) {
        await symlink(path.join(dir, 'graphs', entry), path.join(mirror, 'graphs', entry));
      }
    }
    const modules = await lister.list(mirror, { ...options, root: mirror });
    const back = (relative: string): string => path.relative(basedir, path.resolve(dir, relative));
    return modules.map((module) => ({
      ...module,
      base: back(module.base),
      components: module.components.map((component) => ({
        ...component,
        ...(component.path === undefined ? {} : { path: back(component.path) }),
        ...(component.source === undefined ? {} : { source: back(component.source) }),
        ...(component.tests === undefined ? {} : { tests: back(component.tests) }),
      })),
    }));
  } finally {
    await rm(mirror, { recursive: true, force: true }).catch((err: unknown) => debug('removing %s: %s', mirror, errorMessage(err)));
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
