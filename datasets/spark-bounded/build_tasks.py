#!/usr/bin/env python3
"""Readable source of the spark-bounded suite (v1): one dict per task, written to tasks.jsonl.

Run:  python3 datasets/spark-bounded/build_tasks.py
It writes datasets/spark-bounded/tasks.jsonl (one JSON object per line, camelCase, formatVersion 1).
`failingOutput` of fix tasks is the real output of running the hidden checks against the buggy code; it is
captured by `verify.py --update-failing-output` into failing_outputs.json, which this script reads.
Grading conventions: docs/grading.md. Field table and structure-rule vocabulary: README.md.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE_VERSION = "1"


def cs_asserts(*exprs):
    """C# hidden checks: one `Debug.Assert(expr, "expr");` per expression (the message names the failed check)."""
    lines = []
    for e in exprs:
        msg = e.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'Debug.Assert({e}, "{msg}");')
    return "\n".join(lines) + "\n"


def py_asserts(*exprs):
    return "\n".join(f"assert {e}" for e in exprs) + "\n"


TS_ASSERT = "import assert from 'node:assert';\n"


def ts_async(body):
    """TypeScript checks that await: wrapped in an async IIFE (no top-level await), so they run both as an ES module
    and as CommonJS; a failed check or rejection prints the error and exits 1."""
    indented = "".join("  " + line if line.strip() else line for line in body.splitlines(True))
    return (TS_ASSERT + "(async () => {\n" + indented + "})().catch((err: unknown) => {\n"
            "  console.error(err);\n  process.exit(1);\n});\n")

CS_UNIT_PROMPT = (" The implementation is `Problem.{fn}` (shown in {file}). Write `public static class Tests` with "
                  "`public static void` methods whose names start with `Test`, using xunit's `Assert`; `using Xunit;` "
                  "and the usual System usings are already in scope, so write no using directives. Every test must pass "
                  "on the correct implementation; together they must catch plausible bugs.")
PY_UNIT_PROMPT = (" The function `{fn}` (shown in {file}) is already defined above your code in the same module: do not "
                  "import or redefine it. Write `unittest` tests ending with `if __name__ == '__main__': unittest.main()` "
                  "(or plain top-level asserts). Every test must pass on the correct implementation; together they must "
                  "catch plausible bugs.")
TS_UNIT_PROMPT = (" Write a Jest test file (it is saved as answer.test.ts next to {file}): import `{fn}` from "
                  "'./{module}' and use the Jest globals `describe`, `test`, `expect` (typed by @types/jest; do not "
                  "import them). It is type-checked with `tsc --strict`. Every test must pass on the correct "
                  "implementation; together they must catch plausible bugs.")

TASKS = []


def task(**t):
    t.setdefault("formatVersion", 1)
    TASKS.append(t)


# ---------------------------------------------------------------------------------------------------------------
# C#
# ---------------------------------------------------------------------------------------------------------------
CS_STOP = ["\n// Example usage", "\nConsole.WriteLine("]

# ---- C# stub ----
task(
    id="cs-stub-email", kind="stub", language="csharp", difficulty=1, tags=["regex", "validation"], tokenBudget=256,
    stopTokens=CS_STOP, entryPoint="IsValidEmail",
    prompt="Write a C# method `public static bool IsValidEmail(string address)` that returns true when the address has "
           "exactly one '@', a non-empty local part of letters, digits, dots, underscores, plus or hyphen, and a domain "
           "of two or more non-empty dot-separated labels (letters, digits, hyphens), the last of which is at least "
           "two letters. "
           "The whole string must match (a trailing newline makes it invalid). Use a regular expression. Answer with the "
           "method only.",
    referenceSolution='public static bool IsValidEmail(string address) =>\n'
                      '    Regex.IsMatch(address, @"^[A-Za-z0-9._+-]+@(?:[A-Za-z0-9-]+\\.)+[A-Za-z]{2,}\\z");\n',
    hiddenChecks=cs_asserts('IsValidEmail("dev@example.com")', 'IsValidEmail("first.last+tag@sub.example.org")',
                            '!IsValidEmail("no-at-sign.example.com")', '!IsValidEmail("two@@example.com")',
                            '!IsValidEmail("@example.com")', '!IsValidEmail("dev@example.c")', '!IsValidEmail("dev@example")',
                            '!IsValidEmail("dev@example.com\\n")', '!IsValidEmail("dev name@example.com")'),
    mutants=[
        'public static bool IsValidEmail(string address) => address.Contains(\'@\');\n',
        'public static bool IsValidEmail(string address) =>\n'
        '    Regex.IsMatch(address, @"[A-Za-z0-9._+-]+@(?:[A-Za-z0-9-]+\\.)+[A-Za-z]{2,}");\n',
        'public static bool IsValidEmail(string address) =>\n'
        '    Regex.IsMatch(address, @"^[A-Za-z0-9._+-]+@(?:[A-Za-z0-9-]+\\.)*[A-Za-z]{2,}$");\n',
    ])

task(
    id="cs-stub-parse-date", kind="stub", language="csharp", difficulty=2, tags=["dates", "parsing"], tokenBudget=256,
    stopTokens=CS_STOP, entryPoint="ParseIsoDate",
    prompt="Write `public static DateOnly? ParseIsoDate(string text)` that parses a calendar date written exactly as "
           "yyyy-MM-dd (four-digit year, two-digit month and day) and returns null for anything else, including "
           "impossible dates such as 2023-02-29, other formats and surrounding whitespace. It must not depend on the "
           "current culture. Answer with the method only (`System.Globalization` is not imported: qualify its types, "
           "e.g. `System.Globalization.CultureInfo`).",
    referenceSolution='public static DateOnly? ParseIsoDate(string text) =>\n'
                      '    DateOnly.TryParseExact(text, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture,\n'
                      '        System.Globalization.DateTimeStyles.None, out var date) ? date : null;\n',
    hiddenChecks=cs_asserts('ParseIsoDate("2024-02-29") == new DateOnly(2024, 2, 29)',
                            'ParseIsoDate("1999-12-31") == new DateOnly(1999, 12, 31)',
                            'ParseIsoDate("2023-02-29") == null', 'ParseIsoDate("2024-13-01") == null',
                            'ParseIsoDate("2024-1-5") == null', 'ParseIsoDate("05/01/2024") == null',
                            'ParseIsoDate(" 2024-01-05") == null', 'ParseIsoDate("") == null'),
    mutants=[
        'public static DateOnly? ParseIsoDate(string text) =>\n'
        '    DateOnly.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,\n'
        '        System.Globalization.DateTimeStyles.AllowWhiteSpaces, out var date) ? date : null;\n',
        'public static DateOnly? ParseIsoDate(string text)\n{\n'
        '    var m = Regex.Match(text, @"^(\\d{4})-(\\d{2})-(\\d{2})$");\n'
        '    if (!m.Success) return null;\n'
        '    var (y, mo, d) = (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), int.Parse(m.Groups[3].Value));\n'
        '    if (mo < 1 || mo > 12 || d < 1 || d > 31) return null;\n'
        '    return new DateOnly(y, mo, Math.Min(d, 28));\n}\n',
        'public static DateOnly? ParseIsoDate(string text) =>\n'
        '    DateOnly.TryParseExact(text, "yyyy-M-d", System.Globalization.CultureInfo.InvariantCulture,\n'
        '        System.Globalization.DateTimeStyles.None, out var date) ? date : null;\n',
    ])

task(
    id="cs-stub-page-count", kind="stub", language="csharp", difficulty=1, tags=["arithmetic", "pagination", "boundaries"],
    tokenBudget=200, stopTokens=CS_STOP, entryPoint="PageCount",
    prompt="Write `public static int PageCount(int totalItems, int pageSize)` returning how many pages are needed to show "
           "`totalItems` items with `pageSize` items per page (0 items need 0 pages). Throw "
           "`ArgumentOutOfRangeException` when `pageSize` < 1 or `totalItems` < 0. It must be correct for every valid "
           "`int` input (beware of overflow). Answer with the method only.",
    referenceSolution='public static int PageCount(int totalItems, int pageSize)\n{\n'
                      '    ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);\n'
                      '    ArgumentOutOfRangeException.ThrowIfNegative(totalItems);\n'
                      '    return totalItems / pageSize + (totalItems % pageSize == 0 ? 0 : 1);\n}\n',
    supportCode='public static class Check\n{\n'
                '    public static bool Throws<T>(Action action) where T : Exception\n    {\n'
                '        try { action(); return false; } catch (T) { return true; }\n    }\n}\n',
    hiddenChecks=cs_asserts('PageCount(0, 10) == 0', 'PageCount(1, 10) == 1', 'PageCount(10, 10) == 1',
                            'PageCount(11, 10) == 2', 'PageCount(25, 5) == 5', 'PageCount(int.MaxValue, 1) == int.MaxValue',
                            'PageCount(int.MaxValue, 2) == 1073741824',
                            'Check.Throws<ArgumentOutOfRangeException>(() => PageCount(5, 0))',
                            'Check.Throws<ArgumentOutOfRangeException>(() => PageCount(-1, 5))'),
    mutants=[
        'public static int PageCount(int totalItems, int pageSize)\n{\n'
        '    ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);\n'
        '    ArgumentOutOfRangeException.ThrowIfNegative(totalItems);\n'
        '    return totalItems / pageSize + 1;\n}\n',
        'public static int PageCount(int totalItems, int pageSize)\n{\n'
        '    ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);\n'
        '    ArgumentOutOfRangeException.ThrowIfNegative(totalItems);\n'
        '    return (totalItems + pageSize - 1) / pageSize;\n}\n',
        'public static int PageCount(int totalItems, int pageSize)\n{\n'
        '    ArgumentOutOfRangeException.ThrowIfNegative(totalItems);\n'
        '    return pageSize == 0 ? 0 : (int)Math.Ceiling(totalItems / (double)pageSize);\n}\n',
    ])

task(
    id="cs-stub-backoff", kind="stub", language="csharp", difficulty=2, tags=["retry", "backoff", "overflow"],
    tokenBudget=256, stopTokens=CS_STOP, entryPoint="BackoffDelayMs",
    prompt="Write `public static int BackoffDelayMs(int attempt, int baseMs, int maxMs)` for exponential retry backoff: "
           "the delay before retry number `attempt` (1 for the first retry) is `baseMs * 2^(attempt - 1)`, capped at "
           "`maxMs`, and it must stay correct (capped, never negative) for large attempt numbers such as 100. Throw "
           "`ArgumentOutOfRangeException` when `attempt` < 1. Answer with the method only.",
    referenceSolution='public static int BackoffDelayMs(int attempt, int baseMs, int maxMs)\n{\n'
                      '    ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);\n'
                      '    var delay = (double)baseMs * Math.Pow(2, attempt - 1);\n'
                      '    return delay >= maxMs ? maxMs : (int)delay;\n}\n',
    supportCode='public static class Check\n{\n'
                '    public static bool Throws<T>(Action action) where T : Exception\n    {\n'
                '        try { action(); return false; } catch (T) { return true; }\n    }\n}\n',
    hiddenChecks=cs_asserts('BackoffDelayMs(1, 100, 10_000) == 100', 'BackoffDelayMs(2, 100, 10_000) == 200',
                            'BackoffDelayMs(4, 100, 10_000) == 800', 'BackoffDelayMs(8, 100, 10_000) == 10_000',
                            'BackoffDelayMs(7, 100, 6_400) == 6_400', 'BackoffDelayMs(33, 100, 10_000) == 10_000',
                            'BackoffDelayMs(100, 100, 10_000) == 10_000',
                            'Check.Throws<ArgumentOutOfRangeException>(() => BackoffDelayMs(0, 100, 1000))'),
    mutants=[
        'public static int BackoffDelayMs(int attempt, int baseMs, int maxMs)\n{\n'
        '    ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);\n'
        '    return Math.Min(maxMs, baseMs * (1 << (attempt - 1)));\n}\n',
        'public static int BackoffDelayMs(int attempt, int baseMs, int maxMs)\n{\n'
        '    ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);\n'
        '    var delay = (double)baseMs * Math.Pow(2, attempt);\n'
        '    return delay >= maxMs ? maxMs : (int)delay;\n}\n',
        'public static int BackoffDelayMs(int attempt, int baseMs, int maxMs)\n{\n'
        '    ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);\n'
        '    var delay = (double)baseMs * Math.Pow(2, attempt - 1);\n'
        '    return delay > maxMs ? maxMs - 1 : (int)delay;\n}\n',
    ])

# ---- C# refactor ----
task(
    id="cs-refactor-linq-total", kind="refactor", language="csharp", difficulty=2, tags=["linq", "refactor"],
    tokenBudget=256, stopTokens=CS_STOP, entryPoint="StockValue", structureRule="no-loops;uses-linq",
    prompt="Rewrite `StockValue` with LINQ instead of the loop, keeping its behaviour exactly. Answer with the method only.",
    contextFiles=[{"path": "Inventory.cs", "content":
                   'public sealed record Item(string Name, decimal Price, int Quantity, bool InStock);\n\n'
                   'public static decimal StockValue(IEnumerable<Item> items)\n{\n'
                   '    decimal total = 0;\n    foreach (var item in items)\n    {\n'
                   '        if (item.InStock && item.Quantity > 0)\n        {\n'
                   '            total += item.Price * item.Quantity;\n        }\n    }\n    return total;\n}\n'}],
    supportCode="public sealed record Item(string Name, decimal Price, int Quantity, bool InStock);\n",
    referenceSolution='public static decimal StockValue(IEnumerable<Item> items) =>\n'
                      '    items.Where(i => i.InStock && i.Quantity > 0).Sum(i => i.Price * i.Quantity);\n',
    hiddenChecks='var items = new List<Item> {\n'
                 '    new("pen", 1.50m, 10, true), new("ink", 4.25m, 2, true),\n'
                 '    new("pad", 3m, 5, false), new("cap", 2m, -3, true) };\n'
                 + cs_asserts('StockValue(items) == 23.50m', 'StockValue(new List<Item>()) == 0m',
                              'StockValue(new[] { new Item("x", 2m, 0, true) }) == 0m'),
    mutants=[
        'public static decimal StockValue(IEnumerable<Item> items) =>\n'
        '    items.Where(i => i.InStock).Sum(i => i.Price * i.Quantity);\n',
        'public static decimal StockValue(IEnumerable<Item> items) =>\n'
        '    items.Where(i => i.Quantity > 0).Sum(i => i.Price * i.Quantity);\n',
        'public static decimal StockValue(IEnumerable<Item> items) =>\n'
        '    items.Where(i => i.InStock && i.Quantity > 0).Sum(i => i.Price);\n',
    ])

task(
    id="cs-refactor-word-counts", kind="refactor", language="csharp", difficulty=3, tags=["linq", "group-by", "refactor"],
    tokenBudget=320, stopTokens=CS_STOP, entryPoint="WordCounts", structureRule="no-loops;uses-linq",
    prompt="Rewrite `WordCounts` as a LINQ query (GroupBy) with no loops, keeping its behaviour exactly. Answer with the "
           "method only.",
    contextFiles=[{"path": "Words.cs", "content":
                   'public static Dictionary<string, int> WordCounts(string text)\n{\n'
                   '    var counts = new Dictionary<string, int>();\n'
                   '    foreach (var raw in text.Split(new[] { \' \', \'\\n\', \'\\t\' }, StringSplitOptions.RemoveEmptyEntries))\n'
                   '    {\n        var word = raw.Trim(\'.\', \',\', \'!\', \'?\').ToLowerInvariant();\n'
                   '        if (word.Length == 0)\n        {\n            continue;\n        }\n'
                   '        counts[word] = counts.TryGetValue(word, out var n) ? n + 1 : 1;\n    }\n'
                   '    return counts;\n}\n'}],
    referenceSolution='public static Dictionary<string, int> WordCounts(string text) =>\n'
                      '    text.Split(new[] { \' \', \'\\n\', \'\\t\' }, StringSplitOptions.RemoveEmptyEntries)\n'
                      '        .Select(raw => raw.Trim(\'.\', \',\', \'!\', \'?\').ToLowerInvariant())\n'
                      '        .Where(word => word.Length > 0)\n'
                      '        .GroupBy(word => word)\n'
                      '        .ToDictionary(g => g.Key, g => g.Count());\n',
    hiddenChecks='var c = WordCounts("The cat and the hat.\\nThe END!  ?? end");\n'
                 + cs_asserts('c.Count == 5', 'c["the"] == 3', 'c["end"] == 2', 'c["cat"] == 1', 'c["hat"] == 1',
                              '!c.ContainsKey("")', 'WordCounts("").Count == 0'),
    mutants=[
        'public static Dictionary<string, int> WordCounts(string text) =>\n'
        '    text.Split(new[] { \' \', \'\\n\', \'\\t\' }, StringSplitOptions.RemoveEmptyEntries)\n'
        '        .Select(raw => raw.Trim(\'.\', \',\', \'!\', \'?\'))\n'
        '        .Where(word => word.Length > 0)\n'
        '        .GroupBy(word => word)\n'
        '        .ToDictionary(g => g.Key, g => g.Count());\n',
        'public static Dictionary<string, int> WordCounts(string text) =>\n'
        '    text.Split(new[] { \' \', \'\\n\', \'\\t\' }, StringSplitOptions.RemoveEmptyEntries)\n'
        '        .Select(raw => raw.Trim(\'.\', \',\', \'!\', \'?\').ToLowerInvariant())\n'
        '        .GroupBy(word => word)\n'
        '        .ToDictionary(g => g.Key, g => g.Count());\n',
        'public static Dictionary<string, int> WordCounts(string text) =>\n'
        '    text.Split(\' \', StringSplitOptions.RemoveEmptyEntries)\n'
        '        .Select(raw => raw.Trim(\'.\', \',\', \'!\', \'?\').ToLowerInvariant())\n'
        '        .Where(word => word.Length > 0)\n'
        '        .GroupBy(word => word)\n'
        '        .ToDictionary(g => g.Key, g => g.Count());\n',
    ])

