import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { collectBroker, configuredBroker } from '../../src/cli/broker';
import { BrokerError, BrokerUrlError, InvalidOptionError } from '../../src/errors';
import { parseManifest } from '../../src/host/manifest';
import { QueueInspector } from '../../src/ops/queue-depths';
import { brokerSetting, normalizeOptions } from '../../src/participant/options';
import { joinBrokerList, parseBrokerList, redactUrl } from '../../src/transport/url';

/** An assertion that `fn` throws `type` with a message matching `message` and free of `secret`. */
function assertRefused(fn: () => unknown, type: new (...args: never[]) => Error, message: RegExp, secret = 's3cret'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `a ${type.name}, got ${String(err)}`);
    assert.match(err.message, message);
    assert.ok(!err.message.includes(secret), `no password in: ${err.message}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

describe('broker URL lists', () => {
  test('a single URL is a list of one', () => {
    assert.deepEqual(parseBrokerList('amqp://guest:guest@127.0.0.1:5672'), { urls: ['amqp://guest:guest@127.0.0.1:5672'], protocol: 'amqp' });
  });

  test('splits at commas, ignoring blanks around them', () => {
    assert.deepEqual(parseBrokerList(' mqtt://a:1883 ,mqtt://b:1883,, '), { urls: ['mqtt://a:1883', 'mqtt://b:1883'], protocol: 'mqtt' });
  });

  test('a percent-encoded comma stays in its password', () => {
    const { urls } = parseBrokerList('amqp://u:pa%2Css@a,amqp://u:pa%2Css@b');
    assert.equal(urls.length, 2);
    assert.equal(decodeURIComponent(new URL(urls[0] as string).password), 'pa,ss');
  });

  test('names the position of a malformed URL, without its password', () => {
    assertRefused(
      () => parseBrokerList('amqp://u:s3cret@a:5672,amqp//u:s3cret@b,amqp://c'),
      BrokerUrlError,
      /^broker URL 2 of 3: invalid broker URL "amqp\/\/u:\*\*\*@b"/,
    );
    assertRefused(() => parseBrokerList('amqp://u:s3cret@a,redis://b'), BrokerUrlError, /^broker URL 2 of 2: unsupported broker URL scheme "redis:"/);
  });

  test('refuses a list that mixes protocols', () => {
    assertRefused(() => parseBrokerList('amqp://a,mqtt://b'), BrokerUrlError, /broker URL 2 of 2 "mqtt:\/\/b" is mqtt, the first is amqp/);
  });

  for (const empty of ['', ',', ' , ']) {
    test(`refuses an empty list ${JSON.stringify(empty)}`, () => {
      assertRefused(() => parseBrokerList(empty), BrokerUrlError, /no URL in it/);
    });
  }

  test('redactUrl masks every password of a list', () => {
    assert.equal(redactUrl('amqp://u:s3cret@a:5672,amqp://v:s3cret@b:5672'), 'amqp://u:***@a:5672,amqp://v:***@b:5672');
    assert.equal(redactUrl('amqp://u:s3cret@a,amqp//v:s3cret@b'), 'amqp://u:***@a,amqp//v:***@b');
    assert.equal(redactUrl('mqtt://a:1883'), 'mqtt://a:1883');
  });

  test('redactUrl masks a password that breaks the URL: an unencoded comma, a slash, an @', () => {
    // The comma cuts the password in two: neither half may show.
    assert.equal(redactUrl('amqp://u:s3c,ret@host'), 'amqp://u:***,***@host');
    assert.equal(redactUrl('amqp://u:s3c/ret@host'), 'amqp://u:***@host');
    assert.equal(redactUrl('mqtt://u:s3c@ret@host:1883'), 'mqtt://u:***@host:1883');
    assert.equal(redactUrl('amqp//guest:s3cret@127.0.0.1:2'), 'amqp//guest:***@127.0.0.1:2');
    for (const list of ['amqp://u:s3c,ret@host', 'amqp://a:b@h,amqp://u:s3c/ret@host']) {
      assertRefused(() => parseBrokerList(list), BrokerUrlError, /broker URL \d of 2/, 's3c');
      assertRefused(() => parseBrokerList(list), BrokerUrlError, /broker URL \d of 2/, 'ret');
    }
  });

  test('joinBrokerList joins repeats and arrays into one list', () => {
    assert.equal(joinBrokerList('amqp://a'), 'amqp://a');
    assert.equal(joinBrokerList(['amqp://a', 'amqp://b,amqp://c']), 'amqp://a,amqp://b,amqp://c');
  });
});

describe('--broker on the command line', () => {
  const parse = (...args: string[]): string | undefined =>
    new Command().exitOverride().option('-b, --broker <url>', 'broker', collectBroker).parse(args, { from: 'user' }).opts<{ broker?: string }>().broker;

  test('a repeated --broker adds to the list instead of replacing it', () => {
    assert.equal(parse('--broker', 'amqp://a', '-b', 'amqp://b', '--broker=amqp://c,amqp://d'), 'amqp://a,amqp://b,amqp://c,amqp://d');
    assert.equal(parse('--broker', 'amqp://a'), 'amqp://a');
    assert.equal(parse(), undefined);
  });

  test('the flag wins over the environment, and is checked', () => {
    const env = { MSGFLO_BROKER: 'mqtt://env', CLOUDAMQP_URL: 'amqp://cloud' };
    assert.equal(configuredBroker('amqp://a, amqp://b', env), 'amqp://a,amqp://b');
    assert.equal(configuredBroker(undefined, env), 'mqtt://env');
    assert.equal(configuredBroker(undefined, { CLOUDAMQP_URL: 'amqp://x:s3cret@a,amqp://x:s3cret@b' }), 'amqp://x:s3cret@a,amqp://x:s3cret@b');
    assert.equal(configuredBroker(undefined, { MSGFLO_BROKER: '' }), undefined, 'an empty variable is unset');
  });

  test('an empty --broker is refused, not taken for none', () => {
    assertRefused(() => configuredBroker('', { MSGFLO_BROKER: 'mqtt://env' }), BrokerUrlError, /^--broker: invalid broker URL list "": no URL in it/);
    assertRefused(() => configuredBroker(',', {}), BrokerUrlError, /^--broker: invalid broker URL list ",": no URL in it/);
  });

  test('a bad list names the flag or the variable, the position, and no password', () => {
    assertRefused(() => configuredBroker('amqp://u:s3cret@a,amqp//u:s3cret@b', {}), BrokerUrlError, /^--broker: broker URL 2 of 2: invalid broker URL "amqp\/\/u:\*\*\*@b"/);
    assertRefused(() => configuredBroker(undefined, { MSGFLO_BROKER: 'amqp://a,nope' }), BrokerUrlError, /^MSGFLO_BROKER: broker URL 2 of 2: invalid broker URL "nope"/);
    assertRefused(() => configuredBroker(undefined, { CLOUDAMQP_URL: ',' }), BrokerUrlError, /^CLOUDAMQP_URL: invalid broker URL list/);
  });
});

describe('participant options with a broker list', () => {
  const base = { name: 'r', graph: 'core/Repeat' };

  test('MSGFLO_BROKER and CLOUDAMQP_URL may hold a list', () => {
    assert.equal(normalizeOptions(base, { MSGFLO_BROKER: 'amqp://a,amqp://b' }).broker, 'amqp://a,amqp://b');
    assert.equal(normalizeOptions(base, { CLOUDAMQP_URL: 'amqps://a , amqps://b' }).broker, 'amqps://a,amqps://b');
    assert.equal(normalizeOptions({ ...base, broker: 'mqtt://a,mqtt://b' }, { MSGFLO_BROKER: 'amqp://env' }).broker, 'mqtt://a,mqtt://b');
  });

  test('a bad list stops the options, naming where it came from', () => {
    assertRefused(() => normalizeOptions(base, { MSGFLO_BROKER: 'amqp://u:s3cret@a,amqp//u:s3cret@b' }), BrokerUrlError, /^MSGFLO_BROKER: broker URL 2 of 2/);
    assertRefused(() => normalizeOptions({ ...base, attr: ['broker=,'] }, { MSGFLO_BROKER: 'amqp://env' }), BrokerUrlError, /^broker: invalid broker URL list ",": no URL in it/);
  });

  test('--attr broker= takes a list too', () => {
    assert.equal(normalizeOptions({ ...base, attr: ['broker=amqp://a,amqp://b'] }, {}).broker, 'amqp://a,amqp://b');
    assertRefused(() => normalizeOptions({ ...base, attr: ['broker=true'] }, {}), InvalidOptionError, /^invalid broker: expected a URL or a comma-separated list of URLs, got a boolean/);
  });

  test('brokerSetting refuses what is not a string, without showing it', () => {
    assertRefused(() => brokerSetting(['amqp://u:s3cret@a'], {}), InvalidOptionError, /got an array$/);
  });
});

describe('participants file with a broker list', () => {
  const file = 'p.json';

  test('takes a comma-separated string or an array of strings', () => {
    const [a, b] = parseManifest(
      [
        { name: 'a', graph: 'core/Repeat', broker: 'amqp://x:s3cret@a, amqp://x:s3cret@b' },
        { name: 'b', graph: 'core/Repeat', broker: ['amqp://a', 'amqp://b,amqp://c'] },
      ],
      file,
    );
    assert.equal(a?.broker, 'amqp://x:s3cret@a,amqp://x:s3cret@b');
    assert.equal(b?.broker, 'amqp://a,amqp://b,amqp://c');
  });

  test('leaves a participant without a broker to the defaults', () => {
    const [entry] = parseManifest([{ name: 'a', graph: 'core/Repeat' }], file);
    assert.equal(entry && 'broker' in entry, false);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['a number', 5672, /got a number$/],
    ['an empty array', [], /got an empty array$/],
    ['an array holding a number', ['amqp://a', 5672], /got an array whose item 2 is a number$/],
    ['an array holding null', [null], /got an array whose item 1 is null$/],
    ['an object', { url: 'amqp://x:s3cret@a' }, /got an object$/],
    ['true', true, /got a boolean$/],
  ];
  for (const [what, broker, message] of bad) {
    test(`refuses ${what} as broker, naming the file, the participant and the type`, () => {
      assertRefused(
        () => parseManifest([{ name: 'a', graph: 'g' }, { name: 'upper', graph: 'g', broker }], file),
        InvalidOptionError,
        new RegExp(`^participants file "p\\.json", entry 2 \\("upper"\\): "broker" must be a URL, a comma-separated list of URLs or an array of URLs, ${message.source.replace(/\$$/, '')}$`),
      );
    });
  }

  test('refuses a malformed URL in the list, by position, without its password', () => {
    assertRefused(
      () => parseManifest([{ name: 'upper', graph: 'g', broker: ['amqp://u:s3cret@a', 'amqp//u:s3cret@b'] }], file),
      BrokerUrlError,
      /^participants file "p\.json", entry 1 \("upper"\): "broker": broker URL 2 of 2: invalid broker URL "amqp\/\/u:\*\*\*@b"/,
    );
    assertRefused(() => parseManifest([{ name: 'upper', graph: 'g', broker: '' }], file), BrokerUrlError, /entry 1 \("upper"\): "broker": invalid broker URL list "": no URL in it/);
    assertRefused(() => parseManifest([{ name: 'upper', graph: 'g', broker: [''] }], file), BrokerUrlError, /no URL in it/);
  });
});

describe('queue depths over a broker list', () => {
  // Nothing listens on these loopback ports: each is refused at once.
  test('tries every node in turn; the error names the list, passwords masked', async () => {
    await assert.rejects(QueueInspector.connect(`amqp://127.0.0.1:1, amqp://u:s3cret@127.0.0.1:2`), (err: unknown) => {
      assert.ok(err instanceof BrokerError);
      assert.match(err.message, /^cannot connect to any of amqp:\/\/127\.0\.0\.1:1,amqp:\/\/u:\*\*\*@127\.0\.0\.1:2: .*ECONNREFUSED 127\.0\.0\.1:2/);
      assert.ok(!err.message.includes('s3cret'));
      return true;
    });
  });

  test('one URL is named alone', async () => {
    await assert.rejects(QueueInspector.connect('amqp://u:s3cret@127.0.0.1:1'), /^BrokerError: cannot connect to amqp:\/\/u:\*\*\*@127\.0\.0\.1:1: .*ECONNREFUSED/);
  });

  test('a bad list is refused before connecting', async () => {
    await assert.rejects(QueueInspector.connect('amqp://a,amqp//u:s3cret@b'), (err: unknown) => err instanceof BrokerUrlError && /broker URL 2 of 2/.test(err.message) && !err.message.includes('s3cret'));
  });
});
