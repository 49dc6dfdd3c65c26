#!/usr/bin/env python3
"""Honesty check of a task suite: every reference passes, every mutant fails, by really running the programs
composed as docs/grading.md says. Independent of the C# harness (a cross-check of `spark-eval datasets check`).

Usage:
  python3 datasets/spark-bounded/verify.py [--tasks FILE] [--lang csharp|python|typescript] [--id SUBSTR]
                                           [--update-failing-output] [--keep]

Needs on PATH: python3, node, dotnet. Tools outside the repo (never committed):
  * TypeScript/Jest: npm install --prefix /tmp/tsverify typescript@5.9.3 jest@30.5.2 @types/node@20.19.25
    @types/jest@30.0.0 (override with TSVERIFY=/path).
  * C#: a Roslyn compile-only runner, /tmp/csrunner/bin/csrunner.dll (override with CSRUNNER=/path); it compiles each
    program in memory with DEBUG defined and writes program.dll + runtimeconfig, which this script runs with `dotnet`.
    Its source is embedded below (CSRUNNER_PROGRAM); when the dll is missing this script writes it to /tmp/csrunner
    and builds it once (`dotnet build`, needs Microsoft.CodeAnalysis.CSharp 5.0.0 and xunit.v3.assert 4.0.2).
  * The TypeScript tools are installed the same way on first use when missing (npm install --prefix).

What is checked per task:
  * static: required fields, >= 2 mutants, kind-specific fields (contextFiles, structureRule, rubric,
    failingOutput), stop tokens do not truncate the reference;
  * stub/refactor/fix: reference program exits 0; every mutant program exits non-zero (or fails to compile);
    fix: the buggy code in contextFiles[0] fails and its real output equals failingOutput (paths normalised);
  * refactor: the reference satisfies structureRule on the syntax tree (ast / TypeScript compiler API / Roslyn);
  * unit-tests: the reference tests pass on supportCode and fail on every mutant implementation;
  * explain: the reference satisfies the rubric and every mutant violates it.
Exit code 0 when everything holds, 1 otherwise.
"""
import argparse
import ast
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TSVERIFY = os.environ.get("TSVERIFY", "/tmp/tsverify")
CSRUNNER = os.environ.get("CSRUNNER", "/tmp/csrunner/bin/csrunner.dll")
TIMEOUT_S = 20
# The versions the harness locks (src/Eval.Sandbox/node/package-lock.json on the grading branch).
NPM_PACKAGES = ["typescript@5.9.3", "jest@30.5.2", "@types/node@20.19.25", "@types/jest@30.0.0"]
TS_MODULE = "esm"
WORKERS = 2

CS_USINGS = ("using System; using System.Collections.Generic; using System.Linq; using System.Text;\n"
             "using System.Text.RegularExpressions; using System.Diagnostics;\n")
# unit-tests (csharp): the worker side; a Main that runs every public static void Test* method of Tests.
CS_TEST_MAIN = """
public static class __TestMain
{
    public static int Main()
    {
        var failed = 0;
        var methods = typeof(Tests).GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(m => m.Name.StartsWith("Test", StringComparison.Ordinal) && m.ReturnType == typeof(void) && m.GetParameters().Length == 0)
            .OrderBy(m => m.Name, StringComparer.Ordinal).ToList();
        foreach (var m in methods)
        {
            try { m.Invoke(null, null); Console.WriteLine("PASS " + m.Name); }
            catch (System.Reflection.TargetInvocationException e) { failed++; Console.WriteLine("FAIL " + m.Name + ": " + e.InnerException!.Message.Split('\\n')[0]); }
        }
        if (methods.Count == 0) { Console.WriteLine("no tests"); return 1; }
        return failed == 0 ? 0 : 1;
    }
}
"""

CSRUNNER_PROJECT = r"""<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>disable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.CodeAnalysis.CSharp" Version="5.0.0" />
    <PackageReference Include="xunit.v3.assert" Version="4.0.2" />
  </ItemGroup>
</Project>
"""

