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

CS_UNIT_PROMPT = (" The implementation is `Problem.{fn}` (shown in {file}). Write `public static class Tests` with "
                  "`public static void` methods whose names start with `Test`, using xunit's `Assert`; `using Xunit;` "
                  "and the usual System usings are already in scope, so write no using directives. Every test must pass "
                  "on the correct implementation; together they must catch plausible bugs.")
PY_UNIT_PROMPT = (" The function `{fn}` (shown in {file}) is already defined above your code in the same module: do not "
                  "import or redefine it. Write `unittest` tests ending with `if __name__ == '__main__': unittest.main()` "
                  "(or plain top-level asserts). Every test must pass on the correct implementation; together they must "
                  "catch plausible bugs.")
TS_UNIT_PROMPT = (" Write a Jest test file (it is saved as answer.test.ts next to {file}): import `{fn}` from "
                  "'./{module}' and `describe`, `test`, `expect` from '@jest/globals'. It is type-checked with "
                  "`tsc --strict`. Every test must pass on the correct implementation; together they must catch "
                  "plausible bugs.")

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
           "of one or more dot-separated labels (letters, digits, hyphens) ending in a label of at least two letters. "
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
           "current culture. Answer with the method only.",
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
           "`ArgumentOutOfRangeException` when `pageSize` < 1 or `totalItems` < 0. Answer with the method only.",
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
                {"name": "length 10 to 64", "phrasings": ["10 to 64", "10 and 64", "10-64", "ten to sixty-four", "between 10"]},
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
                {"name": "at most four at once", "phrasings": ["at most four", "at most 4", "up to four", "up to 4", "no more than four", "no more than 4", "four at a time", "4 at a time", "four concurrent", "4 concurrent"]},
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

# @@PYTHON@@

# @@TYPESCRIPT@@


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