task(
    id="cs-refactor-guard-clauses", kind="refactor", language="csharp", difficulty=2,
    tags=["guard-clauses", "readability", "refactor"], tokenBudget=320, stopTokens=CS_STOP, entryPoint="ShippingCost",
    structureRule="no-nested-if",
    prompt="Rewrite `ShippingCost` with guard clauses (early returns/throws) so that no `if` is nested inside another "
           "`if`, keeping its behaviour exactly. Answer with the method only.",
    contextFiles=[{"path": "Shipping.cs", "content":
                   'public static decimal ShippingCost(decimal weightKg, string country, bool express)\n{\n'
                   '    if (weightKg > 0)\n    {\n'
                   '        if (country == "DE" || country == "FR")\n        {\n'
                   '            if (express)\n            {\n                return 12m + weightKg;\n            }\n'
                   '            else\n            {\n                return weightKg <= 2 ? 4.90m : 4.90m + (weightKg - 2) * 0.5m;\n            }\n'
                   '        }\n        else\n        {\n'
                   '            throw new NotSupportedException($"no shipping to {country}");\n        }\n'
                   '    }\n    else\n    {\n'
                   '        throw new ArgumentOutOfRangeException(nameof(weightKg));\n    }\n}\n'}],
    supportCode='public static class Check\n{\n'
                '    public static bool Throws<T>(Action action) where T : Exception\n    {\n'
                '        try { action(); return false; } catch (T) { return true; }\n    }\n}\n',
    referenceSolution='public static decimal ShippingCost(decimal weightKg, string country, bool express)\n{\n'
                      '    if (weightKg <= 0)\n        throw new ArgumentOutOfRangeException(nameof(weightKg));\n'
                      '    if (country != "DE" && country != "FR")\n'
                      '        throw new NotSupportedException($"no shipping to {country}");\n'
                      '    if (express)\n        return 12m + weightKg;\n'
                      '    return weightKg <= 2 ? 4.90m : 4.90m + (weightKg - 2) * 0.5m;\n}\n',
    hiddenChecks=cs_asserts('ShippingCost(1m, "DE", false) == 4.90m', 'ShippingCost(2m, "FR", false) == 4.90m',
                            'ShippingCost(4m, "DE", false) == 5.90m', 'ShippingCost(3m, "FR", true) == 15m',
                            'Check.Throws<ArgumentOutOfRangeException>(() => ShippingCost(0m, "DE", false))',
                            'Check.Throws<NotSupportedException>(() => ShippingCost(1m, "US", false))',
                            'Check.Throws<ArgumentOutOfRangeException>(() => ShippingCost(-1m, "US", true))'),
    mutants=[
        'public static decimal ShippingCost(decimal weightKg, string country, bool express)\n{\n'
        '    if (weightKg < 0)\n        throw new ArgumentOutOfRangeException(nameof(weightKg));\n'
        '    if (country != "DE" && country != "FR")\n'
        '        throw new NotSupportedException($"no shipping to {country}");\n'
        '    if (express)\n        return 12m + weightKg;\n'
        '    return weightKg <= 2 ? 4.90m : 4.90m + (weightKg - 2) * 0.5m;\n}\n',
        'public static decimal ShippingCost(decimal weightKg, string country, bool express)\n{\n'
        '    if (country != "DE" && country != "FR")\n'
        '        throw new NotSupportedException($"no shipping to {country}");\n'
        '    if (weightKg <= 0)\n        throw new ArgumentOutOfRangeException(nameof(weightKg));\n'
        '    if (express)\n        return 12m + weightKg;\n'
        '    return weightKg <= 2 ? 4.90m : 4.90m + (weightKg - 2) * 0.5m;\n}\n',
        'public static decimal ShippingCost(decimal weightKg, string country, bool express)\n{\n'
        '    if (weightKg <= 0)\n        throw new ArgumentOutOfRangeException(nameof(weightKg));\n'
        '    if (country != "DE" && country != "FR")\n'
        '        throw new NotSupportedException($"no shipping to {country}");\n'
        '    if (express)\n        return 12m + weightKg;\n'
        '    return weightKg <= 2 ? 4.90m : 4.90m + weightKg * 0.5m;\n}\n',
    ])

task(
    id="cs-refactor-switch-expression", kind="refactor", language="csharp", difficulty=2,
    tags=["switch-expression", "pattern-matching", "refactor"], tokenBudget=256, stopTokens=CS_STOP,
    entryPoint="StatusCategory", structureRule="uses-switch-expression;no-if",
    prompt="Rewrite `StatusCategory` as a single switch expression (relational patterns are fine) with no `if` "
           "statements, keeping its behaviour exactly. Answer with the method only.",
    contextFiles=[{"path": "Http.cs", "content":
                   'public static string StatusCategory(int status)\n{\n'
                   '    if (status >= 100 && status < 200) return "informational";\n'
                   '    else if (status >= 200 && status < 300) return "success";\n'
                   '    else if (status >= 300 && status < 400) return "redirect";\n'
                   '    else if (status == 429) return "throttled";\n'
                   '    else if (status >= 400 && status < 500) return "client-error";\n'
                   '    else if (status >= 500 && status < 600) return "server-error";\n'
                   '    else return "unknown";\n}\n'}],
    referenceSolution='public static string StatusCategory(int status) => status switch\n{\n'
                      '    >= 100 and < 200 => "informational",\n    >= 200 and < 300 => "success",\n'
                      '    >= 300 and < 400 => "redirect",\n    429 => "throttled",\n'
                      '    >= 400 and < 500 => "client-error",\n    >= 500 and < 600 => "server-error",\n'
                      '    _ => "unknown",\n};\n',
    hiddenChecks=cs_asserts('StatusCategory(100) == "informational"', 'StatusCategory(204) == "success"',
                            'StatusCategory(299) == "success"', 'StatusCategory(300) == "redirect"', 'StatusCategory(301) == "redirect"',
                            'StatusCategory(429) == "throttled"', 'StatusCategory(404) == "client-error"',
                            'StatusCategory(499) == "client-error"', 'StatusCategory(500) == "server-error"',
                            'StatusCategory(600) == "unknown"', 'StatusCategory(99) == "unknown"'),
    mutants=[
        'public static string StatusCategory(int status) => status switch\n{\n'
        '    >= 100 and < 200 => "informational",\n    >= 200 and < 300 => "success",\n'
        '    >= 300 and < 400 => "redirect",\n    >= 400 and < 500 => "client-error",\n'
        '    >= 500 and < 600 => "server-error",\n'
        '    _ => "unknown",\n};\n',
        'public static string StatusCategory(int status) => status switch\n{\n'
        '    >= 100 and < 200 => "informational",\n    >= 200 and <= 300 => "success",\n'
        '    >= 300 and < 400 => "redirect",\n    429 => "throttled",\n'
        '    >= 400 and < 500 => "client-error",\n    >= 500 => "server-error",\n'
        '    _ => "unknown",\n};\n',
        'public static string StatusCategory(int status) => status switch\n{\n'
        '    < 200 => "informational",\n    < 300 => "success",\n'
        '    < 400 => "redirect",\n    429 => "throttled",\n'
        '    < 500 => "client-error",\n    < 600 => "server-error",\n'
        '    _ => "unknown",\n};\n',
    ])

# ---- C# unit-tests ----
CS_DISCOUNT = ('public static decimal CalculateDiscount(decimal price, int percent)\n{\n'
               '    if (price < 0) throw new ArgumentOutOfRangeException(nameof(price));\n'
               '    if (percent < 0 || percent > 100) throw new ArgumentOutOfRangeException(nameof(percent));\n'
               '    return Math.Round(price * (100 - percent) / 100m, 2, MidpointRounding.AwayFromZero);\n}\n')
task(
    id="cs-unit-tests-discount", kind="unit-tests", language="csharp", difficulty=2,
    tags=["xunit", "edge-cases", "money"], tokenBudget=512, entryPoint="CalculateDiscount",
    prompt="Write xunit tests for `CalculateDiscount(decimal price, int percent)`, which returns the price after a "
           "percentage discount rounded to cents (midpoints away from zero) and rejects a negative price or a percent "
           "outside 0..100." + CS_UNIT_PROMPT.format(fn="CalculateDiscount", file="Discount.cs"),
    contextFiles=[{"path": "Discount.cs", "content": CS_DISCOUNT}],
    supportCode=CS_DISCOUNT, hiddenChecks="",
    referenceSolution='public static class Tests\n{\n'
                      '    public static void TestNoDiscount() => Assert.Equal(80m, Problem.CalculateDiscount(80m, 0));\n'
                      '    public static void TestZeroPrice() => Assert.Equal(0m, Problem.CalculateDiscount(0m, 50));\n'
                      '    public static void TestFullDiscount() => Assert.Equal(0m, Problem.CalculateDiscount(80m, 100));\n'
                      '    public static void TestRoundsToCents() => Assert.Equal(8.49m, Problem.CalculateDiscount(9.99m, 15));\n'
                      '    public static void TestMidpointAwayFromZero() => Assert.Equal(0.13m, Problem.CalculateDiscount(0.25m, 50));\n'
                      '    public static void TestRejectsNegativePrice() =>\n'
                      '        Assert.Throws<ArgumentOutOfRangeException>(() => Problem.CalculateDiscount(-0.01m, 10));\n'
                      '    public static void TestRejectsPercentOutOfRange()\n    {\n'
                      '        Assert.Throws<ArgumentOutOfRangeException>(() => Problem.CalculateDiscount(10m, 101));\n'
                      '        Assert.Throws<ArgumentOutOfRangeException>(() => Problem.CalculateDiscount(10m, -1));\n    }\n}\n',
    mutants=[
        CS_DISCOUNT.replace(" || percent > 100", ""),
        CS_DISCOUNT.replace("percent > 100", "percent >= 100"),
        CS_DISCOUNT.replace("MidpointRounding.AwayFromZero", "MidpointRounding.ToEven"),
        CS_DISCOUNT.replace("if (price < 0)", "if (price <= 0)"),
    ])

CS_CLAMP = ('public static int Clamp(int value, int min, int max)\n{\n'
            '    if (min > max) throw new ArgumentException("min must not exceed max");\n'
            '    if (value < min) return min;\n    if (value > max) return max;\n    return value;\n}\n')
task(
    id="cs-unit-tests-clamp", kind="unit-tests", language="csharp", difficulty=1, tags=["xunit", "boundaries"],
    tokenBudget=400, entryPoint="Clamp",
    prompt="Write xunit tests for `Clamp(int value, int min, int max)`, which limits a value to the inclusive range "
           "[min, max] and throws `ArgumentException` when min > max (min == max is allowed)."
           + CS_UNIT_PROMPT.format(fn="Clamp", file="Clamp.cs"),
    contextFiles=[{"path": "Clamp.cs", "content": CS_CLAMP}], supportCode=CS_CLAMP, hiddenChecks="",
    referenceSolution='public static class Tests\n{\n'
                      '    public static void TestInside() => Assert.Equal(5, Problem.Clamp(5, 0, 10));\n'
                      '    public static void TestBelow() => Assert.Equal(0, Problem.Clamp(-3, 0, 10));\n'
                      '    public static void TestAbove() => Assert.Equal(10, Problem.Clamp(42, 0, 10));\n'
                      '    public static void TestAtBounds()\n    {\n'
                      '        Assert.Equal(0, Problem.Clamp(0, 0, 10));\n        Assert.Equal(10, Problem.Clamp(10, 0, 10));\n    }\n'
                      '    public static void TestEmptyRange() => Assert.Equal(7, Problem.Clamp(3, 7, 7));\n'
                      '    public static void TestMinAboveMaxThrows() => Assert.Throws<ArgumentException>(() => Problem.Clamp(1, 5, 4));\n}\n',
    mutants=[
        CS_CLAMP.replace("if (value > max) return max;", "if (value > max) return min;"),
        CS_CLAMP.replace("if (min > max)", "if (min >= max)"),
        CS_CLAMP.replace('    if (min > max) throw new ArgumentException("min must not exceed max");\n', ""),
        CS_CLAMP.replace("if (value < min) return min;", "if (value <= min) return min + 1;"),
    ])

CS_TRUNCATE = ('public static string Truncate(string text, int maxLength)\n{\n'
               '    if (maxLength < 1) throw new ArgumentOutOfRangeException(nameof(maxLength));\n'
               '    if (text.Length <= maxLength) return text;\n'
               '    return text[..(maxLength - 1)] + "\u2026";\n}\n')
task(
    id="cs-unit-tests-truncate", kind="unit-tests", language="csharp", difficulty=2, tags=["xunit", "strings", "boundaries"],
    tokenBudget=400, entryPoint="Truncate",
    prompt="Write xunit tests for `Truncate(string text, int maxLength)`: text no longer than maxLength is returned "
           "unchanged; longer text is cut so that the result, including a trailing ellipsis character '\u2026', is "
           "exactly maxLength characters; maxLength < 1 throws `ArgumentOutOfRangeException`."
           + CS_UNIT_PROMPT.format(fn="Truncate", file="Text.cs"),
    contextFiles=[{"path": "Text.cs", "content": CS_TRUNCATE}], supportCode=CS_TRUNCATE, hiddenChecks="",
    referenceSolution='public static class Tests\n{\n'
                      '    public static void TestShortUnchanged() => Assert.Equal("hi", Problem.Truncate("hi", 5));\n'
                      '    public static void TestExactLengthUnchanged() => Assert.Equal("hello", Problem.Truncate("hello", 5));\n'
                      '    public static void TestLongCut() => Assert.Equal("hell\u2026", Problem.Truncate("hello world", 5));\n'
                      '    public static void TestLengthOne() => Assert.Equal("\u2026", Problem.Truncate("ab", 1));\n'
                      '    public static void TestZeroThrows() =>\n'
                      '        Assert.Throws<ArgumentOutOfRangeException>(() => Problem.Truncate("abc", 0));\n}\n',
    mutants=[
        CS_TRUNCATE.replace("text.Length <= maxLength", "text.Length < maxLength"),
        CS_TRUNCATE.replace("text[..(maxLength - 1)]", "text[..maxLength]"),
        CS_TRUNCATE.replace("throw new ArgumentOutOfRangeException(nameof(maxLength))", 'return ""'),
    ])

CS_LEAP = ('public static bool IsLeapYear(int year) =>\n'
           '    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);\n')
task(
    id="cs-unit-tests-leap-year", kind="unit-tests", language="csharp", difficulty=1, tags=["xunit", "dates"],
    tokenBudget=320, entryPoint="IsLeapYear",
    prompt="Write xunit tests for `IsLeapYear(int year)` (Gregorian rules)."
           + CS_UNIT_PROMPT.format(fn="IsLeapYear", file="Calendar.cs"),
    contextFiles=[{"path": "Calendar.cs", "content": CS_LEAP}], supportCode=CS_LEAP, hiddenChecks="",
    referenceSolution='public static class Tests\n{\n'
                      '    public static void TestDivisibleByFour() => Assert.True(Problem.IsLeapYear(2024));\n'
                      '    public static void TestOrdinaryYear() => Assert.False(Problem.IsLeapYear(2023));\n'
                      '    public static void TestCentury() => Assert.False(Problem.IsLeapYear(1900));\n'
                      '    public static void TestFourHundred() => Assert.True(Problem.IsLeapYear(2000));\n}\n',
    mutants=[
        'public static bool IsLeapYear(int year) => year % 4 == 0;\n',
        'public static bool IsLeapYear(int year) =>\n    year % 4 == 0 && year % 100 != 0;\n',
    ])

# ---- C# explain ----
task(
    id="cs-explain-linq-top-customers", kind="explain", language="csharp", difficulty=2, tags=["linq", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what `TopCustomers` returns.",
    contextFiles=[{"path": "Reports.cs", "content":
                   'public static IEnumerable<(int CustomerId, decimal Total)> TopCustomers(IEnumerable<Order> orders, DateTime since) =>\n'
                   '    orders.Where(o => o.PlacedAt >= since)\n'
                   '          .GroupBy(o => o.CustomerId)\n'
                   '          .Select(g => (g.Key, g.Sum(o => o.Amount)))\n'
                   '          .OrderByDescending(x => x.Item2)\n'
                   '          .Take(5);\n'}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "top five", "phrasings": ["top five", "top 5", "five customers", "5 customers", "five highest", "5 highest", "five biggest", "five largest"]},
                {"name": "total per customer", "phrasings": ["total", "sum", "spent", "added up"]},
                {"name": "since the date", "phrasings": ["since", "on or after", "after the given date", "from the given date"]}],
            "wrongClaims": ["ascending", "number of orders", "first five orders", "oldest", "average"]},
    referenceSolution="It sums the amount of each customer's orders placed since the given date. It returns the top five "
                      "customers by that total, largest first, as pairs of customer id and total.",
    mutants=["It returns the first five orders placed since the given date, sorted by amount.",
             "It counts each customer's orders since the given date and returns the five customers with the highest "
             "number of orders.",
             "It returns the top 5 customers by total spent, sorted ascending."])