CSRUNNER_PROGRAM = r"""// Throwaway verification runner (not committed): compiles C# programs in memory with Roslyn (DEBUG defined)
// and writes each to <outDir>/<name>/program.dll with a runtimeconfig so `dotnet program.dll` runs it.
// Also checks structure rules on the syntax tree.
// Usage: csrunner <jobs.json> <results.json>
// jobs: [{"name": "...", "source": "...", "outDir": "...", "structure": {"answer": "...", "rule": "..."}?}]
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

var jobs = JsonNode.Parse(File.ReadAllText(args[0]))!.AsArray();
var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
var xunitDll = typeof(Xunit.Assert).Assembly.Location;
var refs = tpa.Where(p => Path.GetFileName(p).StartsWith("System.") || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
    .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
refs.Add(MetadataReference.CreateFromFile(xunitDll));
var parseOptions = new CSharpParseOptions(LanguageVersion.Latest, preprocessorSymbols: ["DEBUG"]);
var results = new JsonArray();
foreach (var job in jobs)
{
    var name = (string)job!["name"]!;
    var res = new JsonObject { ["name"] = name };
    if (job["source"] is JsonNode srcNode)
    {
        var tree = CSharpSyntaxTree.ParseText((string)srcNode!, parseOptions);
        var comp = CSharpCompilation.Create("program", [tree], refs,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, optimizationLevel: OptimizationLevel.Debug, nullableContextOptions: NullableContextOptions.Disable));
        var dir = (string)job["outDir"]!;
        Directory.CreateDirectory(dir);
        var dllPath = Path.Combine(dir, "program.dll");
        using (var fs = File.Create(dllPath))
        {
            var emit = comp.Emit(fs);
            var errors = emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToArray();
            res["compiled"] = emit.Success;
            res["errors"] = new JsonArray(errors.Select(e => (JsonNode)JsonValue.Create(e)!).ToArray());
        }
        File.WriteAllText(Path.Combine(dir, "program.runtimeconfig.json"),
            "{\"runtimeOptions\":{\"tfm\":\"net10.0\",\"framework\":{\"name\":\"Microsoft.NETCore.App\",\"version\":\"10.0.0\"}}}");
        File.Copy(xunitDll, Path.Combine(dir, Path.GetFileName(xunitDll)), true);
    }
    if (job["structure"] is JsonObject st)
    {
        var answer = (string)st["answer"]!;
        var rule = (string)st["rule"]!;
        var root = CSharpSyntaxTree.ParseText("public static class Problem {\n" + answer + "\n}", parseOptions).GetRoot();
        var failures = new JsonArray();
        foreach (var r in rule.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Structure.Check(root, r, out var why)) failures.Add(r + ": " + why);
        }
        res["structureFailures"] = failures;
    }
    results.Add(res);
}
File.WriteAllText(args[1], results.ToJsonString());

static class Structure
{
    static readonly HashSet<string> Linq = ["Where", "Select", "SelectMany", "OrderBy", "OrderByDescending", "ThenBy", "ThenByDescending",
        "Order", "OrderDescending", "GroupBy", "Sum", "Count", "Any", "All", "Aggregate", "First", "FirstOrDefault", "Last", "LastOrDefault",
        "ToDictionary", "ToLookup", "Distinct", "DistinctBy", "Take", "Skip", "TakeWhile", "SkipWhile", "Min", "Max", "MinBy", "MaxBy", "Average", "Zip", "Chunk", "CountBy", "Index", "Join", "GroupJoin", "ToList", "ToArray", "ToHashSet"];

    public static bool Check(SyntaxNode root, string rule, out string why)
    {
        var nodes = root.DescendantNodes().ToList();
        why = "";
        var calls = nodes.OfType<InvocationExpressionSyntax>().Select(i => i.Expression switch
        {
            MemberAccessExpressionSyntax m => m.Name.Identifier.ValueText,
            IdentifierNameSyntax id => id.Identifier.ValueText,
            GenericNameSyntax g => g.Identifier.ValueText,
            _ => "",
        }).ToHashSet();
        if (rule.StartsWith("uses-call:", StringComparison.Ordinal))
        {
            why = rule[10..] + " is never called";
            return calls.Contains(rule[10..]);
        }
        if (rule.StartsWith("no-call:", StringComparison.Ordinal))
        {
            why = rule[8..] + " is called";
            return !calls.Contains(rule[8..]);
        }
        switch (rule)
        {
            case "uses-lambda":
                why = "no lambda";
                return nodes.Any(n => n is LambdaExpressionSyntax);
            case "no-loops":
                var loop = nodes.FirstOrDefault(n => n is ForStatementSyntax or ForEachStatementSyntax or WhileStatementSyntax or DoStatementSyntax);
                why = loop is null ? "" : "found " + loop.Kind();
                return loop is null;
            case "uses-linq":
                var ok = nodes.Any(n => n is QueryExpressionSyntax) || nodes.OfType<InvocationExpressionSyntax>().Any(i =>
                    i.Expression is MemberAccessExpressionSyntax m && Linq.Contains(m.Name.Identifier.ValueText));
                why = "no LINQ operator call or query expression";
                return ok;
            case "no-nested-if":
                var nested = nodes.OfType<IfStatementSyntax>().FirstOrDefault(i => ChainHead(i).Ancestors().OfType<IfStatementSyntax>().Any());
                why = nested is null ? "" : "if nested inside another if at line " + (nested.GetLocation().GetLineSpan().StartLinePosition.Line);
                return nested is null;
            case "uses-switch-expression":
                why = "no switch expression";
                return nodes.Any(n => n is SwitchExpressionSyntax);
            case "no-if":
                why = "found an if statement";
                return !nodes.Any(n => n is IfStatementSyntax);
            case "uses-string-interpolation":
                why = "no interpolated string";
                return nodes.Any(n => n is InterpolatedStringExpressionSyntax);
            case "no-string-concat":
                var concat = nodes.OfType<BinaryExpressionSyntax>().FirstOrDefault(b => b.IsKind(SyntaxKind.AddExpression) &&
                    (b.Left is LiteralExpressionSyntax { RawKind: (int)SyntaxKind.StringLiteralExpression } || b.Right is LiteralExpressionSyntax { RawKind: (int)SyntaxKind.StringLiteralExpression } || b.Left is InterpolatedStringExpressionSyntax || b.Right is InterpolatedStringExpressionSyntax));
                why = "string concatenation with + found";
                return concat is null;
            case "uses-pattern-matching":
                why = "no is-pattern, switch pattern or property pattern";
                return nodes.Any(n => n is IsPatternExpressionSyntax or SwitchExpressionSyntax or CasePatternSwitchLabelSyntax);
            case "no-mutable-locals":
                why = "local reassigned";
                return !nodes.OfType<AssignmentExpressionSyntax>().Any(a => a.Left is IdentifierNameSyntax) && !nodes.Any(n => n is PostfixUnaryExpressionSyntax or PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PreIncrementExpression });
            default:
                why = "unknown rule";
                return false;
        }
    }

    static SyntaxNode ChainHead(IfStatementSyntax i)
    {
        SyntaxNode cur = i;
        while (cur.Parent is ElseClauseSyntax e && e.Parent is IfStatementSyntax up) cur = up;
        return cur;
    }
}
"""

