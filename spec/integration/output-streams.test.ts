/**
 * Stdout carries only data, so it can be piped (`dump | jq`): dump's
 * messages, the JSON job lines of `--log-format json`. What the program says
 * about itself (which broker, what is running where, what was sent) is on
 * stderr. A reader that goes away (`| head -1`) costs the program its output,
 * nothing more.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { runCli, startCli } from '../harness/cli';
import { connectClient, uniqueRole } from '../harness/client';
import { brokerUrls, mqttUrl } from '../harness/env';
import { FIXTURES } from '../harness/participants';
import { eventually } from '../harness/wait';

/** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** The non-empty lines of `text`, each parsed as JSON (throws naming the line that is not). */
function jsonLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new Error(`a line on stdout is not JSON: ${JSON.stringify(line)}; stdout: ${text}`);
      }
    });
}

describe('stdout carries only data', () => {
  test('dump: every line on stdout is a message, and exactly the one sent', async (t) => {
    const url = mqttUrl();
    const queue = `${uniqueRole('streams')}.OUT`;
    const dump = startCli(t, ['dump', '--queue', queue, '--amount', '1', '--broker', url]);
    await dump.waitForStderr(new RegExp(`listening on ${queue}`));

    const message = { hello: 'world', n: [1, 2] };
    const sent = await runCli(t, ['send', '--queue', queue, '--json', JSON.stringify(message), '--broker', url]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout, '', 'send prints no data');
    assert.match(sent.stderr, new RegExp(`^published 27 bytes to ${queue} on mqtt:\\/\\/\\S+ \\(MQTT cannot tell whether anyone subscribes\\)$`, 'm'));

    const dumped = await dump.exited;
    assert.equal(dumped.code, 0, dumped.stderr);
    assert.deepEqual(jsonLines(dumped.stdout), [message]);
    assert.equal(dumped.stdout, `${JSON.stringify(message)}\n`);
  });

  test('dump with no broker configured says which broker it uses on stderr, not stdout', async (t) => {
    // No broker configured means 127.0.0.1:1883, where a broker may or may not
    // listen: either dump listens there (stopped here) or it fails to connect.
    const dump = startCli(t, ['dump', '--queue', `${uniqueRole('streams')}.OUT`, '--amount', '1']);
    await dump.waitForStderr(/^no broker configured: using the MQTT broker on mqtt:\/\/127\.0\.0\.1:1883$/m);
    await eventually(() => dump.stderr.includes('listening on') || dump.child.exitCode !== null, () => `dump to listen or give up; stderr: ${dump.stderr}`, 15_000);
    const listening = dump.child.exitCode === null;
    if (listening) {
      dump.child.kill('SIGTERM');
    }
    const result = await dump.exited;
    if (listening) {
      assert.equal(result.code, 0, result.stderr);
    } else {
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /cannot connect to MQTT broker mqtt:\/\/127\.0\.0\.1:1883/);
    }
    assert.equal(result.stdout, '', 'nothing on stdout: no message arrived');
    assert.equal(result.stderr.match(/no broker configured/g)?.length, 1);
  });

  for (const broker of brokerUrls()) {
    test(`a participant with --log-format json on ${broker.kind}: stdout is its JSON job lines only`, async (t) => {
      const role = uniqueRole('streams');
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      const runtime = startCli(t, ['--name', role, '--graph', 'core/Repeat', '--broker', broker.url, '--log-format', 'json', '--http-port', '0']);
      await runtime.waitForStderr(/is running on/);
      const out = await peer.listen(`${role}.OUT`);
      await peer.send(`${role}.IN`, '{"x": 1}');
      assert.deepEqual(await out.waitFor(1), [{ x: 1 }]);
      await runtime.waitForStdout(/"event":"job"/);
      runtime.child.kill('SIGTERM');
      const result = await runtime.exited;
      assert.equal(result.code, 0, result.stderr);

      const lines = jsonLines(result.stdout) as Array<Record<string, unknown>>;
      const jobs = lines.filter((line) => line.event === 'job');
      assert.equal(jobs.length, 1, `one job line; stdout: ${result.stdout}`);
      assert.equal(jobs[0]?.role, role);
      assert.equal(jobs[0]?.port, 'in');
      assert.equal(jobs[0]?.outcome, 'ack');
      assert.match(result.stderr, new RegExp(`^${role}-[0-9a-f-]+ \\(core/Repeat\\) is running on ${broker.kind}://`, 'm'));
      assert.match(result.stderr, /^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/m);
      assert.match(result.stderr, /^SIGTERM: finishing 0 jobs in flight, then stopping$/m);
    });
  }
});

describe('a reader that goes away', () => {
  test('stdout and stderr closed (EPIPE): the participant works on silently, without spinning, and stops on SIGTERM', async (t) => {
    const url = mqttUrl();
    const role = uniqueRole('epipe');
    const peer = await connectClient('mqtt', url);
    t.after(() => peer.close());
    const runtime = startCli(t, ['--name', role, '--graph', 'fixtures/Throw', '--basedir', FIXTURES, '--broker', url, '--log-format', 'json', '--drain-timeout', '5']);
    await runtime.waitForStderr(/is running on/);
    const pid = runtime.child.pid as number;
    // As `2>&1 | head -1` does once it has its line.
    runtime.child.stdout?.destroy();
    runtime.child.stderr?.destroy();

    const out = await peer.listen(`${role}.OUT`);
    const before = await cpuSeconds(pid);
    const started = Date.now();
    let sent = 0;
    // Failing jobs: a warning on stderr and a JSON line on stdout each, both written to a closed pipe.
    while (Date.now() - started < 3000) {
      await peer.send(`${role}.IN`, JSON.stringify({ fail: `failure ${sent}` }));
      sent += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await peer.send(`${role}.IN`, '"still working"');
    assert.deepEqual(await out.waitFor(1), ['still working'], 'jobs still run');
    const used = (await cpuSeconds(pid)) - before;
    const elapsed = (Date.now() - started) / 1000;
    t.diagnostic(`${used.toFixed(2)} s of CPU in ${elapsed.toFixed(1)} s, for ${sent} failing jobs`);
    // Writing error reports about write errors in a loop takes a core; the jobs take a fraction of that.
    assert.ok(used < 1, `${used.toFixed(2)} s of CPU in ${elapsed.toFixed(1)} s, for ${sent} failing jobs`);

    const stopping = Date.now();
    runtime.child.kill('SIGTERM');
    const exit = await Promise.race([runtime.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000))]);
    const stopTime = Date.now() - stopping;
    assert.ok(exit, `still running ${stopTime} ms after SIGTERM`);
    assert.equal(exit.code, 0);
    assert.ok(stopTime < 5000, `stopped in ${stopTime} ms, within the drain timeout (5 s)`);
  });
});
