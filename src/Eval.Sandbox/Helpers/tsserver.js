// TypeScript compile server for the sandbox (docs/sandbox.md, "TypeScript compile server").
// Type-checks and emits one program per request with the locked TypeScript 5.9 compiler API, keeping the
// parsed and bound library files (lib.*.d.ts, @types/node, @types/jest) between requests, so a request
// pays only for its own files and a fresh checker. It never runs the code it compiles.
//
// argv[2]: the node_modules folder holding the locked typescript and @types packages.
// Protocol: one JSON request per stdin line, one JSON response per stdout line.
//   request  {"id":1,"files":[{"name":"prog.ts","text":"..."}],"types":["node"]}
//   response {"id":1,"errors":["prog.ts(2,7): error TS2322: ..."],"errorCount":1,"outputs":[{"name":"prog.js","text":"..."}],"ms":12.3}
// The first line written is {"ready":true,...} once the library files are parsed (a warm-up compile).
// Only files under the typescript package and @types are read from disk; anything else the program names
// (an absolute import, a triple-slash reference) does not exist for it.
'use strict';
const path = require('path');
const fs = require('fs');
const readline = require('readline');

const nodeModules = path.resolve(process.argv[2]);
const ts = require(path.join(nodeModules, 'typescript'));
const typeRoots = [path.join(nodeModules, '@types')];
const root = '/attempt/';
const readable = [path.join(nodeModules, 'typescript', 'lib') + '/', typeRoots[0] + '/'];

const baseOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.CommonJS,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmitOnError: false,
  newLine: ts.NewLineKind.LineFeed,
  typeRoots,
};

const sourceCache = new Map();
// The last program per (root names, types): passing it as oldProgram lets TypeScript reuse the module and
// type-reference resolutions of every unchanged (library) file; only the request's own files are resolved again.
const oldPrograms = new Map();
const textCache = new Map();
const existsCache = new Map();
const dirCache = new Map();
const mayRead = (p) => readable.some((prefix) => p.startsWith(prefix));

function readDisk(p) {
  if (!mayRead(p)) return undefined;
  if (!textCache.has(p)) {
    let text;
    try { text = fs.readFileSync(p, 'utf8'); } catch { text = undefined; }
    textCache.set(p, text);
  }
  return textCache.get(p);
}

function compile(request) {
  const started = process.hrtime.bigint();
  const files = new Map(request.files.map((f) => [root + f.name, f.text]));
  const options = { ...baseOptions, types: request.types };
  const outputs = [];
  const host = {
    getSourceFile(fileName, languageVersion) {
      if (files.has(fileName)) return ts.createSourceFile(fileName, files.get(fileName), languageVersion, false);
      let cached = sourceCache.get(fileName);
      if (cached === undefined) {
        const text = readDisk(fileName);
        if (text === undefined) return undefined;
        cached = ts.createSourceFile(fileName, text, languageVersion, false);
        sourceCache.set(fileName, cached);
      }
      return cached;
    },
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    writeFile(fileName, text) {
      if (fileName.startsWith(root)) outputs.push({ name: fileName.slice(root.length), text });
    },
    getCurrentDirectory: () => root,
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
    fileExists(p) {
      if (files.has(p)) return true;
      if (!mayRead(p)) return false;
      if (!existsCache.has(p)) existsCache.set(p, fs.existsSync(p) && fs.statSync(p).isFile());
      return existsCache.get(p);
    },
    readFile: (p) => (files.has(p) ? files.get(p) : readDisk(p)),
    directoryExists(p) {
      if (p === root.slice(0, -1) || p + '/' === root) return true;
      const d = p.endsWith('/') ? p : p + '/';
      if (!readable.some((prefix) => d.startsWith(prefix) || prefix.startsWith(d))) return false;
      if (!dirCache.has(p)) dirCache.set(p, fs.existsSync(p) && fs.statSync(p).isDirectory());
      return dirCache.get(p);
    },
    getDirectories(p) {
      if (!mayRead(p.endsWith('/') ? p : p + '/')) return [];
      try { return fs.readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { return []; }
    },
    realpath: (p) => p,
  };
  const key = JSON.stringify([[...files.keys()], request.types]);
  const program = ts.createProgram({ rootNames: [...files.keys()], options, host, oldProgram: oldPrograms.get(key) });
  oldPrograms.set(key, program);
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  program.emit();
  const formatHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  const errors = diagnostics.slice(0, 3).map((d) => ts.formatDiagnostic(d, formatHost).trim());
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { id: request.id, errors, errorCount: diagnostics.length, outputs, ms };
}

function answer(response) {
  process.stdout.write(JSON.stringify(response) + '\n');
}

const warm = compile({ id: 0, files: [{ name: 'warm.ts', text: "import assert from 'node:assert';\nassert.ok(true);\n" }], types: ['node', 'jest'] });
answer({ ready: true, typescript: ts.version, warmMs: warm.ms, warmErrors: warm.errors });

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  if (line.trim().length === 0) return;
  let request;
  try {
    request = JSON.parse(line);
  } catch (e) {
    answer({ id: -1, fatal: 'bad request: ' + e.message });
    return;
  }
  try {
    answer(compile(request));
  } catch (e) {
    answer({ id: request.id, fatal: String(e && e.stack || e).slice(0, 2000) });
  }
});
lines.on('close', () => process.exit(0));
