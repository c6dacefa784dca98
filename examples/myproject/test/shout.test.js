const assert = require('node:assert/strict');
const { test } = require('node:test');
const { createTransport, startParticipant } = require('noflo-runtime-msgflo');

test('myproject/Shout upper-cases what it gets', { timeout: 10000 }, async (t) => {
  // memory://NAME: an in-process broker, shared by every transport of that name.
  const broker = 'memory://shout-test';
  const participant = await startParticipant({ name: 'shout', graph: 'myproject/Shout', broker });
  t.after(() => participant.stop());
  const peer = createTransport(broker);
  await peer.connect();
  t.after(() => peer.close());

  const received = [];
  await peer.tap('shout.OUT', (data) => received.push(data));
  await peer.send('inqueue', 'shout.IN', 'hello');

  while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(received, ['HELLO']);
});
