// Loaded (--require) into every program's worker thread by noderunner.js: counts what the program writes to
// stdout and stderr, forwards only the first bytes the harness keeps, and ends the program once the total passes
// the output limit, so a flood of output never piles up in the worker's heap (docs/sandbox.md).
'use strict';
const { workerData, isMainThread } = require('worker_threads');
const spark = !isMainThread && workerData && workerData.sparkOutput;
if (spark) {
  const { counters, keep, kill } = spark;
  for (const stream of [process.stdout, process.stderr]) {
    let forwarded = 0;
    const write = stream.write.bind(stream);
    stream.write = function (chunk, encoding, callback) {
      const n = typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding : 'utf8') : (chunk && chunk.length) || 0;
      counters[0] += n;
      if (counters[0] > kill) {
        counters[1] = 1;
        process.exit(1);
      }
      if (forwarded < keep) {
        forwarded += n;
        return write(chunk, encoding, callback);
      }
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') process.nextTick(done);
      return true;
    };
  }
}