task(
    id="cs-explain-password-regex", kind="explain", language="csharp", difficulty=2, tags=["regex", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain which passwords `IsStrong` accepts.",
    contextFiles=[{"path": "Passwords.cs", "content":
                   'private static readonly Regex Strong = new(@"^(?=.*\\d)(?=.*[A-Z])\\S{10,64}$");\n\n'
                   'public static bool IsStrong(string password) => Strong.IsMatch(password);\n'}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "length 10 to 64", "phrasings": ["10 to 64", "10 and 64", "10-64", "10\u201364", "ten to sixty-four", "between 10", "at most 64", "up to 64", "maximum of 64"]},
                {"name": "a digit", "phrasings": ["digit", "number", "numeral"]},
                {"name": "an uppercase letter", "phrasings": ["uppercase", "upper-case", "capital", "upper case"]},
                {"name": "no whitespace", "phrasings": ["no whitespace", "no spaces", "without spaces", "without whitespace", "non-whitespace", "no white space"]}],
            "wrongClaims": ["special character", "symbol", "lowercase letter", "at most 10", "exactly 10"]},
    referenceSolution="It accepts passwords of 10 to 64 characters with no whitespace. Each must contain at least one "
                      "digit and at least one uppercase letter; lookaheads check those anywhere in the string.",
    mutants=["It accepts passwords of 10 to 64 characters that contain a digit, an uppercase letter and a special "
             "character, with no whitespace.",
             "It accepts any password of at least 10 characters that includes a digit and an uppercase letter."])

task(
    id="cs-explain-throttled-downloads", kind="explain", language="csharp", difficulty=3,
    tags=["async", "concurrency", "explain"], tokenBudget=160,
    prompt="In two sentences, explain what `DownloadAllAsync` does and how many downloads run at once.",
    contextFiles=[{"path": "Downloader.cs", "content":
                   'public static async Task<string[]> DownloadAllAsync(HttpClient http, IEnumerable<Uri> uris)\n{\n'
                   '    using var gate = new SemaphoreSlim(4);\n'
                   '    var tasks = uris.Select(async uri =>\n    {\n'
                   '        await gate.WaitAsync();\n'
                   '        try { return await http.GetStringAsync(uri); }\n'
                   '        finally { gate.Release(); }\n    });\n'
                   '    return await Task.WhenAll(tasks);\n}\n'}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "at most four at once", "phrasings": ["at most four", "at most 4", "up to four", "up to 4", "no more than four", "no more than 4", "four at a time", "4 at a time", "four concurrent", "4 concurrent", "maximum of four", "maximum of 4", "max 4", "four at once", "4 at once", "four in parallel", "4 in parallel", "four simultaneous", "4 simultaneous"]},
                {"name": "waits for all", "phrasings": ["all of them", "all downloads", "every download", "whenall", "when all", "all complete", "all finish"]},
                {"name": "results in input order", "phrasings": ["same order", "input order", "order of the", "in order"]}],
            "wrongClaims": ["one at a time", "sequentially", "per second", "all at once", "cancels", "retries", "ignores errors", "four seconds"]},
    referenceSolution="It downloads every URI as a string, using a semaphore so that at most four requests run at the "
                      "same time. It waits until all downloads finish and returns their bodies in the same order as the "
                      "input URIs.",
    mutants=["It downloads the URIs one at a time and returns their bodies in the same order once all downloads finish.",
             "It starts all downloads at once, at most four per second, and returns all bodies in input order."])

task(
    id="cs-explain-sql-departments", kind="explain", language="csharp", difficulty=2, tags=["sql", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what rows the SQL query in `Sql` returns.",
    contextFiles=[{"path": "HrQueries.cs", "content":
                   'public const string Sql = """\n'
                   '    SELECT department, AVG(salary) AS avg_salary\n'
                   '    FROM employees\n'
                   "    WHERE hired_at < '2020-01-01'\n"
                   '    GROUP BY department\n'
                   '    HAVING COUNT(*) >= 5\n'
                   '    ORDER BY avg_salary DESC\n'
                   '    """;\n'}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "average salary per department", "phrasings": ["average salary", "mean salary", "avg salary"]},
                {"name": "hired before 2020", "phrasings": ["before 2020", "before january 1, 2020", "before 1 january 2020", "prior to 2020", "before the start of 2020", "before 2020-01-01"]},
                {"name": "at least five employees", "phrasings": ["at least five", "at least 5", "five or more", "5 or more"]},
                {"name": "highest first", "phrasings": ["highest first", "descending", "highest average first", "largest first"]}],
            "wrongClaims": ["after 2020", "maximum salary", "highest salary in", "more than five", "more than 5", "ascending"]},
    referenceSolution="For employees hired before 2020, it computes the average salary of each department, keeping only "
                      "departments with at least five such employees. The rows are ordered by that average, highest first.",
    mutants=["It returns each department's average salary for employees hired before 2020 where the department has "
             "more than five employees, sorted descending.",
             "It lists the maximum salary of each department with at least five employees hired before 2020, in "
             "descending order."])

# ---- C# fix ----
task(
    id="cs-fix-average", kind="fix", language="csharp", difficulty=1, tags=["integer-division", "empty-input"],
    tokenBudget=256, stopTokens=CS_STOP, entryPoint="Average",
    prompt="`Average(int[] values)` should return the arithmetic mean as a double, and 0 for an empty array. The hidden "
           "checks fail with the output below. Fix the method and answer with the whole corrected method.",
    contextFiles=[{"path": "Stats.cs", "content":
                   'public static double Average(int[] values)\n{\n'
                   '    if (values.Length == 0) return 0;\n'
                   '    var sum = 0;\n    foreach (var v in values) sum += v;\n'
                   '    return sum / values.Length;\n}\n'}],
    referenceSolution='public static double Average(int[] values)\n{\n'
                      '    if (values.Length == 0) return 0;\n'
                      '    long sum = 0;\n    foreach (var v in values) sum += v;\n'
                      '    return (double)sum / values.Length;\n}\n',
    hiddenChecks=cs_asserts('Average(new[] { 2, 4 }) == 3.0', 'Average(new[] { 1, 2 }) == 1.5',
                            'Average(new[] { -1, -2 }) == -1.5', 'Average(new int[0]) == 0.0',
                            'Average(new[] { int.MaxValue, int.MaxValue }) == int.MaxValue'),
    mutants=[
        'public static double Average(int[] values)\n{\n'
        '    if (values.Length == 0) return 0;\n'
        '    var sum = 0;\n    foreach (var v in values) sum += v;\n'
        '    return (double)(sum / values.Length);\n}\n',
        'public static double Average(int[] values)\n{\n'
        '    var sum = 0;\n    foreach (var v in values) sum += v;\n'
        '    return (double)sum / values.Length;\n}\n',
        'public static double Average(int[] values)\n{\n'
        '    if (values.Length == 0) return 0;\n'
        '    var sum = 0;\n    foreach (var v in values) sum += v;\n'
        '    return (double)sum / values.Length;\n}\n',
    ])

task(
    id="cs-fix-palindrome", kind="fix", language="csharp", difficulty=2, tags=["strings", "off-by-one"],
    tokenBudget=256, stopTokens=CS_STOP, entryPoint="IsPalindrome",
    prompt="`IsPalindrome(string text)` should ignore case and every character that is not a letter or digit. The "
           "hidden checks fail with the output below. Fix it and answer with the whole corrected method.",
    contextFiles=[{"path": "Palindrome.cs", "content":
                   'public static bool IsPalindrome(string text)\n{\n'
                   '    var chars = text.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray();\n'
                   '    for (var i = 0; i < chars.Length / 2; i++)\n    {\n'
                   '        if (chars[i] != chars[chars.Length - i]) return false;\n    }\n'
                   '    return true;\n}\n'}],
    referenceSolution='public static bool IsPalindrome(string text)\n{\n'
                      '    var chars = text.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray();\n'
                      '    for (var i = 0; i < chars.Length / 2; i++)\n    {\n'
                      '        if (chars[i] != chars[chars.Length - 1 - i]) return false;\n    }\n'
                      '    return true;\n}\n',
    hiddenChecks=cs_asserts('IsPalindrome("racecar")', 'IsPalindrome("A man, a plan, a canal: Panama!")',
                            'IsPalindrome("")', 'IsPalindrome("x")', '!IsPalindrome("abca")', '!IsPalindrome("ab")',
                            'IsPalindrome("No lemon, no melon")'),
    mutants=[
        'public static bool IsPalindrome(string text)\n{\n'
        '    var chars = text.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray();\n'
        '    for (var i = 1; i < chars.Length / 2; i++)\n    {\n'
        '        if (chars[i] != chars[chars.Length - i]) return false;\n    }\n'
        '    return true;\n}\n',
        'public static bool IsPalindrome(string text) => text.SequenceEqual(text.Reverse());\n',
        'public static bool IsPalindrome(string text)\n{\n'
        '    var chars = text.Where(char.IsLetterOrDigit).ToArray();\n'
        '    for (var i = 0; i < chars.Length / 2; i++)\n    {\n'
        '        if (chars[i] != chars[chars.Length - 1 - i]) return false;\n    }\n'
        '    return true;\n}\n',
    ])

task(
    id="cs-fix-median", kind="fix", language="csharp", difficulty=2, tags=["statistics", "off-by-one", "sorting"],
    tokenBudget=256, stopTokens=CS_STOP, entryPoint="Median",
    prompt="`Median(IReadOnlyList<double> values)` should return the median of a non-empty list without changing the "
           "caller's list (the mean of the two middle values for an even count). The hidden checks fail with the output "
           "below. Fix it and answer with the whole corrected method.",
    contextFiles=[{"path": "Median.cs", "content":
                   'public static double Median(IReadOnlyList<double> values)\n{\n'
                   '    var sorted = values.Order().ToArray();\n'
                   '    var mid = sorted.Length / 2;\n'
                   '    return sorted[mid];\n}\n'}],
    referenceSolution='public static double Median(IReadOnlyList<double> values)\n{\n'
                      '    var sorted = values.Order().ToArray();\n'
                      '    var mid = sorted.Length / 2;\n'
                      '    return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;\n}\n',
    hiddenChecks='var input = new List<double> { 9, 1, 5 };\n'
                 + cs_asserts('Median(input) == 5', 'input[0] == 9', 'Median(new[] { 4.0, 1, 3, 2 }) == 2.5',
                              'Median(new[] { 7.0 }) == 7', 'Median(new[] { 1.0, 2 }) == 1.5'),
    mutants=[
        'public static double Median(IReadOnlyList<double> values)\n{\n'
        '    var sorted = values.Order().ToArray();\n'
        '    var mid = sorted.Length / 2;\n'
        '    return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid] + sorted[mid + 1]) / 2;\n}\n',
        'public static double Median(IReadOnlyList<double> values)\n{\n'
        '    var mid = values.Count / 2;\n'
        '    return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;\n}\n',
        'public static double Median(IReadOnlyList<double> values)\n{\n'
        '    var sorted = values.Order().ToArray();\n'
        '    var mid = sorted.Length / 2;\n'
        '    return sorted.Length % 2 == 1 ? sorted[mid] : (int)(sorted[mid - 1] + sorted[mid]) / 2;\n}\n',
    ])

task(
    id="cs-fix-word-frequency", kind="fix", language="csharp", difficulty=2, tags=["dictionary", "strings"],
    tokenBudget=320, stopTokens=CS_STOP, entryPoint="CountWords",
    prompt="`CountWords(string text)` should count words case-insensitively (keys lower-case), where words are "
           "separated by any run of spaces. The hidden checks fail with the output below. Fix it and answer with the "
           "whole corrected method.",
    contextFiles=[{"path": "Frequency.cs", "content":
                   'public static Dictionary<string, int> CountWords(string text)\n{\n'
                   '    var counts = new Dictionary<string, int>();\n'
                   "    foreach (var word in text.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries))\n"
                   '    {\n        counts[word]++;\n    }\n    return counts;\n}\n'}],
    referenceSolution='public static Dictionary<string, int> CountWords(string text)\n{\n'
                      '    var counts = new Dictionary<string, int>();\n'
                      "    foreach (var word in text.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries))\n"
                      '    {\n        counts[word] = counts.GetValueOrDefault(word) + 1;\n    }\n    return counts;\n}\n',
    hiddenChecks='var c = CountWords("the Cat  saw THE cat");\n'
                 + cs_asserts('c.Count == 3', 'c["the"] == 2', 'c["cat"] == 2', 'c["saw"] == 1', '!c.ContainsKey("")',
                              'CountWords("   ").Count == 0'),
    mutants=[
        'public static Dictionary<string, int> CountWords(string text)\n{\n'
        '    var counts = new Dictionary<string, int>();\n'
        "    foreach (var word in text.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries))\n"
        '    {\n        counts[word] = 1;\n    }\n    return counts;\n}\n',
        'public static Dictionary<string, int> CountWords(string text)\n{\n'
        '    var counts = new Dictionary<string, int>();\n'
        "    foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))\n"
        '    {\n        counts[word] = counts.GetValueOrDefault(word) + 1;\n    }\n    return counts;\n}\n',
        'public static Dictionary<string, int> CountWords(string text)\n{\n'
        '    var counts = new Dictionary<string, int>();\n'
        "    foreach (var word in text.ToLowerInvariant().Split(' '))\n"
        '    {\n        counts[word] = counts.GetValueOrDefault(word) + 1;\n    }\n    return counts;\n}\n',
    ])

# ---------------------------------------------------------------------------------------------------------------
# Python
# ---------------------------------------------------------------------------------------------------------------
PY_STOP = ["\nif __name__", "\n# Example usage", "\nprint("]

# ---- Python stub ----
task(
    id="py-stub-parse-date", kind="stub", language="python", difficulty=2, tags=["dates", "parsing"], tokenBudget=320,
    stopTokens=PY_STOP, entryPoint="parse_date",
    prompt="Write a Python function `parse_date(text: str) -> datetime.date | None` that accepts a date written as "
           "`YYYY-MM-DD` or as `DD/MM/YYYY` (day first) and returns a `datetime.date`; it returns None for any other "
           "format or an impossible date such as 2023-02-29. Leading and trailing spaces are ignored. Include the imports.",
    referenceSolution="import datetime\n\n\ndef parse_date(text: str) -> datetime.date | None:\n"
                      "    text = text.strip()\n"
                      "    for fmt in ('%Y-%m-%d', '%d/%m/%Y'):\n"
                      "        try:\n"
                      "            return datetime.datetime.strptime(text, fmt).date()\n"
                      "        except ValueError:\n"
                      "            pass\n"
                      "    return None\n",
    hiddenChecks="import datetime as _dt\n" + py_asserts(
        "parse_date('2024-02-29') == _dt.date(2024, 2, 29)", "parse_date('05/01/2024') == _dt.date(2024, 1, 5)",
        "parse_date(' 31/12/1999 ') == _dt.date(1999, 12, 31)", "parse_date('2023-02-29') is None",
        "parse_date('31/02/2024') is None", "parse_date('2024/01/05') is None", "parse_date('') is None",
        "parse_date('yesterday') is None"),
    mutants=[
        "import datetime\n\n\ndef parse_date(text: str) -> datetime.date | None:\n"
        "    text = text.strip()\n"
        "    for fmt in ('%Y-%m-%d', '%m/%d/%Y'):\n"
        "        try:\n"
        "            return datetime.datetime.strptime(text, fmt).date()\n"
        "        except ValueError:\n"
        "            pass\n"
        "    return None\n",
        "import datetime\n\n\ndef parse_date(text: str) -> datetime.date | None:\n"
        "    text = text.strip()\n"
        "    if '-' in text:\n"
        "        y, m, d = text.split('-')\n"
        "        return datetime.date(int(y), int(m), int(d))\n"
        "    if '/' in text:\n"
        "        d, m, y = text.split('/')\n"
        "        return datetime.date(int(y), int(m), int(d))\n"
        "    return None\n",
        "import datetime\n\n\ndef parse_date(text: str) -> datetime.date | None:\n"
        "    for fmt in ('%Y-%m-%d', '%d/%m/%Y'):\n"
        "        try:\n"
        "            return datetime.datetime.strptime(text, fmt).date()\n"
        "        except ValueError:\n"
        "            pass\n"
        "    return None\n",
    ])

task(
    id="py-stub-group-by", kind="stub", language="python", difficulty=2, tags=["collections", "group-by"],
    tokenBudget=256, stopTokens=PY_STOP, entryPoint="group_by",
    prompt="Write `group_by(items, key)` that returns a dict mapping each `key(item)` to the list of items with that "
           "key, keeping the items' original order inside each list and the keys in order of first appearance. "
           "Items need not be hashable and need not be sorted.",
    referenceSolution="def group_by(items, key):\n"
                      "    groups = {}\n"
                      "    for item in items:\n"
                      "        groups.setdefault(key(item), []).append(item)\n"
                      "    return groups\n",
    hiddenChecks=py_asserts(
        "group_by(['apple', 'bob', 'avocado', 'cat', 'bee'], lambda s: s[0]) == "
        "{'a': ['apple', 'avocado'], 'b': ['bob', 'bee'], 'c': ['cat']}",
        "list(group_by([3, 1, 2, 5], lambda n: n % 2)) == [1, 0]",
        "group_by([], len) == {}",
        "group_by([[1], [2], [1]], len) == {1: [[1], [2], [1]]}",
        "group_by(['x', 'x'], lambda s: s) == {'x': ['x', 'x']}"),
    mutants=[
        "import itertools\n\n\ndef group_by(items, key):\n"
        "    return {k: list(g) for k, g in itertools.groupby(items, key)}\n",
        "def group_by(items, key):\n"
        "    groups = {}\n"
        "    for item in items:\n"
        "        groups[key(item)] = [item]\n"
        "    return groups\n",
        "import itertools\n\n\ndef group_by(items, key):\n"
        "    return {k: list(g) for k, g in itertools.groupby(sorted(items, key=key), key)}\n",
    ])

