/**
 * The command line's wording helpers: counts, the nearest command, option help.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Option } from 'commander';
import { commanderError, describeOption, nearest } from '../../src/cli/help';
import { counted } from '../../src/cli/output';

describe('counted', () => {
  test('is singular for one, plural otherwise', () => {
    assert.deepEqual([0, 1, 2].map((n) => counted(n, 'job')), ['0 jobs', '1 job', '2 jobs']);
    assert.equal(counted(1, 'binding'), '1 binding');
    assert.equal(counted(3, 'IIP'), '3 IIPs');
    assert.equal(counted(2, 'child', 'children'), '2 children');
  });
});

describe('nearest', () => {
  const commands = ['setup', 'coordinator', 'status', 'procfile', 'send', 'dump', 'version', 'help'];
  test('finds a slip of the keyboard', () => {
    assert.equal(nearest('sned', commands), 'send');
    assert.equal(nearest('stauts', commands), 'status');
    assert.equal(nearest('dupm', commands), 'dump');
    assert.equal(nearest('cordinator', commands), 'coordinator');
    assert.equal(nearest('SETUP', commands), 'setup');
  });
  test('suggests nothing for a word far from every command', () => {
    assert.equal(nearest('frobnicate', commands), undefined);
    assert.equal(nearest('x', commands), undefined);
  });
});

describe('describeOption', () => {
  test('shows defaults and choices unquoted', () => {
    assert.equal(describeOption(new Option('--log-format <format>', 'format').choices(['text', 'json']).default('text')), 'format (choices: text, json, default: text)');
    assert.equal(describeOption(new Option('--prefetch <n>', 'jobs').default('1')), 'jobs (default: 1)');
    assert.equal(describeOption(new Option('--shell [shell]', 'shell').preset('sh')), 'shell (preset: sh)');
    assert.equal(describeOption(new Option('--trace', 'trace')), 'trace');
  });
});

describe('commanderError', () => {
  test("puts the program's name first and keeps a suggestion on the line", () => {
    assert.equal(commanderError("error: unknown option '--nmae'\n(Did you mean --name?)\n"), "noflo-runtime-msgflo: unknown option '--nmae' (did you mean --name?)\n");
    assert.equal(commanderError("error: missing required argument 'graph'\n"), "noflo-runtime-msgflo: missing required argument 'graph'\n");
  });
});