TS_STRUCTURE_JS = r"""
const ts = require('typescript');
const jobs = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const out = [];
for (const job of jobs) {
  const sf = ts.createSourceFile('answer.ts', job.answer, ts.ScriptTarget.ES2022, true);
  const nodes = [];
  (function walk(n) { nodes.push(n); ts.forEachChild(n, walk); })(sf);
  const isLoop = n => [ts.SyntaxKind.ForStatement, ts.SyntaxKind.ForInStatement, ts.SyntaxKind.ForOfStatement,
    ts.SyntaxKind.WhileStatement, ts.SyntaxKind.DoStatement].includes(n.kind);
  const calls = name => nodes.some(n => ts.isCallExpression(n) && ((ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === name)
    || (ts.isIdentifier(n.expression) && n.expression.text === name)));
  const chainHead = n => { while (n.parent && ts.isIfStatement(n.parent) && n.parent.elseStatement === n) n = n.parent; return n; };
  const hasIfAncestor = n => { for (let p = n.parent; p; p = p.parent) if (ts.isIfStatement(p)) return true; return false; };
  const failures = [];
  for (const rule of job.rule.split(';').map(r => r.trim()).filter(Boolean)) {
    let ok;
    if (rule.startsWith('uses-call:')) { if (!calls(rule.slice(10))) failures.push(rule); continue; }
    if (rule.startsWith('no-call:')) { if (calls(rule.slice(8))) failures.push(rule); continue; }
    switch (rule) {
      case 'no-loops': ok = !nodes.some(isLoop); break;
      case 'uses-map-filter': ok = calls('map') || calls('filter'); break;
      case 'uses-array-methods': ok = ['map', 'filter', 'reduce', 'flatMap', 'some', 'every', 'find', 'findIndex', 'reduceRight'].some(calls); break;
      case 'uses-lambda': ok = nodes.some(n => ts.isArrowFunction(n)); break;
      case 'no-if': ok = !nodes.some(n => ts.isIfStatement(n)); break;
      case 'uses-reduce': ok = calls('reduce'); break;
      case 'no-nested-if': ok = !nodes.some(n => ts.isIfStatement(n) && hasIfAncestor(chainHead(n))); break;
      case 'uses-async-await': ok = nodes.some(n => ts.isAwaitExpression(n)) &&
        nodes.some(n => (ts.isFunctionDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isMethodDeclaration(n)) &&
          (ts.getCombinedModifierFlags(n) & ts.ModifierFlags.Async) !== 0); break;
      case 'no-then': ok = !calls('then') && !calls('catch'); break;
      case 'uses-optional-chaining': ok = nodes.some(n => n.questionDotToken !== undefined); break;
      case 'uses-nullish-coalescing': ok = nodes.some(n => ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken); break;
      default: ok = false; failures.push(rule + ': unknown rule'); continue;
    }
    if (!ok) failures.push(rule);
  }
  out.push({ name: job.name, failures });
}
process.stdout.write(JSON.stringify(out));
"""