task(
    id="py-stub-retry", kind="stub", language="python", difficulty=3, tags=["retry", "backoff", "exceptions"],
    tokenBudget=384, stopTokens=PY_STOP, entryPoint="retry",
    prompt="Write `retry(func, attempts=3, base_delay=0.1, sleep=time.sleep)` that calls `func()` and returns its "
           "result. If the call raises an `Exception`, it sleeps `base_delay * 2 ** n` seconds (n = 0 for the first "
           "retry, 1 for the second, ...) and tries again, calling `func` at most `attempts` times in total; when the "
           "last attempt fails it re-raises that exception (no sleep after the last attempt). `attempts` < 1 raises "
           "ValueError. Include the imports.",
    referenceSolution="import time\n\n\ndef retry(func, attempts=3, base_delay=0.1, sleep=time.sleep):\n"
                      "    if attempts < 1:\n"
                      "        raise ValueError('attempts must be >= 1')\n"
                      "    for n in range(attempts):\n"
                      "        try:\n"
                      "            return func()\n"
                      "        except Exception:\n"
                      "            if n == attempts - 1:\n"
                      "                raise\n"
                      "            sleep(base_delay * 2 ** n)\n",
    hiddenChecks="class Flaky:\n"
                 "    def __init__(self, failures):\n"
                 "        self.failures, self.calls = failures, 0\n"
                 "    def __call__(self):\n"
                 "        self.calls += 1\n"
                 "        if self.calls <= self.failures:\n"
                 "            raise ConnectionError(f'fail {self.calls}')\n"
                 "        return 'ok'\n\n"
                 "delays = []\n"
                 "f = Flaky(2)\n"
                 "assert retry(f, attempts=3, base_delay=0.5, sleep=delays.append) == 'ok'\n"
                 "assert f.calls == 3 and delays == [0.5, 1.0], (f.calls, delays)\n"
                 "delays = []\n"
                 "f = Flaky(5)\n"
                 "try:\n"
                 "    retry(f, attempts=3, base_delay=1, sleep=delays.append)\n"
                 "    raise AssertionError('expected ConnectionError')\n"
                 "except ConnectionError as e:\n"
                 "    assert str(e) == 'fail 3', str(e)\n"
                 "assert f.calls == 3 and delays == [1, 2], (f.calls, delays)\n"
                 "delays = []\n"
                 "assert retry(lambda: 42, sleep=delays.append) == 42 and delays == []\n"
                 "try:\n"
                 "    retry(lambda: 1, attempts=0, sleep=delays.append)\n"
                 "    raise AssertionError('expected ValueError')\n"
                 "except ValueError:\n"
                 "    pass\n",
    mutants=[
        "import time\n\n\ndef retry(func, attempts=3, base_delay=0.1, sleep=time.sleep):\n"
        "    if attempts < 1:\n"
        "        raise ValueError('attempts must be >= 1')\n"
        "    last = None\n"
        "    for n in range(attempts):\n"
        "        try:\n"
        "            return func()\n"
        "        except Exception as e:\n"
        "            last = e\n"
        "            sleep(base_delay * 2 ** n)\n"
        "    raise last\n",
        "import time\n\n\ndef retry(func, attempts=3, base_delay=0.1, sleep=time.sleep):\n"
        "    if attempts < 1:\n"
        "        raise ValueError('attempts must be >= 1')\n"
        "    for n in range(1, attempts + 1):\n"
        "        try:\n"
        "            return func()\n"
        "        except Exception:\n"
        "            if n == attempts:\n"
        "                raise\n"
        "            sleep(base_delay * 2 ** n)\n",
        "import time\n\n\ndef retry(func, attempts=3, base_delay=0.1, sleep=time.sleep):\n"
        "    if attempts < 1:\n"
        "        raise ValueError('attempts must be >= 1')\n"
        "    for n in range(attempts):\n"
        "        try:\n"
        "            return func()\n"
        "        except Exception:\n"
        "            sleep(base_delay * 2 ** n)\n"
        "    return None\n",
    ])

task(
    id="py-stub-chunked", kind="stub", language="python", difficulty=1, tags=["lists", "boundaries"], tokenBudget=256,
    stopTokens=PY_STOP, entryPoint="chunked",
    prompt="Write `chunked(items: list, size: int) -> list[list]` that splits a list into consecutive chunks of "
           "`size` items (the last chunk may be shorter). `size` < 1 raises ValueError.",
    referenceSolution="def chunked(items: list, size: int) -> list[list]:\n"
                      "    if size < 1:\n"
                      "        raise ValueError('size must be >= 1')\n"
                      "    return [items[i:i + size] for i in range(0, len(items), size)]\n",
    hiddenChecks=py_asserts(
        "chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]", "chunked([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]",
        "chunked([], 3) == []", "chunked([1], 5) == [[1]]", "chunked(list('abc'), 1) == [['a'], ['b'], ['c']]")
        + "try:\n    chunked([1], 0)\n    raise AssertionError('expected ValueError')\nexcept ValueError:\n    pass\n",
    mutants=[
        "def chunked(items: list, size: int) -> list[list]:\n"
        "    if size < 1:\n"
        "        raise ValueError('size must be >= 1')\n"
        "    return [items[i:i + size] for i in range(0, len(items) - size + 1, size)]\n",
        "def chunked(items: list, size: int) -> list[list]:\n"
        "    if size < 1:\n"
        "        raise ValueError('size must be >= 1')\n"
        "    return [items[i:i + size] for i in range(0, len(items) + 1, size)]\n",
        "def chunked(items: list, size: int) -> list[list]:\n"
        "    if size < 0:\n"
        "        raise ValueError('size must be >= 0')\n"
        "    return [items[i:i + size] for i in range(0, len(items), size or 1)]\n",
    ])

# ---- Python refactor ----
task(
    id="py-refactor-comprehension", kind="refactor", language="python", difficulty=1,
    tags=["comprehension", "refactor"], tokenBudget=256, stopTokens=PY_STOP, entryPoint="active_emails",
    structureRule="no-loops;uses-comprehension",
    prompt="Rewrite `active_emails` as a single list comprehension with no `for` statement, keeping its behaviour "
           "exactly.",
    contextFiles=[{"path": "users.py", "content":
                   "def active_emails(users):\n"
                   "    result = []\n"
                   "    for user in users:\n"
                   "        if user.get('active') and user.get('email'):\n"
                   "            result.append(user['email'].strip().lower())\n"
                   "    return result\n"}],
    referenceSolution="def active_emails(users):\n"
                      "    return [u['email'].strip().lower() for u in users if u.get('active') and u.get('email')]\n",
    hiddenChecks="users = [\n"
                 "    {'email': ' Ann@Example.com ', 'active': True},\n"
                 "    {'email': 'bob@example.com', 'active': False},\n"
                 "    {'active': True},\n"
                 "    {'email': '', 'active': True},\n"
                 "    {'email': 'cy@example.com'},\n"
                 "    {'email': 'Dee@example.com', 'active': 1},\n"
                 "]\n" + py_asserts("active_emails(users) == ['ann@example.com', 'dee@example.com']",
                                    "active_emails([]) == []"),
    mutants=[
        "def active_emails(users):\n"
        "    return [u['email'].strip().lower() for u in users if u.get('email')]\n",
        "def active_emails(users):\n"
        "    return [u['email'].lower() for u in users if u.get('active') and u.get('email')]\n",
        "def active_emails(users):\n"
        "    return [u.get('email', '').strip().lower() for u in users if u.get('active')]\n",
    ])

task(
    id="py-refactor-guard-clauses", kind="refactor", language="python", difficulty=2,
    tags=["guard-clauses", "readability", "refactor"], tokenBudget=320, stopTokens=PY_STOP, entryPoint="ticket_price",
    structureRule="no-nested-if",
    prompt="Rewrite `ticket_price` with guard clauses (early returns/raises) so that no `if` is nested inside another "
           "`if` (an `elif` chain is fine), keeping its behaviour exactly.",
    contextFiles=[{"path": "tickets.py", "content":
                   "def ticket_price(age, is_student, day):\n"
                   "    if age >= 0:\n"
                   "        if day in ('sat', 'sun'):\n"
                   "            base = 14\n"
                   "        else:\n"
                   "            base = 10\n"
                   "        if age < 6:\n"
                   "            return 0\n"
                   "        else:\n"
                   "            if age >= 65 or is_student:\n"
                   "                return base / 2\n"
                   "            else:\n"
                   "                return base\n"
                   "    else:\n"
                   "        raise ValueError('age must be >= 0')\n"}],
    referenceSolution="def ticket_price(age, is_student, day):\n"
                      "    if age < 0:\n"
                      "        raise ValueError('age must be >= 0')\n"
                      "    if age < 6:\n"
                      "        return 0\n"
                      "    base = 14 if day in ('sat', 'sun') else 10\n"
                      "    if age >= 65 or is_student:\n"
                      "        return base / 2\n"
                      "    return base\n",
    hiddenChecks=py_asserts("ticket_price(0, False, 'mon') == 0", "ticket_price(5, True, 'sat') == 0",
                            "ticket_price(6, False, 'mon') == 10", "ticket_price(30, False, 'sun') == 14",
                            "ticket_price(30, True, 'sat') == 7", "ticket_price(65, False, 'tue') == 5",
                            "ticket_price(64, False, 'tue') == 10")
                 + "try:\n    ticket_price(-1, False, 'mon')\n    raise AssertionError('expected ValueError')\n"
                   "except ValueError:\n    pass\n",
    mutants=[
        "def ticket_price(age, is_student, day):\n"
        "    if age < 0:\n"
        "        raise ValueError('age must be >= 0')\n"
        "    if age <= 6:\n"
        "        return 0\n"
        "    base = 14 if day in ('sat', 'sun') else 10\n"
        "    if age >= 65 or is_student:\n"
        "        return base / 2\n"
        "    return base\n",
        "def ticket_price(age, is_student, day):\n"
        "    if age < 0:\n"
        "        raise ValueError('age must be >= 0')\n"
        "    if age < 6:\n"
        "        return 0\n"
        "    base = 14 if day in ('sat', 'sun') else 10\n"
        "    if age > 65 or is_student:\n"
        "        return base / 2\n"
        "    return base\n",
        "def ticket_price(age, is_student, day):\n"
        "    if age < 0:\n"
        "        raise ValueError('age must be >= 0')\n"
        "    if age < 6:\n"
        "        return 0\n"
        "    base = 14 if day == 'sat' else 10\n"
        "    if age >= 65 or is_student:\n"
        "        return base / 2\n"
        "    return base\n",
    ])

task(
    id="py-refactor-fstring", kind="refactor", language="python", difficulty=1, tags=["f-strings", "formatting", "refactor"],
    tokenBudget=256, stopTokens=PY_STOP, entryPoint="format_line", structureRule="uses-fstring;no-string-format",
    prompt="Rewrite `format_line` to build its string with an f-string instead of `%` formatting, keeping the output "
           "exactly the same.",
    contextFiles=[{"path": "invoice.py", "content":
                   "def format_line(name, qty, unit_price):\n"
                   "    return '%-10s x%3d @ %8.2f = %9.2f' % (name[:10], qty, unit_price, qty * unit_price)\n"}],
    referenceSolution="def format_line(name, qty, unit_price):\n"
                      "    return f'{name[:10]:<10} x{qty:3d} @ {unit_price:8.2f} = {qty * unit_price:9.2f}'\n",
    hiddenChecks=py_asserts("format_line('pen', 3, 1.5) == 'pen        x  3 @     1.50 =      4.50'",
                            "format_line('notebook-deluxe', 12, 10.0) == 'notebook-d x 12 @    10.00 =    120.00'",
                            "format_line('ink', 1, 0.005) == 'ink        x  1 @     0.01 =      0.01'"),
    mutants=[
        "def format_line(name, qty, unit_price):\n"
        "    return f'{name:<10} x{qty:3d} @ {unit_price:8.2f} = {qty * unit_price:9.2f}'\n",
        "def format_line(name, qty, unit_price):\n"
        "    return f'{name[:10]:>10} x{qty:3d} @ {unit_price:8.2f} = {qty * unit_price:9.2f}'\n",
        "def format_line(name, qty, unit_price):\n"
        "    return f'{name[:10]:<10} x{qty:3d} @ {unit_price:8.2f} = {round(qty * unit_price):9.2f}'\n",
    ])

task(
    id="py-refactor-dataclass", kind="refactor", language="python", difficulty=2, tags=["dataclass", "refactor"],
    tokenBudget=320, stopTokens=PY_STOP, entryPoint="Version", structureRule="uses-dataclass;no-dunder-methods",
    prompt="Replace the hand-written `__init__`, `__eq__`, `__repr__` and `__lt__` of `Version` with a "
           "`@dataclass`, keeping its behaviour (construction, equality, repr and ordering) exactly. Include the import.",
    contextFiles=[{"path": "version.py", "content":
                   "class Version:\n"
                   "    def __init__(self, major, minor=0, patch=0):\n"
                   "        self.major = major\n"
                   "        self.minor = minor\n"
                   "        self.patch = patch\n\n"
                   "    def __eq__(self, other):\n"
                   "        if other.__class__ is not self.__class__:\n"
                   "            return NotImplemented\n"
                   "        return (self.major, self.minor, self.patch) == (other.major, other.minor, other.patch)\n\n"
                   "    def __lt__(self, other):\n"
                   "        if other.__class__ is not self.__class__:\n"
                   "            return NotImplemented\n"
                   "        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)\n\n"
                   "    def __repr__(self):\n"
                   "        return f'Version(major={self.major!r}, minor={self.minor!r}, patch={self.patch!r})'\n"}],
    referenceSolution="from dataclasses import dataclass\n\n\n@dataclass(order=True)\nclass Version:\n"
                      "    major: int\n    minor: int = 0\n    patch: int = 0\n",
    hiddenChecks=py_asserts(
        "Version(1, 2, 3) == Version(1, 2, 3)", "Version(1) == Version(1, 0, 0)", "Version(1, 2) != Version(1, 3)",
        "repr(Version(2, 0, 1)) == 'Version(major=2, minor=0, patch=1)'",
        "sorted([Version(1, 10), Version(1, 2), Version(0, 9, 9)]) == [Version(0, 9, 9), Version(1, 2), Version(1, 10)]",
        "Version(1, 2, 3) < Version(1, 3)", "not (Version(2) < Version(1, 9))", "Version(1) != (1, 0, 0)"),
    mutants=[
        "from dataclasses import dataclass\n\n\n@dataclass\nclass Version:\n"
        "    major: int\n    minor: int = 0\n    patch: int = 0\n",
        "from dataclasses import dataclass\n\n\n@dataclass(order=True)\nclass Version:\n"
        "    major: int\n    patch: int = 0\n    minor: int = 0\n",
        "from dataclasses import dataclass\n\n\n@dataclass(order=True)\nclass Version:\n"
        "    major: str\n    minor: str = '0'\n    patch: str = '0'\n\n"
        "    def __post_init__(self):\n"
        "        self.major, self.minor, self.patch = str(self.major), str(self.minor), str(self.patch)\n",
    ])

# ---- Python unit-tests ----
PY_DISCOUNT = ("def calculate_discount(price: float, percent: float) -> float:\n"
               "    if price < 0:\n"
               "        raise ValueError('price must be >= 0')\n"
               "    if not 0 <= percent <= 100:\n"
               "        raise ValueError('percent must be in [0, 100]')\n"
               "    return round(price * (100 - percent) / 100, 2)\n")
task(
    id="py-unit-tests-discount", kind="unit-tests", language="python", difficulty=2, tags=["unittest", "edge-cases"],
    tokenBudget=512, entryPoint="calculate_discount",
    prompt="Write tests for `calculate_discount(price, percent)`, which returns the price after a percentage discount "
           "rounded to 2 decimals and raises ValueError for a negative price or a percent outside 0..100."
           + PY_UNIT_PROMPT.format(fn="calculate_discount", file="discount.py"),
    contextFiles=[{"path": "discount.py", "content": PY_DISCOUNT}], supportCode=PY_DISCOUNT, hiddenChecks="",
    referenceSolution="import unittest\n\n\nclass DiscountTests(unittest.TestCase):\n"
                      "    def test_no_discount(self):\n        self.assertEqual(calculate_discount(80, 0), 80)\n\n"
                      "    def test_full_discount(self):\n        self.assertEqual(calculate_discount(80, 100), 0)\n\n"
                      "    def test_rounds_to_cents(self):\n        self.assertEqual(calculate_discount(9.99, 15), 8.49)\n"
                      "        self.assertEqual(calculate_discount(7.77, 30), 5.44)\n\n"
                      "    def test_zero_price(self):\n        self.assertEqual(calculate_discount(0, 50), 0)\n\n"
                      "    def test_rejects_negative_price(self):\n"
                      "        with self.assertRaises(ValueError):\n            calculate_discount(-0.01, 10)\n\n"
                      "    def test_rejects_percent_out_of_range(self):\n"
                      "        for p in (-1, 100.5, 101):\n"
                      "            with self.assertRaises(ValueError):\n                calculate_discount(10, p)\n\n\n"
                      "if __name__ == '__main__':\n    unittest.main()\n",
    mutants=[
        PY_DISCOUNT.replace("if not 0 <= percent <= 100:", "if percent < 0:"),
        PY_DISCOUNT.replace("if price < 0:", "if price <= 0:"),
        PY_DISCOUNT.replace("round(price * (100 - percent) / 100, 2)", "round(price * percent / 100, 2)"),
        PY_DISCOUNT.replace("round(price * (100 - percent) / 100, 2)", "int(price * (100 - percent)) / 100"),
    ])

PY_SLUG = ("import re\n\n\ndef slugify(title: str, max_length: int = 40) -> str:\n"
           "    slug = re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n"
           "    return slug[:max_length].rstrip('-')\n")
