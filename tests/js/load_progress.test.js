// The loading bar's reports (runtime/load_progress.js): the overall fraction over the loader's
// stages, the texts, and the download speed and time left, on a fake clock. No GPU.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test, mock } from 'node:test';

import { progressReporter } from '../../runtime/load_progress.js';

const MB = 1e6;
let now; // the fake performance.now(), in milliseconds

beforeEach(() => {
  now = 1000;
  mock.method(performance, 'now', () => now);
});
afterEach(() => mock.restoreAll());

function reporter() {
  const reports = [];
  return { report: progressReporter((report) => reports.push(report)), reports };
}

describe('load progress', () => {
  test('each stage fills its share of the bar; progress never goes back; 1 means ready', () => {
    const { report, reports } = reporter();
    report({ stage: 'manifest', loaded: 0, total: 1 });
    report({ stage: 'weights', loaded: 0, total: 100 * MB, fromCache: 0 });
    report({ stage: 'weights', loaded: 50 * MB, total: 100 * MB, fromCache: 50 * MB });
    report({ stage: 'weights', loaded: 100 * MB, total: 100 * MB, fromCache: 100 * MB });
    report({ stage: 'pipelines', loaded: 0, total: 10 });
    report({ stage: 'pipelines', loaded: 10, total: 10 });
    report({ stage: 'tuning', loaded: 0, total: 4 });
    report({ stage: 'tuning', loaded: 2, total: 4 });
    now += 2500;
    report({ stage: 'ready', loaded: 100 * MB, total: 100 * MB });
    const progress = reports.map((r) => Number(r.progress.toFixed(3)));
    assert.deepEqual(progress, [0, 0.01, 0.47, 0.93, 0.93, 0.97, 0.97, 0.98, 1]);
    assert.deepEqual(reports.map((r) => r.stage),
                     ['manifest', 'weights', 'weights', 'weights', 'pipelines', 'pipelines', 'tuning', 'tuning', 'ready']);
    assert.equal(reports[0].text, 'Reading the model manifest');
    assert.equal(reports[5].text, 'Compiling GPU kernels: 10 of 10');
    assert.equal(reports[7].text, 'Tuning GPU kernels for this device: 2 of 4');
    assert.equal(reports.at(-1).text, 'Ready (loaded in 2.5 s)');
    assert.equal(reports.at(-1).timeElapsed, 2.5);
    assert.equal(reports.filter((r) => r.progress === 1).length, 1);
  });

  test('a stage it does not know keeps the bar where it is', () => {
    const { report, reports } = reporter();
    report({ stage: 'weights', loaded: 10 * MB, total: 20 * MB, fromCache: 10 * MB });
    report({ stage: 'warming', loaded: 3, total: 4 });
    assert.equal(reports[1].progress, reports[0].progress);
    assert.equal(reports[1].text, 'Loading (warming)');
  });

  test('without a callback nothing is reported', () => {
    assert.doesNotThrow(() => progressReporter(undefined)({ stage: 'manifest', loaded: 0, total: 1 }));
  });
});

describe('weights text', () => {
  test('says whether the weights come from the cache', () => {
    const { report, reports } = reporter();
    report({ stage: 'weights', loaded: 0, total: 90 * MB, fromCache: 0 });
    report({ stage: 'weights', loaded: 45 * MB, total: 90 * MB, fromCache: 45 * MB });
    assert.equal(reports[0].text, 'Loading weights: 0.0 of 90.0 MB');
    assert.equal(reports[1].text, 'Loading weights from the cache: 45.0 of 90.0 MB');
    assert.equal(reports[1].fromCache, 45 * MB);
    assert.equal(reports[1].bytesPerSecond, null);
  });

  test('gives the download speed and time left once there is half a second to measure', () => {
    const { report, reports } = reporter();
    report({ stage: 'weights', loaded: 0, total: 100 * MB, fromCache: 0 });
    now += 200;
    report({ stage: 'weights', loaded: 4 * MB, total: 100 * MB, fromCache: 0 });
    now += 1800;
    report({ stage: 'weights', loaded: 20 * MB, total: 100 * MB, fromCache: 0 });
    assert.equal(reports[1].text, 'Downloading weights: 4.0 of 100.0 MB');
    assert.equal(reports[1].secondsLeft, null);
    assert.equal(reports[2].bytesPerSecond, 10 * MB); // 20 MB in the 2 s since the download was asked for
    assert.equal(reports[2].secondsLeft, 8);
    assert.equal(reports[2].text, 'Downloading weights: 20.0 of 100.0 MB, 10.0 MB/s, 8 s left');
  });

  test('counts only the bytes that came from the network, from when they were asked for', () => {
    const { report, reports } = reporter();
    report({ stage: 'weights', loaded: 0, total: 100 * MB, fromCache: 0 });
    now += 100;
    report({ stage: 'weights', loaded: 60 * MB, total: 100 * MB, fromCache: 60 * MB }); // cached shards: at once
    now += 4000;
    report({ stage: 'weights', loaded: 80 * MB, total: 100 * MB, fromCache: 60 * MB });
    assert.equal(reports[2].bytesPerSecond, 5 * MB); // 20 MB downloaded in 4 s
    assert.equal(reports[2].secondsLeft, 4);
    assert.match(reports[2].text, /^Downloading weights: 80\.0 of 100\.0 MB, 5\.0 MB\/s, 4 s left$/);
  });
});