# ------------------------------------------------------------------------------------------------ structure rules
def py_structure_failures(answer, rule):
    tree = ast.parse(answer)
    nodes = list(ast.walk(tree))
    parents = {}
    for n in nodes:
        for c in ast.iter_child_nodes(n):
            parents[c] = n

    def chain_head(n):
        while isinstance(parents.get(n), ast.If) and parents[n].orelse == [n]:
            n = parents[n]
        return n

    def has_if_ancestor(n):
        p = parents.get(n)
        while p is not None:
            if isinstance(p, ast.If):
                return True
            p = parents.get(p)
        return False

    call_names = set()
    for n in nodes:
        if isinstance(n, ast.Call):
            if isinstance(n.func, ast.Name):
                call_names.add(n.func.id)
            elif isinstance(n.func, ast.Attribute):
                call_names.add(n.func.attr)
    failures = []
    for r in [x.strip() for x in rule.split(";") if x.strip()]:
        if r.startswith("uses-call:"):
            ok = r[10:] in call_names
        elif r.startswith("no-call:"):
            ok = r[8:] not in call_names
        elif r == "uses-lambda":
            ok = any(isinstance(n, ast.Lambda) for n in nodes)
        elif r == "no-if":
            ok = not any(isinstance(n, ast.If) for n in nodes)
        elif r == "no-loops":
            ok = not any(isinstance(n, (ast.For, ast.While, ast.AsyncFor)) for n in nodes)
        elif r == "uses-comprehension":
            ok = any(isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)) for n in nodes)
        elif r == "no-nested-if":
            ok = not any(isinstance(n, ast.If) and has_if_ancestor(chain_head(n)) for n in nodes)
        elif r == "uses-fstring":
            ok = any(isinstance(n, ast.JoinedStr) for n in nodes)
        elif r == "no-string-format":
            ok = not any((isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mod) and isinstance(n.left, ast.Constant)
                          and isinstance(n.left.value, str))
                         or (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "format")
                         for n in nodes)
        elif r == "uses-dataclass":
            ok = any(isinstance(n, ast.ClassDef) and any(
                (isinstance(d, ast.Name) and d.id == "dataclass") or (isinstance(d, ast.Attribute) and d.attr == "dataclass")
                or (isinstance(d, ast.Call) and ((isinstance(d.func, ast.Name) and d.func.id == "dataclass")
                                                 or (isinstance(d.func, ast.Attribute) and d.func.attr == "dataclass")))
                for d in n.decorator_list) for n in nodes)
        elif r == "no-dunder-methods":
            ok = not any(isinstance(n, ast.FunctionDef) and n.name in ("__init__", "__eq__", "__repr__", "__lt__") for n in nodes)
        else:
            failures.append(r + ": unknown rule")
            continue
        if not ok:
            failures.append(r)
    return failures


# ------------------------------------------------------------------------------------------------ explain rubric
def rubric_failures(text, rubric):
    failures = []
    words = len(text.split())
    if words > rubric["maxWords"]:
        failures.append(f"{words} words > maxWords {rubric['maxWords']}")
    low = text.lower()
    for c in rubric["requiredConcepts"]:
        if not any(p.lower() in low for p in c["phrasings"]):
            failures.append(f"missing concept '{c['name']}'")
    for w in rubric.get("wrongClaims", []):
        if w.lower() in low:
            failures.append(f"wrong claim '{w}'")
    return failures


# ------------------------------------------------------------------------------------------------ helpers
def run(cmd, cwd, timeout=TIMEOUT_S, env=None):
    try:
        p = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=env)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return "timeout", (e.stdout or b"").decode("utf-8", "replace")