task(
    id="py-unit-tests-slugify", kind="unit-tests", language="python", difficulty=2, tags=["unittest", "strings", "regex"],
    tokenBudget=512, entryPoint="slugify",
    prompt="Write tests for `slugify(title, max_length=40)`: it lower-cases, turns every run of characters other than "
           "a-z and 0-9 into one hyphen, trims hyphens at both ends, cuts to `max_length` characters and drops a "
           "hyphen left dangling by the cut." + PY_UNIT_PROMPT.format(fn="slugify", file="slug.py"),
    contextFiles=[{"path": "slug.py", "content": PY_SLUG}], supportCode=PY_SLUG, hiddenChecks="",
    referenceSolution="assert slugify('Hello, World!') == 'hello-world'\n"
                      "assert slugify('  Spark   Eval 2026 ') == 'spark-eval-2026'\n"
                      "assert slugify('---') == ''\n"
                      "assert slugify('Caf\u00e9 au lait') == 'caf-au-lait'\n"
                      "assert slugify('abc def', max_length=4) == 'abc'\n"
                      "assert slugify('abcdef', max_length=3) == 'abc'\n"
                      "assert len(slugify('x' * 100)) == 40\n",
    mutants=[
        PY_SLUG.replace(".strip('-')", ""),
        PY_SLUG.replace("[^a-z0-9]+", "[^a-z0-9]"),
        PY_SLUG.replace("slug[:max_length].rstrip('-')", "slug[:max_length]"),
        PY_SLUG.replace("title.lower()", "title"),
    ])

PY_DURATION = ("import re\n\n_PART = re.compile(r'(\\d+)([hms])')\n\n\n"
               "def parse_duration(text: str) -> int:\n"
               "    \"\"\"'1h30m' -> 5400 seconds; parts in h, m, s order, each optional, at least one.\"\"\"\n"
               "    if not re.fullmatch(r'(\\d+h)?(\\d+m)?(\\d+s)?', text) or not text:\n"
               "        raise ValueError(f'bad duration: {text!r}')\n"
               "    factor = {'h': 3600, 'm': 60, 's': 1}\n"
               "    return sum(int(n) * factor[u] for n, u in _PART.findall(text))\n")
task(
    id="py-unit-tests-parse-duration", kind="unit-tests", language="python", difficulty=2,
    tags=["unittest", "parsing", "regex"], tokenBudget=512, entryPoint="parse_duration",
    prompt="Write tests for `parse_duration(text)`, which turns strings like '1h30m', '45s' or '2h5s' into seconds and "
           "raises ValueError for an empty string, a wrong unit order or unknown units."
           + PY_UNIT_PROMPT.format(fn="parse_duration", file="duration.py"),
    contextFiles=[{"path": "duration.py", "content": PY_DURATION}], supportCode=PY_DURATION, hiddenChecks="",
    referenceSolution="import unittest\n\n\nclass DurationTests(unittest.TestCase):\n"
                      "    def test_single_units(self):\n"
                      "        self.assertEqual(parse_duration('45s'), 45)\n"
                      "        self.assertEqual(parse_duration('2m'), 120)\n"
                      "        self.assertEqual(parse_duration('3h'), 10800)\n\n"
                      "    def test_combined(self):\n"
                      "        self.assertEqual(parse_duration('1h30m'), 5400)\n"
                      "        self.assertEqual(parse_duration('2h5s'), 7205)\n"
                      "        self.assertEqual(parse_duration('1h1m1s'), 3661)\n\n"
                      "    def test_multi_digit(self):\n"
                      "        self.assertEqual(parse_duration('90m'), 5400)\n\n"
                      "    def test_invalid(self):\n"
                      "        for bad in ('', '5', '30m1h', '1d', '1h 30m'):\n"
                      "            with self.assertRaises(ValueError, msg=bad):\n"
                      "                parse_duration(bad)\n\n\n"
                      "if __name__ == '__main__':\n    unittest.main()\n",
    mutants=[
        PY_DURATION.replace("{'h': 3600, 'm': 60, 's': 1}", "{'h': 3600, 'm': 3600, 's': 1}"),
        PY_DURATION.replace("r'(\\d+)([hms])'", "r'(\\d)([hms])'"),
        PY_DURATION.replace("re.fullmatch(r'(\\d+h)?(\\d+m)?(\\d+s)?', text)", "re.fullmatch(r'(\\d+[hms])*', text)"),
        PY_DURATION.replace(" or not text:", ":"),
    ])

PY_INTERVALS = ("def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:\n"
                "    \"\"\"Merges overlapping or touching closed intervals; input in any order.\"\"\"\n"
                "    merged: list[tuple[int, int]] = []\n"
                "    for start, end in sorted(intervals):\n"
                "        if merged and start <= merged[-1][1]:\n"
                "            merged[-1] = (merged[-1][0], max(merged[-1][1], end))\n"
                "        else:\n"
                "            merged.append((start, end))\n"
                "    return merged\n")
task(
    id="py-unit-tests-merge-intervals", kind="unit-tests", language="python", difficulty=3,
    tags=["unittest", "intervals", "edge-cases"], tokenBudget=512, entryPoint="merge_intervals",
    prompt="Write tests for `merge_intervals(intervals)`, which merges overlapping or touching closed intervals "
           "given in any order and returns them sorted."
           + PY_UNIT_PROMPT.format(fn="merge_intervals", file="intervals.py"),
    contextFiles=[{"path": "intervals.py", "content": PY_INTERVALS}], supportCode=PY_INTERVALS, hiddenChecks="",
    referenceSolution="import unittest\n\n\nclass MergeTests(unittest.TestCase):\n"
                      "    def test_empty(self):\n        self.assertEqual(merge_intervals([]), [])\n\n"
                      "    def test_disjoint_sorted(self):\n"
                      "        self.assertEqual(merge_intervals([(5, 6), (1, 2)]), [(1, 2), (5, 6)])\n\n"
                      "    def test_overlap(self):\n"
                      "        self.assertEqual(merge_intervals([(1, 4), (2, 3), (3, 8)]), [(1, 8)])\n\n"
                      "    def test_touching(self):\n"
                      "        self.assertEqual(merge_intervals([(1, 2), (2, 3)]), [(1, 3)])\n\n"
                      "    def test_contained_keeps_larger_end(self):\n"
                      "        self.assertEqual(merge_intervals([(1, 10), (2, 3), (11, 12)]), [(1, 10), (11, 12)])\n\n"
                      "    def test_unsorted_input(self):\n"
                      "        self.assertEqual(merge_intervals([(8, 9), (1, 3), (2, 5)]), [(1, 5), (8, 9)])\n\n\n"
                      "if __name__ == '__main__':\n    unittest.main()\n",
    mutants=[
        PY_INTERVALS.replace("start <= merged[-1][1]", "start < merged[-1][1]"),
        PY_INTERVALS.replace("sorted(intervals)", "intervals"),
        PY_INTERVALS.replace("max(merged[-1][1], end)", "end"),
    ])

# ---- Python explain ----
task(
    id="py-explain-memoize", kind="explain", language="python", difficulty=2, tags=["decorators", "caching", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what the `memoize` decorator does to a function it wraps.",
    contextFiles=[{"path": "cache.py", "content":
                   "import functools\n\n\ndef memoize(func):\n"
                   "    cache = {}\n\n"
                   "    @functools.wraps(func)\n"
                   "    def wrapper(*args):\n"
                   "        if args not in cache:\n"
                   "            cache[args] = func(*args)\n"
                   "        return cache[args]\n\n"
                   "    return wrapper\n"}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "caches results", "phrasings": ["cache", "remember", "memoiz", "stores the result", "stores results"]},
                {"name": "keyed by positional arguments", "phrasings": ["same arguments", "same positional arguments", "same args", "arguments as the key", "argument tuple", "per argument", "same inputs"]},
                {"name": "computed once", "phrasings": ["only once", "once per", "not called again", "without calling", "skips the call", "instead of calling", "does not call"]}],
            "wrongClaims": ["expires", "evicts", "keyword arguments are cached", "thread-safe", "least recently used", "lru"]},
    referenceSolution="It caches each result in a dictionary keyed by the tuple of positional arguments, so the wrapped "
                      "function runs only once per distinct set of arguments. A later call with the same arguments "
                      "returns the stored result without calling the function again.",
    mutants=["It caches results with a least recently used policy that evicts old entries, so the function runs only "
             "once per set of same arguments.",
             "It logs every call to the wrapped function and its arguments before running it."])

task(
    id="py-explain-sql-latest-order", kind="explain", language="python", difficulty=3, tags=["sql", "window-functions", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what rows `LATEST` returns.",
    contextFiles=[{"path": "queries.py", "content":
                   "LATEST = '''\n"
                   "SELECT customer_id, id AS order_id, created_at\n"
                   "FROM (\n"
                   "    SELECT o.*, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY created_at DESC) AS rn\n"
                   "    FROM orders o\n"
                   ") ranked\n"
                   "WHERE rn = 1\n"
                   "'''\n"}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "one row per customer", "phrasings": ["each customer", "every customer", "per customer", "one row per customer"]},
                {"name": "most recent order", "phrasings": ["most recent", "latest", "newest", "last order"]}],
            "wrongClaims": ["oldest", "first order", "earliest", "total", "count of orders", "number of orders"]},
    referenceSolution="For each customer it returns one row: the id and creation time of that customer's most recent "
                      "order. The window function numbers each customer's orders by creation time, newest first, and the outer "
                      "query keeps only number 1.",
    mutants=["For each customer it returns the first order they ever placed, numbered by ROW_NUMBER.",
             "It returns the most recent order in the whole table."])

task(
    id="py-explain-batched-lines", kind="explain", language="python", difficulty=2, tags=["generators", "files", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what `batched_lines` yields.",
    contextFiles=[{"path": "batches.py", "content":
                   "def batched_lines(path, n):\n"
                   "    batch = []\n"
                   "    with open(path, encoding='utf-8') as f:\n"
                   "        for line in f:\n"
                   "            line = line.strip()\n"
                   "            if not line:\n"
                   "                continue\n"
                   "            batch.append(line)\n"
                   "            if len(batch) == n:\n"
                   "                yield batch\n"
                   "                batch = []\n"
                   "    if batch:\n"
                   "        yield batch\n"}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "lists of n lines", "phrasings": ["lists of n", "batches of n", "groups of n", "n lines at a time", "n lines each", "up to n"]},
                {"name": "blank lines skipped", "phrasings": ["blank lines", "empty lines", "skips blank", "skips empty", "ignores blank", "ignores empty"]},
                {"name": "last batch shorter", "phrasings": ["last batch", "final batch", "remaining lines", "leftover", "fewer than n", "shorter"]}],
            "wrongClaims": ["reads the whole file into memory", "drops the last", "discards the remaining", "includes blank lines"]},
    referenceSolution="It lazily reads the file and yields lists of n stripped lines, skipping blank lines. The final "
                      "batch may hold fewer than n lines and is yielded only if it is not empty.",
    mutants=["It reads the whole file into memory and yields batches of n lines, skipping blank lines and including "
             "the shorter last batch.",
             "It yields lists of n stripped lines, skipping blank lines, and drops the last incomplete batch."])

