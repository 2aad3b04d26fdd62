// Turns in call order (runtime/turn_queue.js), as the engine and the engine host use them.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TurnQueue } from '../../runtime/turn_queue.js';

const tick = () => new Promise((resolve) => { setImmediate(resolve); });

test('turns run one at a time, in the order they were asked for', async () => {
  const turns = new TurnQueue();
  const log = [];
  // Each turn takes a different time: a later, shorter one still waits for the earlier ones.
  const takeTurn = async (name, ticks) => {
    const release = await turns.acquire();
    log.push(`${name} starts`);
    for (let i = 0; i < ticks; i += 1) await tick();
    log.push(`${name} ends`);
    release();
  };
  await Promise.all([takeTurn('a', 3), takeTurn('b', 0), takeTurn('c', 1)]);
  assert.deepEqual(log, ['a starts', 'a ends', 'b starts', 'b ends', 'c starts', 'c ends']);
});

test('a turn waits until the one before it is released, however long that takes', async () => {
  const turns = new TurnQueue();
  const first = await turns.acquire();
  let secondStarted = false;
  const second = turns.acquire().then((release) => {
    secondStarted = true;
    return release;
  });
  for (let i = 0; i < 5; i += 1) await tick();
  assert.equal(secondStarted, false);
  first();
  (await second)();
  assert.equal(secondStarted, true);
  const third = await turns.acquire(); // free again once every turn has been released
  third();
});

test('a waiting turn hears the owners of the turns before it, at once and as each ends', async () => {
  const turns = new TurnQueue();
  const heard = { b: [], c: [] };
  const first = await turns.acquire({ owner: 'a', onWait: () => assert.fail('a never waits') });
  const second = turns.acquire({ owner: 'b', onWait: (owners) => heard.b.push(owners) });
  const third = turns.acquire({ onWait: (owners) => heard.c.push(owners) }); // no owner: null to others
  const fourth = turns.acquire({ owner: 'd' });
  assert.deepEqual(heard, { b: [['a']], c: [['a', 'b']] });
  first();
  first(); // a second release changes nothing
  (await second)();
  assert.deepEqual(heard, { b: [['a']], c: [['a', 'b'], ['b']] });
  (await third)();
  (await fourth)();
});

test('a waiting turn whose signal aborts is withdrawn at once; the turns after it move up', async () => {
  const turns = new TurnQueue();
  const heard = [];
  const first = await turns.acquire({ owner: 'a' });
  const stop = new AbortController();
  const second = turns.acquire({ owner: 'b', signal: stop.signal });
  const third = turns.acquire({ owner: 'c', onWait: (owners) => heard.push(owners) });
  stop.abort();
  assert.equal(await second, null, 'withdrawn, never started');
  assert.deepEqual(heard, [['a', 'b'], ['a']]);
  first();
  const release = await third;
  stop.abort(); // a signal that aborts after its turn came changes nothing
  release();
  assert.equal(await turns.acquire({ signal: AbortSignal.abort() }), null, 'an aborted signal never queues');
  (await turns.acquire())(); // the queue is free
});

test('a turn that has started keeps it when its signal aborts', async () => {
  const turns = new TurnQueue();
  const stop = new AbortController();
  const first = await turns.acquire({ signal: stop.signal });
  const second = turns.acquire();
  stop.abort();
  let secondStarted = false;
  second.then(() => { secondStarted = true; });
  await tick();
  assert.equal(secondStarted, false);
  first();
  (await second)();
});
