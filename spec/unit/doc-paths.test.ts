/**
 * The documentation names only what the repository has: every repository
 * path in README.md and docs/*.md (links, images, code spans and blocks),
 * every anchor of a link into a Markdown file, and every repository path the
 * program's and each command's `--help` names. The rule that tells a
 * repository path from a placeholder is in ../harness/doc-paths.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { program } from '../../src/cli/main';
import { runCli } from '../harness/cli';
import { describeMissing, githubAnchor, headingAnchors, missingInMarkdown, missingInText, repositoryLayout, repositoryPaths } from '../harness/doc-paths';
import { REPO_ROOT } from '../harness/participants';

const layout = repositoryLayout(REPO_ROOT);

/** README.md and every docs/*.md, relative to the repository's root. */
function documents(): string[] {
  const docs = readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs.sort()];
}

describe('the rule', () => {
  test('makes anchors as GitHub does', () => {
    assert.equal(githubAnchor("The coordinator's page"), 'the-coordinators-page');
    assert.equal(githubAnchor('Operating it: metrics, health, logs and a picture'), 'operating-it-metrics-health-logs-and-a-picture');
    assert.equal(githubAnchor('`send` and `dump`'), 'send-and-dump');
    assert.deepEqual([...headingAnchors('# A\n```sh\n# not a heading\n```\n## A\n')], ['a', 'a-1']);
  });

  test('tells repository paths from placeholders', () => {
    const text = "run ./bin/noflo-runtime-msgflo --graph graphs/Repeat.fbp --participants FILE.json --graph myproject/Greet core/Repeat /etc/x '{\"graph\": \"spec/fixtures/graphs/Zip.fbp\"}' package.json.";
    assert.deepEqual(repositoryPaths(text, layout), ['bin/noflo-runtime-msgflo', 'graphs/Repeat.fbp', 'spec/fixtures/graphs/Zip.fbp', 'package.json']);
  });

  test('reports a missing path, a missing file and a missing anchor, and nothing that exists', () => {
    const markdown = [
      'See [ops](docs/operations.md#on-a-rabbitmq-cluster), [nope](docs/nope.md) and [a heading](docs/operations.md#no-such-heading).',
      'Run `graphs/Nope.fbp` or `graphs/Repeat.fbp`, a [site](https://example.org/x.md) and [here](#see).',
      '```sh',
      './bin/noflo-runtime-msgflo --graph spec/fixtures/graphs/Missing.fbp',
      '```',
      '## See',
    ].join('\n');
    const missing = missingInMarkdown('README.md', markdown, layout);
    assert.deepEqual(
      missing.map(({ written, reason }) => `${written}: ${reason}`),
      [
        'docs/nope.md: no such file docs/nope.md',
        'docs/operations.md#no-such-heading: no heading "no-such-heading" in docs/operations.md',
        'graphs/Nope.fbp: no such file',
        'spec/fixtures/graphs/Missing.fbp: no such file',
      ],
    );
  });

  test('looks for the paths of a section marked <!-- paths: DIR --> in DIR, up to the next heading of its level', () => {
    const markdown = [
      '## Your project',
      '<!-- paths: examples/myproject -->',
      '`graphs/Shout.fbp` and `graphs/Repeat.fbp`, `graphs/Nope.fbp`',
      '### Inside it still',
      '`graphs/Shout.fbp`',
      '## Another section',
      '`graphs/Shout.fbp`',
    ].join('\n');
    assert.deepEqual(
      missingInMarkdown('README.md', markdown, layout).map(({ written }) => written),
      ['graphs/Nope.fbp', 'graphs/Shout.fbp'],
    );
  });
});

describe('the documentation', () => {
  for (const document of documents()) {
    test(`${document} names only paths and headings that exist`, () => {
      const markdown = readFileSync(path.join(REPO_ROOT, document), 'utf8');
      const missing = missingInMarkdown(document, markdown, layout);
      assert.equal(missing.length, 0, `missing:\n${describeMissing(missing)}`);
    });
  }

  test('README.md links every docs/*.md page', () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    for (const document of documents().slice(1)) {
      assert.ok(readme.includes(`](${document}`), `README.md links ${document}`);
    }
  });
});

describe('the help', () => {
  /** The commands of the program, as it defines them (`help` aside). */
  const commands = program()
    .commands.map((command) => command.name())
    .filter((name) => name !== 'help');

  test('lists the commands', () => {
    assert.ok(commands.includes('setup') && commands.includes('send'), `commands: ${commands.join(', ')}`);
  });

  test('of the program and of every command names only files that exist', async (t) => {
    const calls = [['--help'], ...commands.map((name) => ['help', name])];
    const named: string[] = [];
    for (const args of calls) {
      const result = await runCli(t, args);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      named.push(...repositoryPaths(result.stdout, layout));
      const missing = missingInText(`noflo-runtime-msgflo ${args.join(' ')}`, result.stdout, layout);
      assert.equal(missing.length, 0, `missing:\n${describeMissing(missing)}`);
    }
    assert.ok(named.length > 0, 'the help names some repository file, so that this test checks something');
  });
});