task(
    id="py-explain-merge-settings", kind="explain", language="python", difficulty=2, tags=["dicts", "configuration", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what `merge_settings` returns.",
    contextFiles=[{"path": "settings.py", "content":
                   "def merge_settings(defaults: dict, overrides: dict) -> dict:\n"
                   "    return {**defaults, **{k: v for k, v in overrides.items() if v is not None}}\n"}],
    hiddenChecks="",
    rubric={"maxWords": 50,
            "requiredConcepts": [
                {"name": "new dict", "phrasings": ["new dict", "new dictionary", "a copy", "without modifying", "without changing", "leaves both"]},
                {"name": "overrides win", "phrasings": ["override", "overrides win", "take precedence", "replace the default", "replacing"]},
                {"name": "None ignored", "phrasings": ["none are ignored", "none is ignored", "none values are skipped", "none are skipped", "except none", "not none", "unless it is none", "set to none"]}],
            "wrongClaims": ["in place", "defaults take precedence", "defaults win", "removes keys", "deep merge", "recursively"]},
    referenceSolution="It returns a new dictionary with all defaults, where each override replaces the default value "
                      "unless it is None. Overrides set to None are ignored, and neither input is modified.",
    mutants=["It updates the defaults in place with every override, so overrides take precedence.",
             "It returns a new dict where overrides win, recursively merging nested dictionaries."])

# ---- Python fix ----
task(
    id="py-fix-last-n", kind="fix", language="python", difficulty=2, tags=["slicing", "boundaries"], tokenBudget=256,
    stopTokens=PY_STOP, entryPoint="last_n",
    prompt="`last_n(items, n)` should return a new list of the last n items (all of them when n exceeds the length, "
           "none when n is 0). The hidden checks fail with the output below. Fix the function.",
    contextFiles=[{"path": "lists.py", "content": "def last_n(items, n):\n    return items[-n:]\n"}],
    referenceSolution="def last_n(items, n):\n    if n <= 0:\n        return []\n    return items[-n:]\n",
    hiddenChecks=py_asserts("last_n([1, 2, 3, 4], 2) == [3, 4]", "last_n([1, 2, 3], 5) == [1, 2, 3]",
                            "last_n([1, 2, 3], 0) == []", "last_n([], 3) == []", "last_n([1, 2, 3], 3) == [1, 2, 3]"),
    mutants=["def last_n(items, n):\n    return items[len(items) - n:]\n",
             "def last_n(items, n):\n    if n <= 0:\n        return []\n    return items[-n - 1:]\n",
             "def last_n(items, n):\n    return items[-n:] if n < len(items) else []\n"])

task(
    id="py-fix-mutable-default", kind="fix", language="python", difficulty=2, tags=["mutable-default", "gotchas"],
    tokenBudget=256, stopTokens=PY_STOP, entryPoint="add_tag",
    prompt="`add_tag(tag, tags=None)` should append `tag` to the given list (modifying it) and return it; when no "
           "list is given it must start from a fresh empty list on every call. The hidden checks fail with the output "
           "below. Fix the function.",
    contextFiles=[{"path": "tags.py", "content": "def add_tag(tag, tags=[]):\n    tags.append(tag)\n    return tags\n"}],
    referenceSolution="def add_tag(tag, tags=None):\n    if tags is None:\n        tags = []\n    tags.append(tag)\n    return tags\n",
    hiddenChecks="assert add_tag('a') == ['a']\n"
                 "assert add_tag('b') == ['b']\n"
                 "mine = []\n"
                 "result = add_tag('x', mine)\n"
                 "assert mine == ['x'] and result is mine\n"
                 "other = ['p']\n"
                 "assert add_tag('q', other) == ['p', 'q'] and other == ['p', 'q']\n",
    mutants=["def add_tag(tag, tags=None):\n    tags = tags or []\n    tags.append(tag)\n    return tags\n",
             "def add_tag(tag, tags=[]):\n    tags = list(tags)\n    tags.append(tag)\n    return tags\n",
             "def add_tag(tag, tags=[]):\n    return tags + [tag]\n"])

task(
    id="py-fix-version-sort", kind="fix", language="python", difficulty=2, tags=["sorting", "versions"], tokenBudget=256,
    stopTokens=PY_STOP, entryPoint="sort_versions",
    prompt="`sort_versions(versions)` should return dotted version strings such as '1.10.0' in ascending numeric "
           "order (a missing part counts as smaller: '1.2' < '1.2.1'). The hidden checks fail with the output below. "
           "Fix the function.",
    contextFiles=[{"path": "versions.py", "content": "def sort_versions(versions):\n    return sorted(versions)\n"}],
    referenceSolution="def sort_versions(versions):\n"
                      "    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split('.')))\n",
    hiddenChecks=py_asserts(
        "sort_versions(['1.10.0', '1.2.0', '1.9.3']) == ['1.2.0', '1.9.3', '1.10.0']",
        "sort_versions(['2.0', '1.2.1', '1.2', '10.0.0']) == ['1.2', '1.2.1', '2.0', '10.0.0']",
        "sort_versions([]) == []"),
    mutants=["def sort_versions(versions):\n    return sorted(versions, key=lambda v: v.split('.'))\n",
             "def sort_versions(versions):\n    return sorted(versions, key=lambda v: int(v.replace('.', '')))\n",
             "def sort_versions(versions):\n"
             "    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split('.')), reverse=True)\n"])

task(
    id="py-fix-pagination", kind="fix", language="python", difficulty=1, tags=["pagination", "off-by-one"],
    tokenBudget=256, stopTokens=PY_STOP, entryPoint="page",
    prompt="`page(items, number, size)` should return page `number` of the items, where pages are numbered from 1; "
           "a page past the end is empty and a number below 1 raises ValueError. The hidden checks fail with the "
           "output below. Fix the function.",
    contextFiles=[{"path": "paging.py", "content":
                   "def page(items, number, size):\n"
                   "    if number < 1:\n"
                   "        raise ValueError('pages start at 1')\n"
                   "    return items[number * size:(number + 1) * size]\n"}],
    referenceSolution="def page(items, number, size):\n"
                      "    if number < 1:\n"
                      "        raise ValueError('pages start at 1')\n"
                      "    return items[(number - 1) * size:number * size]\n",
    hiddenChecks="items = list(range(1, 8))\n" + py_asserts(
        "page(items, 1, 3) == [1, 2, 3]", "page(items, 2, 3) == [4, 5, 6]", "page(items, 3, 3) == [7]",
        "page(items, 4, 3) == []")
        + "try:\n    page(items, 0, 3)\n    raise AssertionError('expected ValueError')\nexcept ValueError:\n    pass\n",
    mutants=["def page(items, number, size):\n"
             "    if number < 1:\n"
             "        raise ValueError('pages start at 1')\n"
             "    return items[(number - 1) * size:number * size + 1]\n",
             "def page(items, number, size):\n"
             "    return items[(number - 1) * size:number * size]\n",
             "def page(items, number, size):\n"
             "    if number < 1:\n"
             "        raise ValueError('pages start at 1')\n"
             "    start = (number - 1) * size\n"
             "    return items[start:start + size - 1]\n"])


# @@PYTHON-END@@

# ---------------------------------------------------------------------------------------------------------------
# TypeScript
# ---------------------------------------------------------------------------------------------------------------
TS_STOP = ["\n// Example usage", "\nconsole.log("]

# A fake clock the debounce checks install over the global timers (deterministic, no real waiting).
TS_FAKE_TIMERS = (
    "type Pending = { id: number; at: number; fn: () => void };\n"
    "let now = 0;\nlet nextId = 1;\nlet pending: Pending[] = [];\n"
    "const g = globalThis as unknown as Record<string, unknown>;\n"
    "g.setTimeout = (fn: () => void, ms: number) => { const id = nextId++; pending.push({ id, at: now + ms, fn }); return id; };\n"
    "g.clearTimeout = (id: number) => { pending = pending.filter(p => p.id !== id); };\n"
    "function advance(ms: number): void {\n"
    "  const end = now + ms;\n"
    "  for (;;) {\n"
    "    const due = pending.filter(p => p.at <= end).sort((a, b) => a.at - b.at)[0];\n"
    "    if (!due) break;\n"
    "    pending = pending.filter(p => p !== due);\n"
    "    now = due.at;\n"
    "    due.fn();\n"
    "  }\n"
    "  now = end;\n"
    "}\n")

# ---- TypeScript stub ----
task(
    id="ts-stub-debounce", kind="stub", language="typescript", difficulty=3, tags=["timers", "debounce", "generics"],
    tokenBudget=320, stopTokens=TS_STOP, entryPoint="debounce",
    prompt="Write `export function debounce<A extends unknown[]>(fn: (...args: A) => void, waitMs: number): "
           "(...args: A) => void` that returns a debounced function: each call restarts a `waitMs` timer (use the "
           "global `setTimeout`/`clearTimeout`), and `fn` runs once, with the arguments of the latest call, when "
           "`waitMs` passes without a new call.",
    referenceSolution="export function debounce<A extends unknown[]>(fn: (...args: A) => void, waitMs: number): (...args: A) => void {\n"
                      "  let timer: ReturnType<typeof setTimeout> | undefined;\n"
                      "  return (...args: A) => {\n"
                      "    if (timer !== undefined) clearTimeout(timer);\n"
                      "    timer = setTimeout(() => {\n"
                      "      timer = undefined;\n"
                      "      fn(...args);\n"
                      "    }, waitMs);\n"
                      "  };\n"
                      "}\n",
    supportCode=TS_FAKE_TIMERS,
    hiddenChecks=TS_ASSERT +
    "const calls: string[] = [];\n"
    "const save = debounce((text: string) => { calls.push(text); }, 100);\n"
    "save('a'); advance(50); save('ab'); advance(99);\n"
    "assert.deepStrictEqual(calls, [], 'must not run before waitMs of quiet');\n"
    "advance(1);\n"
    "assert.deepStrictEqual(calls, ['ab'], 'runs once with the latest arguments');\n"
    "advance(500);\n"
    "assert.deepStrictEqual(calls, ['ab'], 'runs only once');\n"
    "save('x'); advance(100); save('y'); advance(100);\n"
    "assert.deepStrictEqual(calls, ['ab', 'x', 'y'], 'a new burst after the quiet period runs again');\n",
    mutants=[
        "export function debounce<A extends unknown[]>(fn: (...args: A) => void, waitMs: number): (...args: A) => void {\n"
        "  return (...args: A) => {\n"
        "    setTimeout(() => fn(...args), waitMs);\n"
        "  };\n"
        "}\n",
        "export function debounce<A extends unknown[]>(fn: (...args: A) => void, waitMs: number): (...args: A) => void {\n"
        "  let timer: ReturnType<typeof setTimeout> | undefined;\n"
        "  let first: A | undefined;\n"
        "  return (...args: A) => {\n"
        "    if (timer !== undefined) clearTimeout(timer);\n"
        "    first ??= args;\n"
        "    timer = setTimeout(() => {\n"
        "      timer = undefined;\n"
        "      fn(...(first as A));\n"
        "      first = undefined;\n"
        "    }, waitMs);\n"
        "  };\n"
        "}\n",
        "export function debounce<A extends unknown[]>(fn: (...args: A) => void, waitMs: number): (...args: A) => void {\n"
        "  let timer: ReturnType<typeof setTimeout> | undefined;\n"
        "  return (...args: A) => {\n"
        "    if (timer !== undefined) return;\n"
        "    timer = setTimeout(() => {\n"
        "      timer = undefined;\n"
        "      fn(...args);\n"
        "    }, waitMs);\n"
        "  };\n"
        "}\n",
    ])

task(
    id="ts-stub-group-by", kind="stub", language="typescript", difficulty=2, tags=["collections", "group-by", "generics"],
    tokenBudget=256, stopTokens=TS_STOP, entryPoint="groupBy",
    prompt="Write `export function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]>` that groups "
           "items by key, keeping the items' order inside each group and the keys in order of first appearance. It "
           "must not modify `items`.",
    referenceSolution="export function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {\n"
                      "  const groups = new Map<K, T[]>();\n"
                      "  for (const item of items) {\n"
                      "    const k = key(item);\n"
                      "    const group = groups.get(k);\n"
                      "    if (group) group.push(item);\n"
                      "    else groups.set(k, [item]);\n"
                      "  }\n"
                      "  return groups;\n"
                      "}\n",
    hiddenChecks=TS_ASSERT +
    "const words = ['apple', 'bob', 'avocado', 'cat', 'bee'];\n"
    "const byFirst = groupBy(words, w => w[0]);\n"
    "assert.deepStrictEqual([...byFirst.entries()], [['a', ['apple', 'avocado']], ['b', ['bob', 'bee']], ['c', ['cat']]]);\n"
    "assert.deepStrictEqual(words, ['apple', 'bob', 'avocado', 'cat', 'bee']);\n"
    "assert.deepStrictEqual([...groupBy([3, 1, 2, 5], n => n % 2 === 0).keys()], [false, true]);\n"
    "assert.strictEqual(groupBy([], (x: number) => x).size, 0);\n"
    "assert.deepStrictEqual(groupBy([0, 0], n => n).get(0), [0, 0]);\n",
    mutants=[
        "export function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {\n"
        "  const groups = new Map<K, T[]>();\n"
        "  for (const item of items) groups.set(key(item), [item]);\n"
        "  return groups;\n"
        "}\n",
        "export function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {\n"
        "  const groups = new Map<K, T[]>();\n"
        "  for (const item of items) {\n"
        "    const k = key(item);\n"
        "    if (!k) continue;\n"
        "    groups.set(k, [...(groups.get(k) ?? []), item]);\n"
        "  }\n"
        "  return groups;\n"
        "}\n",
        "export function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {\n"
        "  const groups = new Map<K, T[]>();\n"
        "  for (const item of [...items].sort()) {\n"
        "    const k = key(item);\n"
        "    groups.set(k, [...(groups.get(k) ?? []), item]);\n"
        "  }\n"
        "  return groups;\n"
        "}\n",
    ])

task(
    id="ts-stub-retry-backoff", kind="stub", language="typescript", difficulty=3, tags=["async", "retry", "backoff"],
    tokenBudget=384, stopTokens=TS_STOP, entryPoint="retryWithBackoff",
    prompt="Write `export async function retryWithBackoff<T>(fn: () => Promise<T>, attempts: number, baseDelayMs: "
           "number, sleep: (ms: number) => Promise<void>): Promise<T>` that awaits `fn()` and returns its value; when "
           "it rejects, it awaits `sleep(baseDelayMs * 2 ** n)` (n = 0 before the first retry, 1 before the second, "
           "...) and tries again, calling `fn` at most `attempts` times in total, then rejects with the last error "
           "(no sleep after the last attempt). `attempts` < 1 throws a RangeError.",
    referenceSolution="export async function retryWithBackoff<T>(fn: () => Promise<T>, attempts: number, baseDelayMs: number,\n"
                      "    sleep: (ms: number) => Promise<void>): Promise<T> {\n"
                      "  if (attempts < 1) throw new RangeError('attempts must be >= 1');\n"
                      "  for (let n = 0; ; n++) {\n"
                      "    try {\n"
                      "      return await fn();\n"
                      "    } catch (err) {\n"
                      "      if (n === attempts - 1) throw err;\n"
                      "      await sleep(baseDelayMs * 2 ** n);\n"
                      "    }\n"
                      "  }\n"
                      "}\n",
    hiddenChecks=ts_async(
    "const delays: number[] = [];\n"
    "const sleep = async (ms: number): Promise<void> => { delays.push(ms); };\n"
    "function flaky(failures: number) {\n"
    "  const state = { calls: 0 };\n"
    "  const fn = async (): Promise<string> => {\n"
    "    state.calls++;\n"
    "    if (state.calls <= failures) throw new Error(`fail ${state.calls}`);\n"
    "    return 'ok';\n"
    "  };\n"
    "  return { fn, state };\n"
    "}\n"
    "const a = flaky(2);\n"
    "assert.strictEqual(await retryWithBackoff(a.fn, 3, 100, sleep), 'ok');\n"
    "assert.strictEqual(a.state.calls, 3);\n"
    "assert.deepStrictEqual(delays, [100, 200]);\n"
    "delays.length = 0;\n"
    "const b = flaky(9);\n"
    "await assert.rejects(retryWithBackoff(b.fn, 3, 50, sleep), { message: 'fail 3' });\n"
    "assert.strictEqual(b.state.calls, 3);\n"
    "assert.deepStrictEqual(delays, [50, 100]);\n"
    "delays.length = 0;\n"
    "assert.strictEqual(await retryWithBackoff(async () => 7, 1, 10, sleep), 7);\n"
    "assert.deepStrictEqual(delays, []);\n"
    "await assert.rejects(retryWithBackoff(async () => 7, 0, 10, sleep), RangeError);\n"),
    mutants=[
        "export async function retryWithBackoff<T>(fn: () => Promise<T>, attempts: number, baseDelayMs: number,\n"
        "    sleep: (ms: number) => Promise<void>): Promise<T> {\n"
        "  if (attempts < 1) throw new RangeError('attempts must be >= 1');\n"
        "  let last: unknown;\n"
        "  for (let n = 0; n < attempts; n++) {\n"
        "    try {\n"
        "      return await fn();\n"
        "    } catch (err) {\n"
        "      last = err;\n"
        "      await sleep(baseDelayMs * 2 ** n);\n"
        "    }\n"
        "  }\n"
        "  throw last;\n"
        "}\n",
        "export async function retryWithBackoff<T>(fn: () => Promise<T>, attempts: number, baseDelayMs: number,\n"
        "    sleep: (ms: number) => Promise<void>): Promise<T> {\n"
        "  if (attempts < 1) throw new RangeError('attempts must be >= 1');\n"
        "  for (let n = 1; ; n++) {\n"
        "    try {\n"
        "      return await fn();\n"
        "    } catch (err) {\n"
        "      if (n === attempts) throw err;\n"
        "      await sleep(baseDelayMs * 2 ** n);\n"
        "    }\n"
        "  }\n"
        "}\n",
        "export async function retryWithBackoff<T>(fn: () => Promise<T>, attempts: number, baseDelayMs: number,\n"
        "    sleep: (ms: number) => Promise<void>): Promise<T> {\n"
        "  for (let n = 0; ; n++) {\n"
        "    try {\n"
        "      return await fn();\n"
        "    } catch (err) {\n"
        "      if (n >= attempts) throw err;\n"
        "      await sleep(baseDelayMs * 2 ** n);\n"
        "    }\n"
        "  }\n"
        "}\n",
    ])

task(
    id="ts-stub-parse-query", kind="stub", language="typescript", difficulty=2, tags=["parsing", "urls"],
    tokenBudget=320, stopTokens=TS_STOP, entryPoint="parseQuery",
    prompt="Write `export function parseQuery(query: string): Record<string, string[]>` that parses a URL query string "
           "(an optional leading '?', pairs separated by '&'): keys and values are percent-decoded, '+' means a space, "
           "a key without '=' has the value '', empty pairs are skipped, and repeated keys collect their values in "
           "order. Do not use URLSearchParams.",
    referenceSolution="export function parseQuery(query: string): Record<string, string[]> {\n"
                      "  const result: Record<string, string[]> = {};\n"
                      "  const decode = (s: string) => decodeURIComponent(s.replace(/\\+/g, ' '));\n"
                      "  for (const pair of query.replace(/^\\?/, '').split('&')) {\n"
                      "    if (pair === '') continue;\n"
                      "    const eq = pair.indexOf('=');\n"
                      "    const key = decode(eq < 0 ? pair : pair.slice(0, eq));\n"
                      "    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));\n"
                      "    (result[key] ??= []).push(value);\n"
                      "  }\n"
                      "  return result;\n"
                      "}\n",
    hiddenChecks=TS_ASSERT +
    "assert.deepStrictEqual(parseQuery('?q=hello+world&page=2'), { q: ['hello world'], page: ['2'] });\n"
    "assert.deepStrictEqual(parseQuery('tag=a&tag=b&&tag=c'), { tag: ['a', 'b', 'c'] });\n"
    "assert.deepStrictEqual(parseQuery('flag&x='), { flag: [''], x: [''] });\n"
    "assert.deepStrictEqual(parseQuery('name=J%C3%BCrgen%20K&eq=a%3Db=c'), { name: ['J\u00fcrgen K'], eq: ['a=b=c'] });\n"
    "assert.deepStrictEqual(parseQuery(''), {});\n"
    "assert.deepStrictEqual(parseQuery('a%20b=1'), { 'a b': ['1'] });\n",
    mutants=[
        "export function parseQuery(query: string): Record<string, string[]> {\n"
        "  const result: Record<string, string[]> = {};\n"
        "  for (const pair of query.replace(/^\\?/, '').split('&')) {\n"
        "    if (pair === '') continue;\n"
        "    const [key, value = ''] = pair.split('=');\n"
        "    (result[decodeURIComponent(key)] ??= []).push(decodeURIComponent(value.replace(/\\+/g, ' ')));\n"
        "  }\n"
        "  return result;\n"
        "}\n",
        "export function parseQuery(query: string): Record<string, string[]> {\n"
        "  const result: Record<string, string[]> = {};\n"
        "  for (const pair of query.replace(/^\\?/, '').split('&')) {\n"
        "    if (pair === '') continue;\n"
        "    const eq = pair.indexOf('=');\n"
        "    const key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));\n"
        "    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));\n"
        "    (result[key] ??= []).push(value);\n"
        "  }\n"
        "  return result;\n"
        "}\n",
        "export function parseQuery(query: string): Record<string, string[]> {\n"
        "  const result: Record<string, string[]> = {};\n"
        "  const decode = (s: string) => decodeURIComponent(s.replace(/\\+/g, ' '));\n"
        "  for (const pair of query.replace(/^\\?/, '').split('&')) {\n"
        "    if (pair === '') continue;\n"
        "    const eq = pair.indexOf('=');\n"
        "    const key = decode(eq < 0 ? pair : pair.slice(0, eq));\n"
        "    result[key] = [eq < 0 ? '' : decode(pair.slice(eq + 1))];\n"
        "  }\n"
        "  return result;\n"
        "}\n",
    ])

# ---- TypeScript refactor ----
TS_ORDER = "type Order = { id: string; status: 'open' | 'paid' | 'cancelled'; total: number };\n"
task(
    id="ts-refactor-map-filter", kind="refactor", language="typescript", difficulty=1, tags=["arrays", "refactor"],
    tokenBudget=256, stopTokens=TS_STOP, entryPoint="paidOrderIds", structureRule="no-loops;uses-array-methods",
    prompt="Rewrite `paidOrderIds` with `filter`/`map` (no loops), keeping its behaviour exactly. The `Order` type is "
           "already declared; answer with the function only.",
    contextFiles=[{"path": "orders.ts", "content": TS_ORDER +
                   "\nexport function paidOrderIds(orders: Order[], minTotal: number): string[] {\n"
                   "  const ids: string[] = [];\n"
                   "  for (const o of orders) {\n"
                   "    if (o.status === 'paid' && o.total >= minTotal) {\n"
                   "      ids.push(o.id.toUpperCase());\n"
                   "    }\n"
                   "  }\n"
                   "  return ids;\n"
                   "}\n"}],
    supportCode=TS_ORDER,
    referenceSolution="export function paidOrderIds(orders: Order[], minTotal: number): string[] {\n"
                      "  return orders\n"
                      "    .filter(o => o.status === 'paid' && o.total >= minTotal)\n"
                      "    .map(o => o.id.toUpperCase());\n"
                      "}\n",
    hiddenChecks=TS_ASSERT +
    "const orders: Order[] = [\n"
    "  { id: 'a1', status: 'paid', total: 50 },\n"
    "  { id: 'b2', status: 'open', total: 90 },\n"
    "  { id: 'c3', status: 'paid', total: 49.99 },\n"
    "  { id: 'd4', status: 'paid', total: 120 },\n"
    "  { id: 'e5', status: 'cancelled', total: 500 },\n"
    "];\n"
    "assert.deepStrictEqual(paidOrderIds(orders, 50), ['A1', 'D4']);\n"
    "assert.deepStrictEqual(paidOrderIds(orders, 0), ['A1', 'C3', 'D4']);\n"
    "assert.deepStrictEqual(paidOrderIds([], 0), []);\n",
    mutants=[
        "export function paidOrderIds(orders: Order[], minTotal: number): string[] {\n"
        "  return orders.filter(o => o.status === 'paid' && o.total > minTotal).map(o => o.id.toUpperCase());\n"
        "}\n",
        "export function paidOrderIds(orders: Order[], minTotal: number): string[] {\n"
        "  return orders.filter(o => o.status !== 'open' && o.total >= minTotal).map(o => o.id.toUpperCase());\n"
        "}\n",
        "export function paidOrderIds(orders: Order[], minTotal: number): string[] {\n"
        "  return orders.filter(o => o.status === 'paid' && o.total >= minTotal).map(o => o.id);\n"
        "}\n",
    ])

TS_USER_API = ("type User = { id: number; name: string; teamId: number | null };\n"
               "type Team = { id: number; name: string };\n"
               "interface Api { getUser(id: number): Promise<User>; getTeam(id: number): Promise<Team> }\n")
task(
    id="ts-refactor-async-await", kind="refactor", language="typescript", difficulty=3, tags=["async", "promises", "refactor"],
    tokenBudget=320, stopTokens=TS_STOP, entryPoint="teamNameOf", structureRule="uses-async-await;no-call:then;no-call:catch",
    prompt="Rewrite `teamNameOf` with async/await instead of `.then`/`.catch` chains, keeping its behaviour exactly "
           "(including which errors are swallowed). The types are already declared; answer with the function only.",
    contextFiles=[{"path": "teams.ts", "content": TS_USER_API +
                   "\nexport function teamNameOf(api: Api, userId: number): Promise<string> {\n"
                   "  return api.getUser(userId)\n"
                   "    .then(user => {\n"
                   "      if (user.teamId === null) return 'no team';\n"
                   "      return api.getTeam(user.teamId)\n"
                   "        .then(team => team.name)\n"
                   "        .catch(() => 'unknown team');\n"
                   "    });\n"
                   "}\n"}],
    supportCode=TS_USER_API,
    referenceSolution="export async function teamNameOf(api: Api, userId: number): Promise<string> {\n"
                      "  const user = await api.getUser(userId);\n"
                      "  if (user.teamId === null) return 'no team';\n"
                      "  try {\n"
                      "    const team = await api.getTeam(user.teamId);\n"
                      "    return team.name;\n"
                      "  } catch {\n"
                      "    return 'unknown team';\n"
                      "  }\n"
                      "}\n",
    hiddenChecks=ts_async(
    "const users: Record<number, User> = { 1: { id: 1, name: 'ann', teamId: 10 }, 2: { id: 2, name: 'bo', teamId: null },\n"
    "  3: { id: 3, name: 'cy', teamId: 99 } };\n"
    "const api: Api = {\n"
    "  async getUser(id) { const u = users[id]; if (!u) throw new Error(`no user ${id}`); return u; },\n"
    "  async getTeam(id) { if (id !== 10) throw new Error(`no team ${id}`); return { id, name: 'Platform' }; },\n"
    "};\n"
    "assert.strictEqual(await teamNameOf(api, 1), 'Platform');\n"
    "assert.strictEqual(await teamNameOf(api, 2), 'no team');\n"
    "assert.strictEqual(await teamNameOf(api, 3), 'unknown team');\n"
    "await assert.rejects(teamNameOf(api, 4), { message: 'no user 4' });\n"),
    mutants=[
        "export async function teamNameOf(api: Api, userId: number): Promise<string> {\n"
        "  try {\n"
        "    const user = await api.getUser(userId);\n"
        "    if (user.teamId === null) return 'no team';\n"
        "    const team = await api.getTeam(user.teamId);\n"
        "    return team.name;\n"
        "  } catch {\n"
        "    return 'unknown team';\n"
        "  }\n"
        "}\n",
        "export async function teamNameOf(api: Api, userId: number): Promise<string> {\n"
        "  const user = await api.getUser(userId);\n"
        "  if (!user.teamId) return 'no team';\n"
        "  const team = await api.getTeam(user.teamId);\n"
        "  return team.name;\n"
        "}\n",
        "export async function teamNameOf(api: Api, userId: number): Promise<string> {\n"
        "  const user = await api.getUser(userId);\n"
        "  try {\n"
        "    const team = await api.getTeam(user.teamId ?? 0);\n"
        "    return team.name;\n"
        "  } catch {\n"
        "    return 'unknown team';\n"
        "  }\n"
        "}\n",
    ])

task(
    id="ts-refactor-guard-clauses", kind="refactor", language="typescript", difficulty=2,
    tags=["guard-clauses", "readability", "refactor"], tokenBudget=320, stopTokens=TS_STOP, entryPoint="canEdit",
    structureRule="no-nested-if",
    prompt="Rewrite `canEdit` with guard clauses (early returns) so that no `if` is nested inside another `if` "
           "(`else if` chains are fine), keeping its behaviour exactly. The types are already declared; answer with "
           "the function only.",
    contextFiles=[{"path": "permissions.ts", "content":
                   "type Role = 'admin' | 'editor' | 'viewer';\n"
                   "type Doc = { ownerId: string; locked: boolean; archived: boolean };\n\n"
                   "export function canEdit(userId: string, role: Role, doc: Doc): boolean {\n"
                   "  if (!doc.archived) {\n"
                   "    if (role === 'admin') {\n"
                   "      return true;\n"
                   "    } else {\n"
                   "      if (doc.locked) {\n"
                   "        return false;\n"
                   "      } else {\n"
                   "        if (role === 'editor' || doc.ownerId === userId) {\n"
                   "          return true;\n"
                   "        }\n"
                   "        return false;\n"
                   "      }\n"
                   "    }\n"
                   "  }\n"
                   "  return false;\n"
                   "}\n"}],
    supportCode="type Role = 'admin' | 'editor' | 'viewer';\ntype Doc = { ownerId: string; locked: boolean; archived: boolean };\n",
    referenceSolution="export function canEdit(userId: string, role: Role, doc: Doc): boolean {\n"
                      "  if (doc.archived) return false;\n"
                      "  if (role === 'admin') return true;\n"
                      "  if (doc.locked) return false;\n"
                      "  return role === 'editor' || doc.ownerId === userId;\n"
                      "}\n",
    hiddenChecks=TS_ASSERT +
    "const doc = (over: Partial<Doc> = {}): Doc => ({ ownerId: 'u1', locked: false, archived: false, ...over });\n"
    "assert.strictEqual(canEdit('x', 'admin', doc({ locked: true })), true);\n"
    "assert.strictEqual(canEdit('x', 'admin', doc({ archived: true })), false);\n"
    "assert.strictEqual(canEdit('x', 'editor', doc()), true);\n"
    "assert.strictEqual(canEdit('x', 'editor', doc({ locked: true })), false);\n"
    "assert.strictEqual(canEdit('u1', 'viewer', doc()), true);\n"
    "assert.strictEqual(canEdit('u2', 'viewer', doc()), false);\n"
    "assert.strictEqual(canEdit('u1', 'viewer', doc({ locked: true })), false);\n"
    "assert.strictEqual(canEdit('u1', 'editor', doc({ archived: true })), false);\n",
    mutants=[
        "export function canEdit(userId: string, role: Role, doc: Doc): boolean {\n"
        "  if (role === 'admin') return true;\n"
        "  if (doc.archived || doc.locked) return false;\n"
        "  return role === 'editor' || doc.ownerId === userId;\n"
        "}\n",
        "export function canEdit(userId: string, role: Role, doc: Doc): boolean {\n"
        "  if (doc.archived) return false;\n"
        "  if (role === 'admin') return true;\n"
        "  if (doc.locked) return false;\n"
        "  return role === 'editor' && doc.ownerId === userId;\n"
        "}\n",
        "export function canEdit(userId: string, role: Role, doc: Doc): boolean {\n"
        "  if (doc.archived) return false;\n"
        "  if (role === 'admin') return true;\n"
        "  return role === 'editor' || doc.ownerId === userId;\n"
        "}\n",
    ])

TS_CONFIG_TYPES = ("type Config = { server?: { http?: { port?: number | null; host?: string } } };\n")
task(
    id="ts-refactor-optional-chaining", kind="refactor", language="typescript", difficulty=2,
    tags=["optional-chaining", "nullish", "refactor"], tokenBudget=256, stopTokens=TS_STOP, entryPoint="listenAddress",
    structureRule="uses-optional-chaining;uses-nullish-coalescing;no-nested-if",
    prompt="Rewrite `listenAddress` with optional chaining (`?.`) and nullish coalescing (`??`) instead of the nested "
           "checks, keeping its behaviour exactly (note that port 0 and an empty host are kept). The `Config` type is "
           "already declared; answer with the function only.",
    contextFiles=[{"path": "config.ts", "content": TS_CONFIG_TYPES +
                   "\nexport function listenAddress(config: Config | undefined): string {\n"
                   "  let host = 'localhost';\n"
                   "  let port = 8080;\n"
                   "  if (config) {\n"
                   "    if (config.server) {\n"
                   "      if (config.server.http) {\n"
                   "        if (config.server.http.host !== undefined) host = config.server.http.host;\n"
                   "        if (config.server.http.port !== undefined && config.server.http.port !== null) port = config.server.http.port;\n"
                   "      }\n"
                   "    }\n"
                   "  }\n"
                   "  return `${host}:${port}`;\n"
                   "}\n"}],
    supportCode=TS_CONFIG_TYPES,
    referenceSolution="export function listenAddress(config: Config | undefined): string {\n"
                      "  const host = config?.server?.http?.host ?? 'localhost';\n"
                      "  const port = config?.server?.http?.port ?? 8080;\n"
                      "  return `${host}:${port}`;\n"
                      "}\n",
    hiddenChecks=TS_ASSERT +
    "assert.strictEqual(listenAddress(undefined), 'localhost:8080');\n"
    "assert.strictEqual(listenAddress({}), 'localhost:8080');\n"
    "assert.strictEqual(listenAddress({ server: { http: { port: 0 } } }), 'localhost:0');\n"
    "assert.strictEqual(listenAddress({ server: { http: { host: '', port: null } } }), ':8080');\n"
    "assert.strictEqual(listenAddress({ server: { http: { host: '0.0.0.0', port: 443 } } }), '0.0.0.0:443');\n",
    mutants=[
        "export function listenAddress(config: Config | undefined): string {\n"
        "  const host = config?.server?.http?.host || 'localhost';\n"
        "  const port = config?.server?.http?.port || 8080;\n"
        "  return `${host}:${port}`;\n"
        "}\n",
        "export function listenAddress(config: Config | undefined): string {\n"
        "  const host = config?.server?.http?.host ?? 'localhost';\n"
        "  const port = config?.server?.http?.port || 8080;\n"
        "  return `${host}:${port}`;\n"
        "}\n",
        "export function listenAddress(config: Config | undefined): string {\n"
        "  const host = config?.server?.http?.host || 'localhost';\n"
        "  const port = config?.server?.http?.port ?? 8080;\n"
        "  return `${host}:${port}`;\n"
        "}\n",
    ])

# ---- TypeScript unit-tests (Jest) ----
TS_PASSWORD = ("export type Strength = 'weak' | 'medium' | 'strong';\n\n"
               "export function passwordStrength(password: string): Strength {\n"
               "  if (password.length < 8) return 'weak';\n"
               "  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter(r => r.test(password)).length;\n"
               "  if (password.length >= 12 && classes >= 3) return 'strong';\n"
               "  return classes >= 2 ? 'medium' : 'weak';\n"
               "}\n")
task(
    id="ts-unit-tests-password-strength", kind="unit-tests", language="typescript", difficulty=2,
    tags=["jest", "boundaries"], tokenBudget=512, entryPoint="passwordStrength",
    prompt="Write Jest tests for `passwordStrength(password)`: fewer than 8 characters is 'weak'; 12 or more "
           "characters using at least 3 of the classes lower-case, upper-case, digit, other is 'strong'; otherwise "
           "at least 2 classes is 'medium' and fewer is 'weak'."
           + TS_UNIT_PROMPT.format(fn="passwordStrength", file="password.ts", module="password"),
    contextFiles=[{"path": "password.ts", "content": TS_PASSWORD}], supportCode=TS_PASSWORD, hiddenChecks="",
    referenceSolution="import { passwordStrength } from './password';\n\n"
                      "describe('passwordStrength', () => {\n"
                      "  test('short is weak', () => expect(passwordStrength('Ab1!xyz')).toBe('weak'));\n"
                      "  test('8 chars, two classes is medium', () => expect(passwordStrength('abcdefg1')).toBe('medium'));\n"
                      "  test('one class is weak', () => expect(passwordStrength('abcdefghijklmn')).toBe('weak'));\n"
                      "  test('11 chars is not strong', () => expect(passwordStrength('Abcdefghij1')).toBe('medium'));\n"
                      "  test('12 chars, three classes is strong', () => expect(passwordStrength('Abcdefghijk1')).toBe('strong'));\n"
                      "  test('12 chars, two classes is medium', () => expect(passwordStrength('abcdefghijk1')).toBe('medium'));\n"
                      "  test('symbols count as a class', () => expect(passwordStrength('abcdefghij!1')).toBe('strong'));\n"
                      "});\n",
    mutants=[
        TS_PASSWORD.replace("password.length < 8", "password.length <= 8"),
        TS_PASSWORD.replace("password.length >= 12", "password.length > 12"),
        TS_PASSWORD.replace(", /[^A-Za-z0-9]/]", "]"),
        TS_PASSWORD.replace("classes >= 2 ? 'medium'", "classes >= 1 ? 'medium'"),
    ])

TS_CHUNK = ("export function chunk<T>(items: readonly T[], size: number): T[][] {\n"
            "  if (!Number.isInteger(size) || size < 1) throw new RangeError('size must be a positive integer');\n"
            "  const out: T[][] = [];\n"
            "  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));\n"
            "  return out;\n"
            "}\n")
task(
    id="ts-unit-tests-chunk", kind="unit-tests", language="typescript", difficulty=1, tags=["jest", "arrays"],
    tokenBudget=400, entryPoint="chunk",
    prompt="Write Jest tests for `chunk(items, size)`, which splits an array into consecutive chunks of `size` (the "
           "last may be shorter) and throws a RangeError unless size is a positive integer."
           + TS_UNIT_PROMPT.format(fn="chunk", file="chunk.ts", module="chunk"),
    contextFiles=[{"path": "chunk.ts", "content": TS_CHUNK}], supportCode=TS_CHUNK, hiddenChecks="",
    referenceSolution="import { chunk } from './chunk';\n\n"
                      "test('even split', () => expect(chunk([1, 2, 3, 4], 2)).toEqual([[1, 2], [3, 4]]));\n"
                      "test('last chunk shorter', () => expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]));\n"
                      "test('empty input', () => expect(chunk([], 3)).toEqual([]));\n"
                      "test('size larger than input', () => expect(chunk(['a'], 5)).toEqual([['a']]));\n"
                      "test('rejects zero and fractions', () => {\n"
                      "  expect(() => chunk([1], 0)).toThrow(RangeError);\n"
                      "  expect(() => chunk([1], 1.5)).toThrow(RangeError);\n"
                      "});\n",
    mutants=[
        TS_CHUNK.replace("i < items.length; i += size", "i + size <= items.length; i += size"),
        TS_CHUNK.replace("items.slice(i, i + size)", "items.slice(i, i + size - 1)"),
        TS_CHUNK.replace("!Number.isInteger(size) || ", ""),
    ])

TS_SHIPPING = ("export function shippingCost(weightKg: number, express: boolean): number {\n"
               "  if (!(weightKg > 0)) throw new RangeError('weight must be positive');\n"
               "  let cost: number;\n"
               "  if (weightKg <= 1) cost = 5;\n"
               "  else if (weightKg <= 5) cost = 10;\n"
               "  else cost = 10 + Math.ceil(weightKg - 5) * 2;\n"
               "  return express ? cost * 2 : cost;\n"
               "}\n")
task(
    id="ts-unit-tests-shipping", kind="unit-tests", language="typescript", difficulty=2, tags=["jest", "boundaries", "money"],
    tokenBudget=512, entryPoint="shippingCost",
    prompt="Write Jest tests for `shippingCost(weightKg, express)`: up to 1 kg costs 5, up to 5 kg costs 10, above "
           "that 10 plus 2 per started kg over 5; express doubles the price; a weight that is not positive (or NaN) "
           "throws a RangeError." + TS_UNIT_PROMPT.format(fn="shippingCost", file="shipping.ts", module="shipping"),
    contextFiles=[{"path": "shipping.ts", "content": TS_SHIPPING}], supportCode=TS_SHIPPING, hiddenChecks="",
    referenceSolution="import { shippingCost } from './shipping';\n\n"
                      "describe('shippingCost', () => {\n"
                      "  test.each([\n"
                      "    [0.5, 5], [1, 5], [1.01, 10], [5, 10], [5.1, 12], [6, 12], [7.5, 16],\n"
                      "  ])('%p kg costs %p', (kg, cost) => expect(shippingCost(kg, false)).toBe(cost));\n"
                      "  test('express doubles', () => {\n"
                      "    expect(shippingCost(1, true)).toBe(10);\n"
                      "    expect(shippingCost(6, true)).toBe(24);\n"
                      "  });\n"
                      "  test('rejects non-positive and NaN', () => {\n"
                      "    expect(() => shippingCost(0, false)).toThrow(RangeError);\n"
                      "    expect(() => shippingCost(-2, true)).toThrow(RangeError);\n"
                      "    expect(() => shippingCost(Number.NaN, false)).toThrow(RangeError);\n"
                      "  });\n"
                      "});\n",
    mutants=[
        TS_SHIPPING.replace("weightKg <= 1", "weightKg < 1"),
        TS_SHIPPING.replace("Math.ceil(weightKg - 5)", "Math.floor(weightKg - 5)"),
        TS_SHIPPING.replace("express ? cost * 2 : cost", "express ? cost + 5 : cost"),
        TS_SHIPPING.replace("!(weightKg > 0)", "weightKg <= 0"),
    ])

TS_DURATION = ("export function formatDuration(totalSeconds: number): string {\n"
               "  if (!Number.isInteger(totalSeconds) || totalSeconds < 0) throw new RangeError('need a whole, non-negative number');\n"
               "  const h = Math.floor(totalSeconds / 3600);\n"
               "  const m = Math.floor((totalSeconds % 3600) / 60);\n"
               "  const s = totalSeconds % 60;\n"
               "  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;\n"
               "  return h > 0 ? `${h}:${mmss}` : mmss;\n"
               "}\n")
task(
    id="ts-unit-tests-format-duration", kind="unit-tests", language="typescript", difficulty=2,
    tags=["jest", "formatting", "time"], tokenBudget=512, entryPoint="formatDuration",
    prompt="Write Jest tests for `formatDuration(totalSeconds)`, which formats whole seconds as `mm:ss`, or `h:mm:ss` "
           "from one hour on (hours unpadded), and throws a RangeError for negative or fractional input."
           + TS_UNIT_PROMPT.format(fn="formatDuration", file="duration.ts", module="duration"),
    contextFiles=[{"path": "duration.ts", "content": TS_DURATION}], supportCode=TS_DURATION, hiddenChecks="",
    referenceSolution="import { formatDuration } from './duration';\n\n"
                      "test('zero', () => expect(formatDuration(0)).toBe('00:00'));\n"
                      "test('pads seconds and minutes', () => expect(formatDuration(65)).toBe('01:05'));\n"
                      "test('just under an hour', () => expect(formatDuration(3599)).toBe('59:59'));\n"
                      "test('one hour', () => expect(formatDuration(3600)).toBe('1:00:00'));\n"
                      "test('hours unpadded', () => expect(formatDuration(36125)).toBe('10:02:05'));\n"
                      "test('rejects bad input', () => {\n"
                      "  expect(() => formatDuration(-1)).toThrow(RangeError);\n"
                      "  expect(() => formatDuration(1.5)).toThrow(RangeError);\n"
                      "});\n",
    mutants=[
        TS_DURATION.replace("h > 0 ?", "h > 1 ?"),
        TS_DURATION.replace("Math.floor((totalSeconds % 3600) / 60)", "Math.floor(totalSeconds / 60)"),
        TS_DURATION.replace("String(s).padStart(2, '0')", "String(s)"),
        TS_DURATION.replace("!Number.isInteger(totalSeconds) || ", ""),
    ])

# ---- TypeScript explain ----
task(
    id="ts-explain-debounce", kind="explain", language="typescript", difficulty=2, tags=["timers", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what happens when the function returned by `debounce` is called many times in "
           "quick succession.",
    contextFiles=[{"path": "debounce.ts", "content":
                   "export function debounce<A extends unknown[]>(fn: (...args: A) => void, waitMs: number) {\n"
                   "  let timer: ReturnType<typeof setTimeout> | undefined;\n"
                   "  return (...args: A) => {\n"
                   "    clearTimeout(timer);\n"
                   "    timer = setTimeout(() => fn(...args), waitMs);\n"
                   "  };\n"
                   "}\n"}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "restarts the timer", "phrasings": ["restart", "resets the timer", "cancels the previous", "clears the previous", "cancels the pending", "clears the pending"]},
                {"name": "runs once after quiet", "phrasings": ["once", "single call", "only the last", "after the calls stop", "stop for"]},
                {"name": "latest arguments", "phrasings": ["latest arguments", "last arguments", "most recent arguments", "arguments of the last", "arguments of the latest", "last call's arguments"]}],
            "wrongClaims": ["immediately", "every call runs", "first call's arguments", "first arguments", "throttle", "at most once per"]},
    referenceSolution="Each call clears the pending timer and restarts it, so nothing runs while calls keep coming. "
                      "Once calls stop for waitMs, fn runs once with the latest arguments.",
    mutants=["The first call runs fn immediately and later calls within waitMs are ignored, like a throttle.",
             "Each call restarts the timer, and when the calls stop, fn runs once with the first call's arguments."])