def normalise(output, directory):
    out = output.replace("file://" + directory + "/", "").replace(directory + "/", "").replace(directory, ".")
    return out.strip()


class Case:
    """One program to run: which task, which candidate (reference, mutant[i], buggy), and the expectation."""

    def __init__(self, task, label, expect_pass):
        self.task = task
        self.label = label
        self.expect_pass = expect_pass
        self.dir = None
        self.passed = None
        self.detail = ""
        self.output = ""


def candidates(task):
    """(label, answer, implementation, expect_pass) for every program of a task."""
    kind = task["kind"]
    if kind == "explain":
        return []
    if kind == "unit-tests":
        items = [("reference", task["referenceSolution"], task["supportCode"], True)]
        items += [(f"mutant[{i}]", task["referenceSolution"], m, False) for i, m in enumerate(task["mutants"])]
        return items
    items = [("reference", task["referenceSolution"], None, True)]
    items += [(f"mutant[{i}]", m, None, False) for i, m in enumerate(task["mutants"])]
    if kind == "fix":
        items.append(("buggy", task["contextFiles"][0]["content"], None, False))
    return items


def compose_python(task, answer, impl):
    if task["kind"] == "unit-tests":
        return impl + "\n" + answer
    return (task.get("supportCode") or "") + "\n" + answer + "\n" + task["hiddenChecks"]


def compose_ts(task, answer):
    return (task.get("supportCode") or "") + "\n" + answer + "\n" + task["hiddenChecks"]


def compose_cs(task, answer, impl):
    if task["kind"] == "unit-tests":
        return CS_USINGS + "using Xunit;\n" + "public static class Problem {\n" + impl + "\n}\n" + answer + "\n" + CS_TEST_MAIN
    return (CS_USINGS + (task.get("supportCode") or "") + "\npublic static class Problem {\n" + answer
            + "\npublic static void Main() {\n" + task["hiddenChecks"] + "\n}\n}\n")


def static_problems(task):
    p = []
    for f in ("id", "kind", "language", "prompt", "referenceSolution", "difficulty", "tags", "tokenBudget"):
        if f not in task or task[f] in ("", [], None):
            p.append(f"missing {f}")
    if task.get("formatVersion") != 1:
        p.append("formatVersion must be 1")
    if len(task.get("mutants", [])) < 2:
        p.append("fewer than 2 mutants")
    if not 1 <= task.get("difficulty", 0) <= 5:
        p.append("difficulty out of range")
    kind = task["kind"]
    if kind in ("refactor", "fix", "explain", "unit-tests") and not task.get("contextFiles"):
        p.append("contextFiles needed for " + kind)
    if kind == "refactor" and not task.get("structureRule"):
        p.append("structureRule needed")
    if kind == "explain" and not task.get("rubric"):
        p.append("rubric needed")
    if kind == "fix" and not task.get("failingOutput"):
        p.append("failingOutput needed")
    if kind == "unit-tests" and not task.get("supportCode"):
        p.append("supportCode (implementation under test) needed")
    if kind in ("stub", "refactor", "fix") and not task.get("hiddenChecks", "").strip():
        p.append("hiddenChecks empty")
    for s in task.get("stopTokens", []):
        if s in task["referenceSolution"]:
            p.append(f"stop token {s!r} truncates the reference")
    return p


# ------------------------------------------------------------------------------------------------ executors
def exec_python(cases, work):
    def one(c):
        c.dir = os.path.join(work, "py", c.task["id"], c.label.replace("[", "_").replace("]", ""))
        os.makedirs(c.dir, exist_ok=True)
        with open(os.path.join(c.dir, "program.py"), "w", encoding="utf-8") as f:
            f.write(compose_python(c.task, c.answer, c.impl))
        rc, out = run([sys.executable if os.environ.get("VERIFY_USE_SYS_PYTHON") else "python3", "program.py"], c.dir)
        c.passed = rc == 0
        c.detail = f"exit {rc}"
        c.output = normalise(out, c.dir)

    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, cases))


