/**
 * Which repository paths a piece of documentation names, and which of them
 * are missing: relative links and image sources of Markdown (with the anchor
 * of a link into a Markdown file), and the paths in code spans and code
 * blocks, or in any plain text such as `--help` output.
 *
 * A word is taken for a repository path when it starts with a top-level
 * directory of the repository (`graphs/Repeat.fbp`, `spec/fixtures/...`,
 * `./bin/noflo-runtime-msgflo`) or is a top-level file (`package.json`);
 * anything else (`FILE.json`, `myproject/Greet`, `core/Repeat`, `/etc/x`,
 * `participants/worker.py`) is a placeholder or a name, and is left alone.
 * `dist/X.js` is built from `X.ts`, and is checked as that source.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Top-level entries that are not the repository's own: installed, built or written by the tests. */
const NOT_REPOSITORY = new Set(['.git', 'node_modules', 'dist', '.test-output']);

/** Top-level directories that documentation may name before they exist on every branch. */
const KNOWN_DIRECTORIES = ['bin', 'src', 'spec', 'docs', 'examples', 'graphs', 'components', 'bench', '.ci'];

/** What splits words in code and help text: blanks, quotes, brackets and separators. */
const WORD_SEPARATORS = /[\s"'`(){}[\],;=<>|:*]+/;

/** One thing a document names that is not in the repository. */
export interface MissingPath {
  /** The document, relative to the repository. */
  readonly document: string;
  /** The path or link as written. */
  readonly written: string;
  /** Why it does not resolve: `no such file`, or `no heading "x" in docs/y.md`. */
  readonly reason: string;
}

/** The repository's layout: its top-level directories and files. */
export interface RepositoryLayout {
  readonly root: string;
  readonly directories: ReadonlySet<string>;
  readonly files: ReadonlySet<string>;
}

/** Read the top-level entries of the repository at `root`. */
export function repositoryLayout(root: string): RepositoryLayout {
  const directories = new Set(KNOWN_DIRECTORIES);
  const files = new Set<string>();
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (NOT_REPOSITORY.has(entry.name)) {
      continue;
    }
    (entry.isDirectory() ? directories : files).add(entry.name);
  }
  return { root, directories, files };
}

/**
 * A heading's anchor as GitHub makes it: lower case, punctuation dropped,
 * each blank a hyphen (`The coordinator's page` is `the-coordinators-page`).
 */
export function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The text of a Markdown document outside its fenced code blocks, and the blocks' contents apart. */
export function splitFences(markdown: string): { prose: string; blocks: string[] } {
  const prose: string[] = [];
  const blocks: string[] = [];
  let block: string[] | undefined;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) {
      if (block === undefined) {
        block = [];
      } else {
        blocks.push(block.join('\n'));
        block = undefined;
      }
    } else if (block === undefined) {
      prose.push(line);
    } else {
      block.push(line);
    }
  }
  return { prose: prose.join('\n'), blocks };
}

/** The anchors of a Markdown document's headings (GitHub's `-1`, `-2` for repeats included). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of splitFences(markdown).prose.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const anchor = githubAnchor(match[1] ?? '');
    const count = seen.get(anchor) ?? 0;
    anchors.add(count === 0 ? anchor : `${anchor}-${count}`);
    seen.set(anchor, count + 1);
  }
  return anchors;
}

/** Link targets and image sources of Markdown prose: `[..](target)`, `![..](src)`, `<img src="..">`. */
export function linkTargets(prose: string): string[] {
  const targets = [...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1] ?? '');
  const images = [...prose.matchAll(/<img\s[^>]*src="([^"]+)"/g)].map((match) => match[1] ?? '');
  return [...targets, ...images];
}

/** The contents of the code spans of Markdown prose. */
export function codeSpans(prose: string): string[] {
  return [...prose.matchAll(/(`+)([^`]+?)\1/g)].map((match) => match[2] ?? '');
}

/**
 * The words of `text` that name repository paths (see the module's rule),
 * as written, without a leading `./` or a sentence's trailing full stop.
 */