task(
    id="ts-explain-all-settled", kind="explain", language="typescript", difficulty=2, tags=["promises", "concurrency", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what `fetchAll` returns and what happens when some requests fail.",
    contextFiles=[{"path": "fetchAll.ts", "content":
                   "export async function fetchAll(urls: string[]): Promise<{ bodies: string[]; failed: number }> {\n"
                   "  const results = await Promise.allSettled(urls.map(u => fetch(u).then(r => r.text())));\n"
                   "  const bodies = results.flatMap(r => (r.status === 'fulfilled' ? [r.value] : []));\n"
                   "  return { bodies, failed: results.length - bodies.length };\n"
                   "}\n"}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "all requests at once", "phrasings": ["concurrently", "in parallel", "at the same time", "at once", "simultaneously"]},
                {"name": "keeps successful bodies", "phrasings": ["successful", "succeeded", "fulfilled"]},
                {"name": "counts failures without throwing", "phrasings": ["counts the failures", "number of failed", "number of failures", "how many failed", "count of failed", "counts failed"]}],
            "wrongClaims": ["sequentially", "one after another", "one at a time", "throws", "rejects if any", "retries", "stops at the first"]},
    referenceSolution="It fetches all URLs concurrently and waits for every request to settle. It returns the bodies "
                      "of the successful requests, in URL order, plus the number of failed requests, so a failure "
                      "never makes it reject.",
    mutants=["It fetches the URLs one after another and returns the successful bodies plus the number of failed "
             "requests.",
             "It fetches all URLs in parallel and returns their bodies, but rejects if any request fails."])

