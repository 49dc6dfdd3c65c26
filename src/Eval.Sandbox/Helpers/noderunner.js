// Pooled Node.js runner for the sandbox (docs/sandbox.md, "TypeScript: pooled node runner").
// Runs, inside its own bubblewrap sandbox and cgroups, one compiled program per request, each in a fresh
// worker thread (its own V8 isolate, heap limit, globals and module cache) whose working directory is the
// attempt's fresh directory. The harness judges CPU and wall time from outside, kills this whole process
// tree after any attempt that did not end normally, and reuses it only after one that passed.
//
// Protocol: one JSON request per stdin line, one JSON response per stdout line (this process's own stdout;
// a program's output is captured from its worker's streams and never reaches it).
//   first line read: a nonce chosen by the harness; every response starts with it, so a program (or a child
//   it spawns) that writes to this process's stdout cannot forge one.
//   request  {"id":1,"dir":"/sandbox/attempt-1","file":"prog.js","heapMb":448,"keep":65536,"kill":8388608,"evidence":"<per-grade nonce>"}
//   response {"nonce":"…","id":1,"exitCode":0,"stdout":"...","stderr":"...","outputBytes":12,"outputLimit":false,"dirty":[],"evidence":"<nonce>:ok"}
// The program runs under nodedriver.js (the worker's entry), which reports completion evidence with the per-grade nonce
// only when the program ran to its natural end (docs/sandbox.md, "Pass evidence").
// A program's stdout/stderr writes are counted and cut in its own thread (noderunner-preload.js), so a
// flood of output ends as output_limit instead of filling the worker's heap.
'use strict';
const { Worker } = require('worker_threads');
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const util = require('util');

const os = require('os');

let nonce = null;
const respond = (o) => process.stdout.write(JSON.stringify({ nonce, ...o }) + '\n');
const fdCount = () => fs.readdirSync('/proc/self/fd').length;
const preload = path.join(__dirname, 'noderunner-preload.js');
const driver = path.join(__dirname, 'nodedriver.js');

function capture(stream, state, key) {
  stream.on('data', (chunk) => {
    const room = state.keep - state[key].length;
    if (room > 0) state[key] = Buffer.concat([state[key], chunk.subarray(0, room)]);
  });
  return new Promise((resolve) => { stream.on('end', resolve); stream.on('close', resolve); stream.on('error', resolve); });
}

async function run(request) {
  process.chdir(request.dir);
  const fdsBefore = fdCount();
  const state = { keep: request.keep, out: Buffer.alloc(0), err: Buffer.alloc(0) };
  // [0]: bytes the program wrote to stdout + stderr; [1]: 1 when that passed the kill limit (set by the preload).
  const counters = new Float64Array(new SharedArrayBuffer(16));
  let error = null;
  // [0]: 0 no evidence, 1 ok, 2 tampered, 3 revoked (set by the driver; the program never holds this buffer).
  const evidenceState = new SharedArrayBuffer(4);
  let evidence = '';
  const worker = new Worker(driver, {
    argv: [],
    execArgv: ['--require', preload],
    workerData: {
      sparkOutput: { counters, keep: request.keep, kill: request.kill },
      sparkDriver: { nonce: String(request.evidence || ''), file: path.join(request.dir, request.file), state: evidenceState },
    },
    env: { ...process.env },
    stdin: true,
    stdout: true,
    stderr: true,
    trackUnmanagedFds: true,
    resourceLimits: { maxOldGenerationSizeMb: request.heapMb, stackSizeMb: 4 },
  });
  worker.stdin.end();
  const drained = Promise.all([capture(worker.stdout, state, 'out'), capture(worker.stderr, state, 'err')]);
  worker.on('error', (e) => { error = e; });
  worker.on('message', (m) => { if (m && typeof m.sparkEvidence === 'string' && evidence === '') evidence = m.sparkEvidence; });
  const exitCode = await new Promise((resolve) => worker.on('exit', resolve));
  await drained;
  let stderr = state.err.toString('utf8');
  if (error !== null) {
    // What node prints for an uncaught exception on its main thread: the stack, then the error's own fields.
    stderr += (stderr.length > 0 && !stderr.endsWith('\n') ? '\n' : '') + 'Uncaught ' + util.inspect(error, { depth: 2 }) + '\n';
  }
  // What a program may leave behind for the next one in this process: open files, files in /tmp. Any of it makes
  // the harness replace this runner instead of reusing it.
  const dirty = [];
  if (fdCount() > fdsBefore) dirty.push('open file descriptors');
  try { if (!request.dir.startsWith(os.tmpdir() + '/') && fs.readdirSync(os.tmpdir()).length > 0) dirty.push('files in ' + os.tmpdir()); } catch { /* no tmp */ }
  process.chdir('/');
  const reported = new Int32Array(evidenceState)[0];
  const expected = String(request.evidence || '');
  return {
    evidence: reported === 3 ? `${expected}:revoked` : reported === 2 ? `${expected}:tampered` : reported === 1 && (evidence === '' || evidence === `${expected}:ok`) ? `${expected}:ok` : '',
    id: request.id,
    exitCode: error !== null && exitCode === 0 ? 1 : exitCode,
    stdout: state.out.toString('utf8'),
    stderr,
    outputBytes: counters[0],
    outputLimit: counters[1] === 1,
    dirty,
  };
}

let queue = Promise.resolve();
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  if (line.trim().length === 0) return;
  if (nonce === null) {
    nonce = line.trim();
    respond({ ready: true, node: process.version });
    return;
  }
  queue = queue.then(async () => {
    let request;
    try {
      request = JSON.parse(line);
      respond(await run(request));
    } catch (e) {
      respond({ id: request ? request.id : -1, fatal: String((e && e.stack) || e).slice(0, 2000) });
    }
  });
});
lines.on('close', () => { queue.then(() => process.exit(0)); });