export function repositoryPaths(text: string, layout: RepositoryLayout): string[] {
  const paths: string[] = [];
  for (const raw of text.split(WORD_SEPARATORS)) {
    const word = raw.replace(/^\.\//, '').replace(/\.+$/, '');
    const top = word.split('/')[0] ?? '';
    if ((word.includes('/') && layout.directories.has(top)) || layout.files.has(word)) {
      paths.push(word);
    }
  }
  return paths;
}

/** Whether the repository has `written`, a path relative to its root (`dist/X.js` as `X.ts`). */
function inRepository(written: string, layout: RepositoryLayout): boolean {
  const source = written.replace(/^dist\/(.+)\.js$/, '$1.ts');
  return existsSync(path.join(layout.root, source));
}

/** Whether a link target is somewhere else than this repository (a URL, `mailto:`). */
function external(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/**
 * Check one link of `document` (relative to the root), whose own headings'
 * anchors are `own`: its file exists and its anchor is a heading there.
 */
function checkLink(document: string, own: ReadonlySet<string>, target: string, layout: RepositoryLayout): MissingPath | undefined {
  const [file = '', anchor] = target.split('#', 2);
  if (file === '') {
    return anchor === undefined || own.has(anchor) ? undefined : { document, written: target, reason: `no heading "${anchor}" in ${document}` };
  }
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(document), file));
  const absolute = path.join(layout.root, resolved);
  if (resolved.startsWith('..') || !existsSync(absolute)) {
    return { document, written: target, reason: `no such file ${resolved}` };
  }
  if (anchor !== undefined && resolved.endsWith('.md') && statSync(absolute).isFile()) {
    if (!headingAnchors(readFileSync(absolute, 'utf8')).has(anchor)) {
      return { document, written: target, reason: `no heading "${anchor}" in ${resolved}` };
    }
  }
  return undefined;
}

/**
 * A comment `<!-- paths: DIR -->` in a Markdown section says that the code of
 * the section, up to the next heading of its level or above, is run in DIR
 * (the walk-through of a user's project, kept in `examples/myproject`): its
 * paths are looked for there, then at the root.
 */
const PATHS_COMMENT = /^<!--\s*paths:\s*(\S+)\s*-->\s*$/;

/** `markdown` cut into parts, each with the directory its code runs in (undefined: the root). */
function partsByDirectory(markdown: string): Array<{ text: string; directory: string | undefined }> {
  const parts: Array<{ text: string; directory: string | undefined }> = [{ text: '', directory: undefined }];
  let level = 0;
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^(#{1,6})\s/.exec(line);
    const comment = fenced ? null : PATHS_COMMENT.exec(line.trim());
    const current = parts[parts.length - 1] as { text: string; directory: string | undefined };
    if (heading && current.directory !== undefined && (heading[1] ?? '').length <= level) {
      parts.push({ text: '', directory: undefined });
    } else if (comment) {
      level = Math.max(1, ...[...current.text.matchAll(/^(#{1,6})\s/gm)].slice(-1).map((m) => (m[1] ?? '').length));
      parts.push({ text: '', directory: comment[1] });
    }
    (parts[parts.length - 1] as { text: string }).text += `${line}\n`;
  }
  return parts;
}

/**
 * Everything `markdown`, the text of `document` (a path relative to the
 * repository's root), names that is not in the repository: links and images
 * (and their anchors), and repository paths in code spans and code blocks
 * (in a section marked `<!-- paths: DIR -->`, looked for in DIR first).
 */
export function missingInMarkdown(document: string, markdown: string, layout: RepositoryLayout): MissingPath[] {
  const own = headingAnchors(markdown);
  const missing: MissingPath[] = [];
  for (const part of partsByDirectory(markdown)) {
    const { prose, blocks } = splitFences(part.text);
    for (const target of linkTargets(prose)) {
      const problem = external(target) ? undefined : checkLink(document, own, target, layout);
      if (problem) {
        missing.push(problem);
      }
    }
    for (const code of [...codeSpans(prose), ...blocks]) {
      const inPart = missingInText(document, code, layout);
      missing.push(...(part.directory === undefined ? inPart : inPart.filter(({ written }) => !existsSync(path.join(layout.root, part.directory as string, written)))));
    }
  }
  return missing;
}

/** The repository paths `text` (code, or a command's help) names that the repository lacks. */
export function missingInText(document: string, text: string, layout: RepositoryLayout): MissingPath[] {
  return repositoryPaths(text, layout)
    .filter((written) => !inRepository(written, layout))
    .map((written) => ({ document, written, reason: 'no such file' }));
}

/** One line per missing path, for an assertion's message. */
export function describeMissing(missing: readonly MissingPath[]): string {
  return missing.map(({ document, written, reason }) => `${document}: ${written} (${reason})`).join('\n');
}