task(
    id="ts-explain-revenue-reduce", kind="explain", language="typescript", difficulty=2, tags=["reduce", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what `revenueByCategory` computes.",
    contextFiles=[{"path": "revenue.ts", "content":
                   "type Line = { category: string; price: number; qty: number; refunded: boolean };\n\n"
                   "export const revenueByCategory = (lines: Line[]): Record<string, number> =>\n"
                   "  lines\n"
                   "    .filter(l => !l.refunded)\n"
                   "    .reduce<Record<string, number>>(\n"
                   "      (acc, l) => ({ ...acc, [l.category]: (acc[l.category] ?? 0) + l.price * l.qty }),\n"
                   "      {},\n"
                   "    );\n"}],
    hiddenChecks="",
    rubric={"maxWords": 50,
            "requiredConcepts": [
                {"name": "per category", "phrasings": ["per category", "each category", "by category", "every category"]},
                {"name": "price times quantity summed", "phrasings": ["price times quantity", "price * qty", "price multiplied by quantity", "price \u00d7 quantity", "price times qty", "quantity times price"]},
                {"name": "refunded lines excluded", "phrasings": ["refunded lines are excluded", "excluding refunded", "skips refunded", "ignores refunded", "ignoring refunded", "without refunded", "non-refunded", "not refunded"]}],
            "wrongClaims": ["average", "count of lines", "number of items", "includes refunded", "mutates"]},
    referenceSolution="It totals price times quantity for each category, ignoring refunded lines. The result is an "
                      "object mapping each category name to its revenue.",
    mutants=["It computes the average price times quantity per category, ignoring refunded lines.",
             "It sums price times quantity for each category, including refunded lines."])

task(
    id="ts-explain-sql-not-exists", kind="explain", language="typescript", difficulty=2, tags=["sql", "explain"],
    tokenBudget=160,
    prompt="In two sentences, explain what the query in `UNSOLD` returns.",
    contextFiles=[{"path": "queries.ts", "content":
                   "export const UNSOLD = `\n"
                   "  SELECT p.id, p.name\n"
                   "  FROM products p\n"
                   "  WHERE p.discontinued = FALSE\n"
                   "    AND NOT EXISTS (SELECT 1 FROM order_items oi WHERE oi.product_id = p.id)\n"
                   "  ORDER BY p.name\n"
                   "`;\n"}],
    hiddenChecks="",
    rubric={"maxWords": 60,
            "requiredConcepts": [
                {"name": "never ordered", "phrasings": ["never been ordered", "never ordered", "no order items", "not in any order", "no orders", "never appear", "never sold", "not appear in any"]},
                {"name": "not discontinued", "phrasings": ["not discontinued", "active products", "still sold", "non-discontinued", "aren't discontinued", "are not discontinued"]},
                {"name": "sorted by name", "phrasings": ["by name", "alphabetical"]}],
            "wrongClaims": ["most ordered", "best-selling", "deletes", "discontinued products that", "count of orders", "every product"]},
    referenceSolution="It returns the id and name of products that are not discontinued and have never been ordered, "
                      "meaning no order item refers to them. The rows are sorted alphabetically by name.",
    mutants=["It returns every product with its number of orders, sorted by name.",
             "It lists discontinued products that have never been ordered, sorted by name."])

# ---- TypeScript fix ----
task(
    id="ts-fix-range", kind="fix", language="typescript", difficulty=1, tags=["off-by-one", "loops"], tokenBudget=256,
    stopTokens=TS_STOP, entryPoint="range",
    prompt="`range(start, end, step = 1)` should return the numbers from `start` up to but not including `end`, "
           "stepping by a positive `step`. The hidden checks fail with the output below. Fix it and answer with the "
           "whole corrected function.",
    contextFiles=[{"path": "range.ts", "content":
                   "export function range(start: number, end: number, step = 1): number[] {\n"
                   "  const out: number[] = [];\n"
                   "  for (let i = start; i <= end; i += step) out.push(i);\n"
                   "  return out;\n"
                   "}\n"}],
    referenceSolution="export function range(start: number, end: number, step = 1): number[] {\n"
                      "  const out: number[] = [];\n"
                      "  for (let i = start; i < end; i += step) out.push(i);\n"
                      "  return out;\n"
                      "}\n",
    hiddenChecks=TS_ASSERT +
    "assert.deepStrictEqual(range(0, 4), [0, 1, 2, 3]);\n"
    "assert.deepStrictEqual(range(2, 10, 3), [2, 5, 8]);\n"
    "assert.deepStrictEqual(range(0, 9, 3), [0, 3, 6]);\n"
    "assert.deepStrictEqual(range(5, 5), []);\n"
    "assert.deepStrictEqual(range(-2, 1), [-2, -1, 0]);\n",
    mutants=[
        "export function range(start: number, end: number, step = 1): number[] {\n"
        "  const out: number[] = [];\n"
        "  for (let i = start; i < end - 1; i += step) out.push(i);\n"
        "  return out;\n"
        "}\n",
        "export function range(start: number, end: number, step = 1): number[] {\n"
        "  const out: number[] = [];\n"
        "  for (let i = start; i <= end - step; i += step) out.push(i);\n"
        "  return out;\n"
        "}\n",
        "export function range(start: number, end: number, step = 1): number[] {\n"
        "  return Array.from({ length: end - start }, (_, i) => start + i * step);\n"
        "}\n",
    ])

task(
    id="ts-fix-async-foreach", kind="fix", language="typescript", difficulty=3, tags=["async", "promises", "gotchas"],
    tokenBudget=320, stopTokens=TS_STOP, entryPoint="totalSize",
    prompt="`totalSize(paths, sizeOf)` should return the sum of the sizes reported by the async `sizeOf` for every "
           "path (0 for no paths). The hidden checks fail with the output below. Fix it and answer with the whole "
           "corrected function.",
    contextFiles=[{"path": "sizes.ts", "content":
                   "export async function totalSize(paths: string[], sizeOf: (path: string) => Promise<number>): Promise<number> {\n"
                   "  let total = 0;\n"
                   "  paths.forEach(async p => {\n"
                   "    total += await sizeOf(p);\n"
                   "  });\n"
                   "  return total;\n"
                   "}\n"}],
    referenceSolution="export async function totalSize(paths: string[], sizeOf: (path: string) => Promise<number>): Promise<number> {\n"
                      "  const sizes = await Promise.all(paths.map(p => sizeOf(p)));\n"
                      "  return sizes.reduce((sum, n) => sum + n, 0);\n"
                      "}\n",
    hiddenChecks=ts_async(
    "const sizes: Record<string, number> = { a: 10, b: 32, c: 0 };\n"
    "const sizeOf = async (p: string): Promise<number> => {\n"
    "  await new Promise(resolve => setTimeout(resolve, 1));\n"
    "  if (!(p in sizes)) throw new Error(`missing ${p}`);\n"
    "  return sizes[p];\n"
    "};\n"
    "assert.strictEqual(await totalSize(['a', 'b', 'c'], sizeOf), 42);\n"
    "assert.strictEqual(await totalSize([], sizeOf), 0);\n"
    "await assert.rejects(totalSize(['a', 'zzz'], sizeOf), { message: 'missing zzz' });\n"),
    mutants=[
        "export async function totalSize(paths: string[], sizeOf: (path: string) => Promise<number>): Promise<number> {\n"
        "  const sizes = await Promise.all(paths.map(p => sizeOf(p)));\n"
        "  return sizes.reduce((sum, n) => sum + n);\n"
        "}\n",
        "export async function totalSize(paths: string[], sizeOf: (path: string) => Promise<number>): Promise<number> {\n"
        "  let total = 0;\n"
        "  paths.map(async p => { total += await sizeOf(p); });\n"
        "  return total;\n"
        "}\n",
        "export async function totalSize(paths: string[], sizeOf: (path: string) => Promise<number>): Promise<number> {\n"
        "  const results = await Promise.allSettled(paths.map(p => sizeOf(p)));\n"
        "  return results.reduce((sum, r) => sum + (r.status === 'fulfilled' ? r.value : 0), 0);\n"
        "}\n",
    ])

task(
    id="ts-fix-numeric-sort", kind="fix", language="typescript", difficulty=1, tags=["sorting", "gotchas"],
    tokenBudget=256, stopTokens=TS_STOP, entryPoint="sortedScores",
    prompt="`sortedScores(scores)` should return a new array of the scores in ascending numeric order, leaving the "
           "input unchanged. The hidden checks fail with the output below. Fix it and answer with the whole corrected "
           "function.",
    contextFiles=[{"path": "scores.ts", "content":
                   "export function sortedScores(scores: number[]): number[] {\n"
                   "  return scores.sort();\n"
                   "}\n"}],
    referenceSolution="export function sortedScores(scores: number[]): number[] {\n"
                      "  return [...scores].sort((a, b) => a - b);\n"
                      "}\n",
    hiddenChecks=TS_ASSERT +
    "const input = [10, 9, 100, 1, -5];\n"
    "assert.deepStrictEqual(sortedScores(input), [-5, 1, 9, 10, 100]);\n"
    "assert.deepStrictEqual(input, [10, 9, 100, 1, -5], 'input must be unchanged');\n"
    "assert.deepStrictEqual(sortedScores([]), []);\n"
    "assert.deepStrictEqual(sortedScores([2.5, 2, 2.25]), [2, 2.25, 2.5]);\n",
    mutants=[
        "export function sortedScores(scores: number[]): number[] {\n"
        "  return scores.sort((a, b) => a - b);\n"
        "}\n",
        "export function sortedScores(scores: number[]): number[] {\n"
        "  return [...scores].sort((a, b) => b - a);\n"
        "}\n",
        "export function sortedScores(scores: number[]): number[] {\n"
        "  return [...scores].sort((a, b) => (a > b ? 1 : 0));\n"
        "}\n",
    ])

task(
    id="ts-fix-title-case", kind="fix", language="typescript", difficulty=2, tags=["strings", "edge-cases"],
    tokenBudget=256, stopTokens=TS_STOP, entryPoint="titleCase",
    prompt="`titleCase(text)` should upper-case the first letter of every space-separated word and lower-case the "
           "rest, keeping all spaces exactly as they were. The hidden checks fail with the output below. Fix it and "
           "answer with the whole corrected function.",
    contextFiles=[{"path": "titleCase.ts", "content":
                   "export function titleCase(text: string): string {\n"
                   "  return text\n"
                   "    .split(' ')\n"
                   "    .map(w => w[0].toUpperCase() + w.slice(1).toLowerCase())\n"
                   "    .join(' ');\n"
                   "}\n"}],
    referenceSolution="export function titleCase(text: string): string {\n"
                      "  return text\n"
                      "    .split(' ')\n"
                      "    .map(w => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())\n"
                      "    .join(' ');\n"
                      "}\n",
    hiddenChecks=TS_ASSERT +
    "assert.strictEqual(titleCase('hello world'), 'Hello World');\n"
    "assert.strictEqual(titleCase('the  QUICK fox '), 'The  Quick Fox ');\n"
    "assert.strictEqual(titleCase(''), '');\n"
    "assert.strictEqual(titleCase('a'), 'A');\n",
    mutants=[
        "export function titleCase(text: string): string {\n"
        "  return text\n"
        "    .split(' ')\n"
        "    .filter(w => w.length > 0)\n"
        "    .map(w => w[0].toUpperCase() + w.slice(1).toLowerCase())\n"
        "    .join(' ');\n"
        "}\n",
        "export function titleCase(text: string): string {\n"
        "  return text\n"
        "    .split(' ')\n"
        "    .map(w => w.charAt(0).toUpperCase() + w.slice(1))\n"
        "    .join(' ');\n"
        "}\n",
        "export function titleCase(text: string): string {\n"
        "  return text.replace(/\\b\\w/g, c => c.toUpperCase());\n"
        "}\n",
    ])


# @@TYPESCRIPT-END@@


def main():
    outputs_path = os.path.join(HERE, "failing_outputs.json")
    failing = {}
    if os.path.exists(outputs_path):
        with open(outputs_path, encoding="utf-8") as f:
            failing = json.load(f)
    seen = set()
    lines = []
    for t in TASKS:
        if t["id"] in seen:
            sys.exit(f"duplicate id {t['id']}")
        seen.add(t["id"])
        if t["kind"] == "fix":
            t["failingOutput"] = failing.get(t["id"], "(not yet captured: run verify.py --update-failing-output)")
        lines.append(json.dumps(t, ensure_ascii=False, separators=(",", ":")))
    with open(os.path.join(HERE, "tasks.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} tasks to {os.path.join(HERE, 'tasks.jsonl')}")


if __name__ == "__main__":
    main()
