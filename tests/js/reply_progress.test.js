// The line the page shows before a reply starts (runtime/ui/reply_progress.js), from the request
// progress reports of runtime/request_progress.js.
//
//   node --test tests/js/reply_progress.test.js

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { waitingReport } from '../../runtime/request_progress.js';
import { replyProgressText } from '../../runtime/ui/reply_progress.js';

test('waiting: for another tab, or for replies of this page', () => {
  assert.equal(replyProgressText({ stage: 'waiting', ahead: 1, otherTab: true }), 'Waiting for the reply in another tab to finish…');
  assert.equal(replyProgressText({ stage: 'waiting', ahead: 1, otherTab: false }), 'Waiting for the previous reply to finish…');
  assert.equal(replyProgressText({ stage: 'waiting', ahead: 3, otherTab: false }), 'Waiting for 3 earlier replies to finish…');
  assert.equal(replyProgressText({ stage: 'waiting', ahead: 2, otherTab: true }),
               'Waiting for 2 earlier replies to finish, some in other tabs…');
});

// engine_host.js's connections own the turns: one whose requests are all closed (its page went
// away, as a reload does, or stopped it) still holds its turn while the engine ends the step.
test('waiting for a reply that was given up: it is stopping, in whichever tab it was', () => {
  const [page, reloaded, other] = [{ openRequests: 0 }, { openRequests: 1 }, { openRequests: 1 }];
  const text = (owners, owner) => replyProgressText(waitingReport(owners, owner));
  assert.deepEqual(waitingReport([page], reloaded), { stage: 'waiting', ahead: 1, otherTab: true, stopping: 1 });
  assert.equal(text([page], reloaded), 'Waiting for the previous reply to stop…');
  assert.equal(text([other], reloaded), 'Waiting for the reply in another tab to finish…');
  assert.equal(text([page, other], reloaded), 'Waiting for 2 earlier replies to finish, some in other tabs…');
  assert.equal(text([null], null), 'Waiting for the previous reply to finish…', 'in-thread: no owners');
  assert.equal(replyProgressText({ stage: 'waiting', ahead: 1, otherTab: true }), 'Waiting for the reply in another tab to finish…',
               "an older site's service worker's report");
});

test('prefill: tokens read of the prompt, grouped the English way', () => {
  assert.equal(replyProgressText({ stage: 'prefill', done: 384, total: 1024 }), 'Reading your message… 384 of 1,024 tokens');
  assert.equal(replyProgressText({ stage: 'prefill', done: 0, total: 12 }), 'Reading your message… 0 of 12 tokens');
  assert.equal(replyProgressText({ stage: 'prefill', done: 12_800, total: 131_072 }), 'Reading your message… 12,800 of 131,072 tokens');
  // A base model's completion page calls the prompt "your text".
  assert.equal(replyProgressText({ stage: 'prefill', done: 0, total: 12 }, { input: 'your text' }), 'Reading your text… 0 of 12 tokens');
});

test('a stage this page does not know still says something plain', () => {
  assert.equal(replyProgressText({ stage: 'compiling' }), 'Preparing the reply…');
});