def exec_csharp(cases, work):
    if not cases:
        return
    jobs = []
    for i, c in enumerate(cases):
        c.dir = os.path.join(work, "cs", c.task["id"], c.label.replace("[", "_").replace("]", ""))
        job = {"name": str(i), "outDir": c.dir, "source": compose_cs(c.task, c.answer, c.impl)}
        jobs.append(job)
    jobs_file = os.path.join(work, "cs-jobs.json")
    with open(jobs_file, "w", encoding="utf-8") as f:
        json.dump(jobs, f)
    res_file = os.path.join(work, "cs-results.json")
    rc, out = run(["dotnet", CSRUNNER, jobs_file, res_file], work, timeout=600)
    if rc != 0:
        sys.exit("csrunner failed: " + out)
    with open(res_file, encoding="utf-8") as f:
        results = {r["name"]: r for r in json.load(f)}

    def one(ic):
        i, c = ic
        r = results[str(i)]
        if not r["compiled"]:
            c.passed = False
            c.detail = "compile_error"
            c.output = "\n".join(r["errors"])
            return
        rc, out = run(["dotnet", "program.dll"], c.dir, env={**os.environ, "DOTNET_CLI_TELEMETRY_OPTOUT": "1",
                                                              "DOTNET_DbgEnableMiniDump": "0"})
        c.passed = rc == 0
        c.detail = f"exit {rc}"
        c.output = normalise(out, c.dir)

    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, enumerate(cases)))


def tsc(files, cwd, extra, types="node"):
    cmd = [os.path.join(TSVERIFY, "node_modules", ".bin", "tsc"), "--strict", "--target", "es2022", "--skipLibCheck",
           "--types", types] + extra + files
    rc, out = run(cmd, cwd, timeout=600)
    errors = {}
    for line in out.splitlines():
        m = re.match(r"^(.*?)\(\d+,\d+\): error", line)
        if m:
            errors.setdefault(os.path.normpath(os.path.join(cwd, m.group(1))), []).append(line)
    return errors


def exec_typescript(cases, work):
    if not cases:
        return
    root = os.path.join(TSVERIFY, "work")
    shutil.rmtree(root, ignore_errors=True)
    esm = os.path.join(root, "esm")
    cjs = os.path.join(root, "jest")
    os.makedirs(esm)
    os.makedirs(cjs)
    with open(os.path.join(esm, "package.json"), "w") as f:
        json.dump({"type": "module" if TS_MODULE == "esm" else "commonjs"}, f)
    with open(os.path.join(cjs, "package.json"), "w") as f:
        json.dump({"type": "commonjs", "jest": {"testEnvironment": "node", "testMatch": ["**/answer.test.js"]}}, f)
    plain = [c for c in cases if c.task["kind"] != "unit-tests"]
    jest = [c for c in cases if c.task["kind"] == "unit-tests"]
    files = []
    for c in plain:
        c.dir = os.path.join(esm, c.task["id"], c.label.replace("[", "_").replace("]", ""))
        os.makedirs(c.dir)
        with open(os.path.join(c.dir, "program.ts"), "w", encoding="utf-8") as f:
            f.write(compose_ts(c.task, c.answer))
        files.append(os.path.relpath(os.path.join(c.dir, "program.ts"), esm))
    module_flags = (["--module", "nodenext", "--moduleResolution", "nodenext"] if TS_MODULE == "esm"
                    else ["--module", "commonjs", "--esModuleInterop"])
    errors = tsc(files, esm, module_flags) if files else {}

    def one(c):
        errs = errors.get(os.path.join(c.dir, "program.ts"))
        if errs:
            c.passed = False
            c.detail = "compile_error"
            c.output = normalise("\n".join(errs), c.dir)
            return
        rc, out = run(["node", "program.js"], c.dir)
        c.passed = rc == 0
        c.detail = f"exit {rc}"
        c.output = normalise(out, c.dir)

    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, plain))

    if not jest:
        return
    files = []
    for c in jest:
        c.dir = os.path.join(cjs, c.task["id"], c.label.replace("[", "_").replace("]", ""))
        os.makedirs(c.dir)
        impl_name = c.task["contextFiles"][0]["path"]
        with open(os.path.join(c.dir, impl_name), "w", encoding="utf-8") as f:
            f.write(c.impl)
        with open(os.path.join(c.dir, "answer.test.ts"), "w", encoding="utf-8") as f:
            f.write(c.answer)
        files += [os.path.relpath(os.path.join(c.dir, n), cjs) for n in (impl_name, "answer.test.ts")]
    errors = tsc(files, cjs, ["--module", "commonjs", "--esModuleInterop"], types="node,jest")
    report = os.path.join(root, "jest.json")
    run([os.path.join(TSVERIFY, "node_modules", ".bin", "jest"), "--rootDir", cjs, "--ci", "--json", "--outputFile",
         report, "--maxWorkers", str(WORKERS)], cjs, timeout=600)
    with open(report, encoding="utf-8") as f:
        results = {os.path.dirname(r["name"]): r for r in json.load(f)["testResults"]}
    for c in jest:
        errs = [e for n, es in errors.items() if n.startswith(c.dir + os.sep) for e in es]
        if errs:
            c.passed = False
            c.detail = "compile_error"
            c.output = normalise("\n".join(errs), c.dir)
            continue
        r = results.get(c.dir)
        if r is None:
            c.passed = False
            c.detail = "no jest result"
            continue
        c.passed = r["status"] == "passed"
        failed = [a["fullName"] for a in r["assertionResults"] if a["status"] != "passed"]
        c.detail = "jest " + r["status"] + (f" (failed: {', '.join(failed)})" if failed else "")
        c.output = normalise(r.get("message", ""), c.dir)


