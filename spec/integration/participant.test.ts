/**
 * A participant on real RabbitMQ and real Mosquitto: the same scenarios on both.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { brokerUrls } from '../harness/env';
import { connectClient, uniqueRole, type TestClient } from '../harness/client';
import { assertFbpMessages } from '../harness/fbp-schema';
import { startParticipant } from '../harness/participants';
import { eventually } from '../harness/wait';

for (const broker of brokerUrls()) {
  describe(`participant on ${broker.kind}`, () => {
    const client = async (t: TestContext): Promise<TestClient> => {
      const peer = await connectClient(broker.kind, broker.url);
      t.after(() => peer.close());
      return peer;
    };

    test('announces its definition on fbp, with NoFlo port types, and re-announces', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      const announced = await peer.discovery(role);
      const participant = await startParticipant(t, broker.url, { name: role, graph: 'fixtures/Prefix', discoveryPeriod: 0.5 });
      const [first, second] = (await announced.waitFor(2, 5000)) as Array<Record<string, unknown>>;
      assert.deepEqual(first?.payload, second?.payload);
      assert.ok(typeof first?.time === 'number' && typeof second?.time === 'number' && second.time > first.time, 'each says when it was sent');
      assert.equal(first?.protocol, 'discovery');
      assert.equal(first?.command, 'participant');
      assert.deepEqual(first?.payload, {
        id: participant.definition.id,
        role,
        component: 'fixtures/Prefix',
        label: 'Prefix strings',
        icon: 'font',
        inports: [
          { id: 'in', type: 'string', description: 'Text to prefix', queue: `${role}.IN` },
          { id: 'prefix', type: 'string', description: 'Prefix', queue: `${role}.PREFIX` },
        ],
        outports: [{ id: 'out', type: 'string', description: 'Prefixed text', queue: `${role}.OUT` }],
        type: 'noflo-nodejs',
        version: '0.7',
        inqueue: `.fbp.${participant.definition.id}.receive`,
        outqueue: `.fbp.${participant.definition.id}.send`,
        started: participant.definition.started,
      });
      const started = participant.definition.started ?? 0;
      assert.ok(started <= Date.now() && started > Date.now() - 60_000, `started is when it started: ${started}`);
      assert.match(participant.definition.id, new RegExp(`^${role}-[0-9a-f-]{36}$`));
    });

    test('speaks the FBP runtime protocol, read-only, over its .fbp queue pair', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      const participant = await startParticipant(t, broker.url, { name: role, graph: 'fixtures/Prefixed', trace: true });
      const { inqueue, outqueue } = participant.definition;
      const replies = await peer.listen(outqueue as string);
      const ask = async (message: unknown, count: number): Promise<Array<Record<string, unknown>>> => {
        const before = replies.bodies.length;
        await peer.send(inqueue as string, JSON.stringify(message));
        await replies.waitFor(before + count);
        return (replies.messages as Array<Record<string, unknown>>).slice(before);
      };
      const [runtime] = await ask({ protocol: 'runtime', command: 'getruntime', payload: { secret: 'do not echo' }, requestId: 'r1' }, 1);
      assert.equal(runtime?.command, 'runtime');
      assert.equal(runtime?.responseTo, 'r1');
      assert.deepEqual(
        { ...(runtime?.payload as Record<string, unknown>), capabilities: undefined, allCapabilities: undefined },
        { id: participant.definition.id, label: role, type: 'noflo-nodejs', version: '0.7', graph: 'fixtures/Prefixed', capabilities: undefined, allCapabilities: undefined },
      );
      assert.doesNotMatch(JSON.stringify(runtime), /do not echo/);
      const [source] = await ask({ protocol: 'component', command: 'getsource', payload: { name: 'fixtures/Prefixed' } }, 1);
      assert.equal(source?.command, 'source');
      const code = JSON.parse((source?.payload as { code: string }).code) as { processes: Record<string, { component: string }> };
      assert.equal(code.processes.prefix?.component, 'fixtures/Prefix');
      const [status] = await ask({ protocol: 'network', command: 'getstatus', payload: { graph: 'fixtures/Prefixed' } }, 1);
      assert.deepEqual(status?.payload, { graph: 'fixtures/Prefixed', started: true, running: true });
      const [dump] = await ask({ protocol: 'trace', command: 'dump', payload: { graph: 'fixtures/Prefixed' } }, 1);
      assert.equal(dump?.command, 'dump');
      assert.match((dump?.payload as { flowtrace: string }).flowtrace, /"events"/);
      const [refused] = await ask({ protocol: 'graph', command: 'addnode', payload: { id: 'x', component: 'core/Repeat', graph: 'fixtures/Prefixed' } }, 1);
      assert.equal(refused?.command, 'error');
      assert.match(String((refused?.payload as { message: string }).message), /graph:addnode is not supported/);
      assertFbpMessages(replies.messages);
    });

    test('announces only the seven keys every MsgFlo participant sends with --attr discovery.extra=false, and still serves its queue pair', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      const announced = await peer.discovery(role);
      const participant = await startParticipant(t, broker.url, { name: role, graph: 'core/Repeat', discoveryPeriod: 0.5, attr: ['discovery.extra=false'] });
      const messages = (await announced.waitFor(2, 5000)) as Array<Record<string, unknown>>;
      for (const message of messages) {
        assert.deepEqual(Object.keys(message).sort(), ['command', 'payload', 'protocol'], 'no time either');
        assert.deepEqual(Object.keys(message.payload as object).sort(), ['component', 'icon', 'id', 'inports', 'label', 'outports', 'role']);
      }
      const payload = messages[0]?.payload as Record<string, unknown>;
      assert.equal(payload.id, participant.definition.id);
      assert.equal(payload.component, 'core/Repeat');
      assert.equal(typeof payload.label, 'string');
      assert.equal(typeof payload.icon, 'string');
      assert.deepEqual((payload.inports as Array<{ queue: string }>).map((p) => p.queue), [`${role}.IN`]);

      // The pair is not announced any more, but is where it always is.
      const id = participant.definition.id;
      const replies = await peer.listen(`.fbp.${id}.send`);
      await peer.send(`.fbp.${id}.receive`, JSON.stringify({ protocol: 'runtime', command: 'getruntime', payload: {} }));
      const [runtime] = (await replies.waitFor(1)) as Array<{ command: string; payload: { id: string } }>;
      assert.equal(runtime?.command, 'runtime');
      assert.equal(runtime?.payload.id, id);
    });

    test('turns tracing on over the FBP protocol, without --trace, as the original did: trace:start, jobs, trace:dump, trace:stop, trace:clear', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      const participant = await startParticipant(t, broker.url, { name: role, graph: 'core/Repeat' });
      assert.equal(participant.tracing, false);
      const { inqueue, outqueue } = participant.definition;
      const replies = await peer.listen(outqueue as string);
      const ask = async (message: unknown): Promise<Record<string, unknown>> => {
        const before = replies.bodies.length;
        await peer.send(inqueue as string, JSON.stringify(message));
        await replies.waitFor(before + 1);
        const answers = (replies.messages as Array<Record<string, unknown>>).slice(before);
        assert.equal(answers.length, 1, `one answer to ${JSON.stringify(message)}: ${JSON.stringify(answers)}`);
        return answers[0] as Record<string, unknown>;
      };
      const out = await peer.listen(`${role}.OUT`);
      const job = async (n: number): Promise<void> => {
        const before = out.bodies.length;
        await peer.send(`${role}.IN`, JSON.stringify({ n }));
        await out.waitFor(before + 1);
      };
      const dataEvents = async (): Promise<unknown[]> => {
        const dump = await ask({ protocol: 'trace', command: 'dump', payload: { graph: 'default', type: 'flowtrace.json' } });
        assert.equal(`${String(dump.protocol)}:${String(dump.command)}`, 'trace:dump');
        const payload = dump.payload as { graph: string; type: string; flowtrace: string };
        assert.deepEqual(Object.keys(payload).sort(), ['flowtrace', 'graph', 'type']);
        assert.equal(payload.graph, 'core/Repeat');
        assert.equal(payload.type, 'flowtrace.json');
        const trace = JSON.parse(payload.flowtrace) as { header: { metadata: { label: string } }; events: Array<{ protocol: string; command: string; payload: { data?: unknown } }> };
        assert.equal(trace.header.metadata.label, role);
        return trace.events.filter((e) => e.protocol === 'network' && e.command === 'data').map((e) => e.payload.data);
      };

      await job(0);
      const start = await ask({ protocol: 'trace', command: 'start', payload: { graph: 'default' }, requestId: 't1' });
      assert.deepEqual(start, { protocol: 'trace', command: 'start', payload: { graph: 'core/Repeat', buffersize: 400 }, responseTo: 't1' });
      assert.equal(participant.tracing, true);
      await job(1);
      assert.deepEqual(await dataEvents(), [{ n: 1 }, { n: 1 }], 'the job in and out, not the one before the start');

      const stop = await ask({ protocol: 'trace', command: 'stop', payload: { graph: 'default' } });
      assert.deepEqual(stop, { protocol: 'trace', command: 'stop', payload: { graph: 'core/Repeat' } });
      assert.equal(participant.tracing, false);
      await job(2);
      assert.deepEqual(await dataEvents(), [{ n: 1 }, { n: 1 }], 'kept, and nothing of the job after the stop');

      const clear = await ask({ protocol: 'trace', command: 'clear', payload: { graph: 'default' } });
      assert.equal(clear.command, 'clear');
      assert.deepEqual(await dataEvents(), []);
      assertFbpMessages(replies.messages);
    });

    test('repeats a message through core/Repeat', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      await startParticipant(t, broker.url, { name: role, graph: 'core/Repeat' });
      const out = await peer.listen(`${role}.OUT`);
      await peer.send(`${role}.IN`, JSON.stringify({ hello: 'world', n: [1, 2] }));
      assert.deepEqual(await out.waitFor(1), [{ hello: 'world', n: [1, 2] }]);
    });

    test('uses queue names and hidden ports from graph metadata and options', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      const announced = await peer.discovery(role);
      const participant = await startParticipant(t, broker.url, {
        name: role,
        graph: 'fixtures/Pipeline',
        inports: { items: { queue: `${role}-items` } },
        attr: [`outports.passed.queue=${role}-passed`, 'outports.error.hidden=true'],
      });
      const definition = participant.definition;
      assert.deepEqual(definition.inports.map((p) => [p.id, p.queue, p.hidden]), [
        ['items', `${role}-items`, undefined],
        ['secret', undefined, true],
      ]);
      assert.deepEqual(definition.outports.map((p) => [p.id, p.queue, p.hidden]), [
        ['passed', `${role}-passed`, undefined],
        ['error', undefined, true],
      ]);
      const [message] = (await announced.waitFor(1)) as Array<{ payload: { inports: Array<{ id: string }>; outports: Array<{ id: string }> } }>;
      assert.deepEqual(message?.payload.inports.map((p) => p.id), ['items'], 'hidden ports are not announced');
      assert.deepEqual(message?.payload.outports.map((p) => p.id), ['passed']);

      const passed = await peer.listen(`${role}-passed`);
      await peer.send(`${role}-items`, JSON.stringify(['a']));
      assert.deepEqual(await passed.waitFor(1), ['a']);
    });

    test('publishes every output of a job that produces many', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      await startParticipant(t, broker.url, { name: role, graph: 'fixtures/Pipeline' });
      const passed = await peer.listen(`${role}.PASSED`);
      await peer.send('custom-items-queue', JSON.stringify([1, 'two', { three: 3 }, [4]]));
      assert.deepEqual(await passed.waitFor(4), [1, 'two', { three: 3 }, [4]]);
      assert.equal((await passed.settle()).length, 4);
    });

    test('sends a job that fails on the error port to the dead-letter queue', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      await startParticipant(t, broker.url, { name: role, graph: 'fixtures/Fail', deadletter: '*' });
      const dead = await peer.drain(`dead-${role}.IN`);
      const errors = await peer.listen(`${role}.ERROR`);
      await peer.send(`${role}.IN`, JSON.stringify({ fail: 'bad input' }));
      assert.deepEqual(await dead.waitFor(1), [{ fail: 'bad input' }]);
      assert.deepEqual(await errors.waitFor(1), [{ name: 'Error', message: 'bad input' }]);
      if (broker.kind === 'amqp') {
        assert.equal(dead.headers[0]?.['x-msgflo-error'], 'bad input', 'the dead letter says why');
        assert.equal(dead.headers[0]?.['x-msgflo-queue'], `${role}.IN`);
      }
    });

    test('dead-letters oversized and over-deep messages, and goes on', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      const participant = await startParticipant(t, broker.url, { name: role, graph: 'core/Repeat', deadletter: '*', maxMessageSize: 1000, maxDepth: 10 });
      const jobs: string[] = [];
      participant.on('job', (job) => jobs.push(job.reason ?? job.outcome));
      const out = await peer.listen(`${role}.OUT`);
      const dead = await peer.drain(`dead-${role}.IN`);
      const big = JSON.stringify('x'.repeat(2000));
      const deep = '['.repeat(20) + ']'.repeat(20);
      const shallow = '['.repeat(10) + '"[[[[[[[[[[[[[[[[["' + ']'.repeat(10);
      for (const body of [big, deep, shallow, '"fine"']) {
        await peer.send(`${role}.IN`, body);
      }
      assert.deepEqual(await dead.waitFor(2), [JSON.parse(big), JSON.parse(deep)]);
      assert.equal((await out.waitFor(2)).length, 2);
      assert.deepEqual(out.messages[1], 'fine');
      await eventually(() => jobs.length === 4, 'four jobs settled');
      assert.match(jobs[0] ?? '', /message too large: 2002 bytes, the limit is 1000/);
      assert.match(jobs[1] ?? '', /nested too deeply: more than 10 levels/);
      if (broker.kind === 'amqp') {
        assert.match(String(dead.headers[0]?.['x-msgflo-error']), /too large/);
      }
    });

    test('dead-letters a job that does not finish within --job-timeout, and goes on', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      const participant = await startParticipant(t, broker.url, { name: role, graph: 'fixtures/Throw', deadletter: '*', jobTimeout: 200 });
      const jobs: string[] = [];
      participant.on('job', (job) => jobs.push(job.reason ?? job.outcome));
      const out = await peer.listen(`${role}.OUT`);
      const dead = await peer.drain(`dead-${role}.IN`);
      await peer.send(`${role}.IN`, '{"hang": true}');
      await peer.send(`${role}.IN`, '"after"');
      assert.deepEqual(await dead.waitFor(1), [{ hang: true }]);
      assert.deepEqual(await out.waitFor(1), ['after']);
      await eventually(() => jobs.length === 2, 'both jobs settled');
      const timedOut = /^job timed out after 200 ms: no component finished it \(one that never calls output\.done\(\)\?\); held by component fixtures\/Throw$/;
      assert.equal(jobs.length, 2);
      assert.match(jobs[0] ?? '', timedOut);
      assert.equal(jobs[1], 'ack');
      if (broker.kind === 'amqp') {
        assert.match(String(dead.headers[0]?.['x-msgflo-error']), timedOut);
      }
    });

    test('replaces the graph\'s IIPs with --iips', async (t) => {
      const peer = await client(t);
      const own = uniqueRole();
      const overridden = uniqueRole();
      await startParticipant(t, broker.url, { name: own, graph: 'fixtures/Prefixed' });
      await startParticipant(t, broker.url, { name: overridden, graph: 'fixtures/Prefixed', iips: '{"prefix": "iip:"}' });
      const ownOut = await peer.listen(`${own}.OUT`);
      const overriddenOut = await peer.listen(`${overridden}.OUT`);
      await peer.send(`${own}.IN`, '"x"');
      await peer.send(`${overridden}.IN`, '"x"');
      assert.deepEqual(await ownOut.waitFor(1), ['graph:x']);
      assert.deepEqual(await overriddenOut.waitFor(1), ['iip:x']);
    });

    test('with prefetch 8, answers every input exactly once, passing or failing', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      const participant = await startParticipant(t, broker.url, { name: role, graph: 'fixtures/Fail', prefetch: 8, deadletter: '*' });
      const passed = await peer.listen(`${role}.OUT`);
      const dead = await peer.drain(`dead-${role}.IN`);
      const total = 60;
      const expectPassed: number[] = [];
      const expectFailed: string[] = [];
      for (let i = 0; i < total; i += 1) {
        if (i % 4 === 0) {
          expectFailed.push(`n${i}`);
          await peer.send(`${role}.IN`, JSON.stringify({ fail: `n${i}` }));
        } else {
          expectPassed.push(i);
          await peer.send(`${role}.IN`, JSON.stringify({ n: i, delay: (i * 7) % 25 }));
        }
      }
      const outputs = (await passed.waitFor(expectPassed.length, 20_000)) as Array<{ n: number }>;
      const failures = (await dead.waitFor(expectFailed.length, 20_000)) as Array<{ fail: string }>;
      await passed.settle(500);
      assert.deepEqual(passed.messages.length, expectPassed.length, 'no duplicate outputs');
      assert.deepEqual(dead.messages.length, expectFailed.length, 'no duplicate dead letters');
      assert.deepEqual(outputs.map((o) => o.n).sort((a, b) => a - b), expectPassed);
      assert.deepEqual(failures.map((f) => f.fail).sort(), expectFailed.sort());
      assert.equal(participant.jobsInFlight, 0);
    });

    test('treats falsy and non-JSON payloads as jobs like any other', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      await startParticipant(t, broker.url, { name: role, graph: 'core/Repeat' });
      const out = await peer.listen(`${role}.OUT`);
      for (const body of ['0', 'false', '""', 'null', 'not json {', '']) {
        await peer.send(`${role}.IN`, body);
      }
      assert.deepEqual(await out.waitFor(6), [0, false, '', null, 'not json {', '']);
      assert.deepEqual(out.bodies, ['0', 'false', '""', 'null', '"not json {"', '""']);
    });

    test('acks a job that completes without any output', async (t) => {
      const peer = await client(t);
      const role = uniqueRole();
      const participant = await startParticipant(t, broker.url, { name: role, graph: 'fixtures/Sink', prefetch: 1 });
      const jobs: string[] = [];
      participant.on('job', (job) => jobs.push(job.outcome));
      for (let i = 0; i < 5; i += 1) {
        await peer.send(`${role}.IN`, String(i));
      }
      await eventually(() => jobs.length === 5, () => `5 jobs settled, got ${jobs.join()}; with prefetch 1, a stalled job would hold back the rest`, 5000);
      assert.deepEqual(jobs, ['ack', 'ack', 'ack', 'ack', 'ack'], 'with prefetch 1, a stalled job would hold back the rest');
    });

    for (const graph of ['graphs/Prefixed.fbp', 'fixtures/Prefixed']) {
      test(`loads a graph given as ${graph.endsWith('.fbp') ? 'a file' : 'a name'} (${graph})`, async (t) => {
        const peer = await client(t);
        const role = uniqueRole();
        const participant = await startParticipant(t, broker.url, { name: role, graph });
        assert.equal(participant.definition.component, graph);
        const out = await peer.listen(`${role}.OUT`);
        await peer.send(`${role}.IN`, '"y"');
        assert.deepEqual(await out.waitFor(1), ['graph:y']);
      });
    }
  });
}
