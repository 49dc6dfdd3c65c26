// Spark Eval's Node.js check driver (trusted): runs one graded program as the main module and, only when it ran to its
// natural end (docs/sandbox.md, "Pass evidence"), reports the harness's per-grade nonce as completion evidence.
//
// Two uses:
// - in a pooled runner's worker thread (noderunner.js): the nonce and the program's path come in workerData.sparkDriver
//   (deleted before the program runs); the evidence goes to the runner through a SharedArrayBuffer and a message;
// - one-shot: `node nodedriver.js prog.js` with the nonce as the first line on stdin; the evidence goes to stderr as
//   `<nonce>:ok`, which the harness looks for in the whole stream.
//
// A pass needs the evidence AND exit code 0. The evidence is given at the first 'beforeExit' after the main module was
// evaluated (node emits it only when the event loop ran dry, never on process.exit), provided that no uncaught error was
// seen, the program never called process.exit/reallyExit, and nothing the checks rely on was replaced (the assert module,
// Module._load/require, uncaught-error handlers). An explicit exit after the evidence turns the exit code into 70.
'use strict';
const fs = require('fs');
const path = require('path');
const util = require('util');
const Module = require('module');
const worker = require('worker_threads');

const writeSync = fs.writeSync;
let nonce = null;
let file = null;
let report = null;

if (!worker.isMainThread && worker.workerData && worker.workerData.sparkDriver) {
  const spark = worker.workerData.sparkDriver;
  nonce = spark.nonce;
  file = spark.file;
  const state = new Int32Array(spark.state);
  const post = worker.parentPort.postMessage.bind(worker.parentPort);
  // Nothing of the harness's channel stays reachable for the program.
  delete worker.workerData.sparkDriver;
  delete worker.workerData.sparkOutput;
  report = (status) => {
    Atomics.store(state, 0, status === 'ok' ? 1 : status === 'tampered' ? 2 : 3);
    try { post({ sparkEvidence: `${nonce}:${status}` }); } catch { /* the state above is what counts */ }
  };
} else {
  const buffer = Buffer.alloc(1);
  let line = '';
  while (line.length < 256) {
    let n = 0;
    try { n = fs.readSync(0, buffer, 0, 1, null); } catch { break; }
    if (n === 0 || buffer[0] === 10) break;
    line += String.fromCharCode(buffer[0]);
  }
  nonce = line.trim();
  file = path.resolve(process.argv[2]);
  process.argv.splice(1, 2, file);
  report = (status) => { try { writeSync(2, `\n${nonce}:${status}\n`); } catch { /* no evidence: not a pass */ } };
}

// What the hidden checks call: replacing any of it could make wrong code pass.
const guarded = [];
const watch = (label, object) => {
  if (object === null || object === undefined) return;
  for (const key of Reflect.ownKeys(object)) {
    const d = Object.getOwnPropertyDescriptor(object, key);
    if (d && 'value' in d) guarded.push([`${label}.${String(key)}`, object, key, d.value]);
  }
};
const assert = require('assert');
watch('assert', assert);
watch('assert.strict', assert.strict);
watch('assert/strict', require('assert/strict'));
watch('util', { isDeepStrictEqual: util.isDeepStrictEqual });
guarded.push(['Module._load', Module, '_load', Module._load], ['Module.prototype.require', Module.prototype, 'require', Module.prototype.require]);
const handlers = () => [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection'),
  typeof process.hasUncaughtExceptionCaptureCallback === 'function' && process.hasUncaughtExceptionCaptureCallback()].join();
const handlersBefore = handlers();
const tampered = () => {
  for (const [label, object, key, value] of guarded) {
    if (object[key] !== value) return label;
  }
  return handlers() !== handlersBefore ? 'the uncaught error handlers' : null;
};

let mainDone = false;
let failed = false;
let exitCalled = false;
let reported = false;
process.on('uncaughtExceptionMonitor', () => { failed = true; });
for (const name of ['exit', 'reallyExit']) {
  const original = process[name];
  if (typeof original !== 'function') continue;
  process[name] = function (code) {
    exitCalled = true;
    if (reported) {
      report('revoked');
      return original.call(process, 70);
    }
    return original.apply(process, arguments);
  };
}
process.on('beforeExit', () => {
  if (!mainDone || failed || exitCalled || reported) return;
  reported = true;
  const changed = tampered();
  if (changed !== null) {
    try { process.stderr.write(`spark-eval: the program replaced ${changed}, which the hidden checks rely on\n`); } catch { /* reported below */ }
  }
  report(changed === null ? 'ok' : 'tampered');
});

if (file.endsWith('.mjs')) {
  import(require('url').pathToFileURL(file).href).then(() => { mainDone = true; }, (e) => { setImmediate(() => { throw e; }); });
} else {
  Module._load(file, null, true);
  mainDone = true;
}