# ------------------------------------------------------------------------------------------------ tools
def ensure_tools(languages):
    if "csharp" in languages and not os.path.exists(CSRUNNER):
        src = os.path.dirname(os.path.dirname(CSRUNNER))
        os.makedirs(src, exist_ok=True)
        with open(os.path.join(src, "csrunner.csproj"), "w") as f:
            f.write(CSRUNNER_PROJECT)
        with open(os.path.join(src, "Program.cs"), "w") as f:
            f.write(CSRUNNER_PROGRAM)
        print(f"building the C# verification runner in {src} ...", flush=True)
        rc, out = run(["dotnet", "build", "-c", "Release", "-o", os.path.dirname(CSRUNNER)], src, timeout=600)
        if rc != 0:
            sys.exit("building the C# runner failed:\n" + out)
    if ("typescript" in languages or "javascript" in languages) and not os.path.exists(
            os.path.join(TSVERIFY, "node_modules", "@types", "jest")):
        os.makedirs(TSVERIFY, exist_ok=True)
        print(f"installing {' '.join(NPM_PACKAGES)} into {TSVERIFY} ...", flush=True)
        rc, out = run(["npm", "install", "--prefix", TSVERIFY, "--no-audit", "--no-fund"] + NPM_PACKAGES, TSVERIFY,
                      timeout=600)
        if rc != 0:
            sys.exit("npm install failed:\n" + out)


def schema_problems(lines):
    try:
        import jsonschema
    except ImportError:
        print("note: python package jsonschema not installed; schema check skipped")
        return []
    with open(os.path.join(HERE, "..", "task.schema.json"), encoding="utf-8") as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    out = []
    for no, t in lines:
        out += [f"line {no}: schema: {e.message}" for e in validator.iter_errors(t)]
    return out


# ------------------------------------------------------------------------------------------------ main
def structure_checks(tasks, work):
    """Returns {(task id, label): [failures]} for the reference and mutants of refactor tasks."""
    out = {}
    ts_jobs, cs_jobs = [], []
    for t in tasks:
        if t["kind"] != "refactor":
            continue
        for label, answer in [("reference", t["referenceSolution"])] + [(f"mutant[{i}]", m) for i, m in enumerate(t["mutants"])]:
            key = (t["id"], label)
            if t["language"] == "python":
                out[key] = py_structure_failures(answer, t["structureRule"])
            elif t["language"] == "typescript":
                ts_jobs.append({"name": json.dumps(key), "answer": answer, "rule": t["structureRule"]})
            elif t["language"] == "csharp":
                cs_jobs.append({"name": json.dumps(key), "structure": {"answer": answer, "rule": t["structureRule"]}})
    if ts_jobs:
        script = os.path.join(TSVERIFY, "structure.cjs")
        with open(script, "w") as f:
            f.write(TS_STRUCTURE_JS)
        jf = os.path.join(work, "ts-structure.json")
        with open(jf, "w") as f:
            json.dump(ts_jobs, f)
        rc, res = run(["node", script, jf], TSVERIFY)
        for r in json.loads(res):
            out[tuple(json.loads(r["name"]))] = r["failures"]
    if cs_jobs:
        jf, rf = os.path.join(work, "cs-structure.json"), os.path.join(work, "cs-structure-out.json")
        with open(jf, "w") as f:
            json.dump(cs_jobs, f)
        rc, res = run(["dotnet", CSRUNNER, jf, rf], work, timeout=600)
        with open(rf) as f:
            for r in json.load(f):
                out[tuple(json.loads(r["name"]))] = r["structureFailures"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default=os.path.join(HERE, "tasks.jsonl"))
    ap.add_argument("--lang")
    ap.add_argument("--id")
    ap.add_argument("--update-failing-output", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--ts-module", choices=["esm", "commonjs"], default="esm",
                    help="compile TypeScript programs as an ES module (docs/grading.md, default) or as CommonJS")
    args = ap.parse_args()
    global TS_MODULE
    TS_MODULE = args.ts_module

    with open(args.tasks, encoding="utf-8") as f:
        numbered = [(no, json.loads(line)) for no, line in enumerate(f, 1) if line.strip()]
    problems = schema_problems(numbered)
    tasks = [t for _, t in numbered]
    ids = [t["id"] for t in tasks]
    problems += [f"duplicate id {i}" for i in sorted(set(ids)) if ids.count(i) > 1]
    if args.lang:
        tasks = [t for t in tasks if t["language"] == args.lang]
    if args.id:
        tasks = [t for t in tasks if args.id in t["id"]]

    ensure_tools({t["language"] for t in tasks})
    for t in tasks:
        problems += [f"{t['id']}: {p}" for p in static_problems(t)]

    work = tempfile.mkdtemp(prefix="sbverify-")
    cases = []
    for t in tasks:
        for label, answer, impl, expect in candidates(t):
            c = Case(t, label, expect)
            c.answer, c.impl = answer, impl
            cases.append(c)
    exec_python([c for c in cases if c.task["language"] == "python"], work)
    exec_csharp([c for c in cases if c.task["language"] == "csharp"], work)
    exec_typescript([c for c in cases if c.task["language"] in ("typescript", "javascript")], work)

    stats = {"tasks": len(tasks), "references_passed": 0, "references": 0, "mutants_rejected": 0, "mutants": 0}
    for c in cases:
        if c.label == "buggy":
            continue
        if c.expect_pass:
            stats["references"] += 1
            stats["references_passed"] += c.passed
            if not c.passed:
                problems.append(f"{c.task['id']}: reference FAILED ({c.detail})\n    {c.output[:1500]}")
        else:
            stats["mutants"] += 1
            stats["mutants_rejected"] += not c.passed
            if c.passed:
                problems.append(f"{c.task['id']}: {c.label} PASSED but must fail ({c.detail})")

    # explain tasks: rubric
    for t in tasks:
        if t["kind"] != "explain":
            continue
        stats["references"] += 1
        f = rubric_failures(t["referenceSolution"], t["rubric"])
        if f:
            problems.append(f"{t['id']}: reference violates rubric: {f}")
        else:
            stats["references_passed"] += 1
        for i, m in enumerate(t["mutants"]):
            stats["mutants"] += 1
            if rubric_failures(m, t["rubric"]):
                stats["mutants_rejected"] += 1
            else:
                problems.append(f"{t['id']}: mutant[{i}] satisfies the rubric but must fail")

    # refactor: structure rule
    st = structure_checks(tasks, work)
    stats["structure_refs_ok"] = 0
    stats["structure_mutants_ok"] = 0
    for (tid, label), failures in sorted(st.items()):
        if label == "reference":
            if failures:
                problems.append(f"{tid}: reference violates structureRule: {failures}")
            else:
                stats["structure_refs_ok"] += 1
        elif not failures:
            stats["structure_mutants_ok"] += 1  # the mutant is a real refactor that breaks behaviour

    # fix: the buggy code fails and failingOutput is its real output
    captured = {}
    for c in cases:
        if c.label != "buggy":
            continue
        if c.passed:
            problems.append(f"{c.task['id']}: the buggy code PASSES the hidden checks")
        captured[c.task["id"]] = c.output
        if c.task["language"] in ("typescript", "javascript") and TS_MODULE != "esm":
            continue  # failingOutput was captured from the ES-module build; CommonJS line numbers differ
        if not args.update_failing_output and c.task.get("failingOutput", "").strip() != c.output:
            problems.append(f"{c.task['id']}: failingOutput differs from the real output:\n{c.output}")
    if args.update_failing_output:
        path = os.path.join(HERE, "failing_outputs.json")
        existing = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                existing = json.load(f)
        existing.update(captured)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(sorted(existing.items())), f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"captured failingOutput of {len(captured)} fix tasks into {path}")

    counts = {}
    for t in tasks:
        counts.setdefault(t["language"], {}).setdefault(t["kind"], 0)
        counts[t["language"]][t["kind"]] += 1
    print(json.dumps({"counts": counts, **stats}, indent=1))
    for p in problems:
        print("PROBLEM " + p)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("work dir: " + work)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
