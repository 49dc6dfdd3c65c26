using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Execution;
using Spark.Eval.Sandbox.Grading;
using Spark.Eval.Sandbox.Importing;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>Imports of the public peer suites in ../shared/datasets (skipped with a message where that folder is absent).</summary>
public class PublicDatasetTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>
{
    // MultiPL-E has no reference solutions: hand-written correct and wrong completions (bodies, or whole functions).
    public static readonly TheoryData<string, string, string> CSharpBodies = new()
    {
        { "HumanEval_23_strlen", "        return str.Length;\n", "        return str.Length - 1;\n" },
        { "HumanEval_53_add", "        return x + y;\n", "        return x - y;\n" },
        { "HumanEval_27_flip_case", "        return new string(str.Select(c => char.IsUpper(c) ? char.ToLower(c) : char.ToUpper(c)).ToArray());\n", "        return str.ToUpper();\n" },
        { "HumanEval_35_max_element", "        return l.Max();\n", "        return l.Min();\n" },
        { "HumanEval_55_fib", "        long a = 0, b = 1;\n        for (long i = 0; i < n; i++) { (a, b) = (b, a + b); }\n        return a;\n", "        return n <= 1 ? n : n * 2;\n" },
        { "HumanEval_2_truncate_number", "        return number - (float)Math.Floor(number);\n", "        return (float)Math.Floor(number);\n" },
        { "HumanEval_48_is_palindrome", "        return new string(text.Reverse().ToArray()) == text;\n", "        return text.Length > 0 && text[0] == text[text.Length - 1];\n" },
        { "HumanEval_16_count_distinct_characters", "        return str.ToLower().Distinct().Count();\n", "        return str.Distinct().Count();\n" },
        { "HumanEval_15_string_sequence", "        return string.Join(\" \", Enumerable.Range(0, (int)n + 1));\n", "        return string.Join(\" \", Enumerable.Range(0, (int)n));\n" },
        { "HumanEval_30_get_positive", "        return l.Where(x => x > 0).ToList();\n", "        return l.Where(x => x >= 0).ToList();\n" },
        { "HumanEval_13_greatest_common_divisor", "```csharp\npublic static long GreatestCommonDivisor(long a, long b) {\n    while (b != 0) { (a, b) = (b, a % b); }\n    return a;\n}\n```", "        return Math.Min(a, b);\n" },
        { "HumanEval_28_concatenate", "```csharp\npublic static string Concatenate(List<string> strings) => string.Join(\"\", strings);\n```", "        return string.Join(\" \", strings);\n" },
    };

    public static readonly TheoryData<string, string, string> TypeScriptBodies = new()
    {
        { "HumanEval_23_strlen", "  return string.length;\n}\n", "  return string.length + 1;\n}\n" },
        { "HumanEval_53_add", "  return x + y;\n}\n", "  return x * y;\n}\n" },
        { "HumanEval_27_flip_case", "  return string.split('').map(c => c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()).join('');\n}\n", "  return string.toLowerCase();\n}\n" },
        { "HumanEval_35_max_element", "  return Math.max(...l);\n}\n", "  return l[0];\n}\n" },
        { "HumanEval_55_fib", "  let a = 0, b = 1;\n  for (let i = 0; i < n; i++) { [a, b] = [b, a + b]; }\n  return a;\n}\n", "  return n;\n}\n" },
        { "HumanEval_2_truncate_number", "  return number % 1;\n}\n", "  return Math.floor(number);\n}\n" },
        { "HumanEval_48_is_palindrome", "  return text === text.split('').reverse().join('');\n}\n", "  return text.length % 2 === 1;\n}\n" },
        { "HumanEval_16_count_distinct_characters", "  return new Set(string.toLowerCase()).size;\n}\n", "  return new Set(string).size;\n}\n" },
        { "HumanEval_15_string_sequence", "  return Array.from({ length: n + 1 }, (_, i) => i).join(' ');\n}\n", "  return Array.from({ length: n }, (_, i) => i).join(' ');\n}\n" },
        { "HumanEval_30_get_positive", "  return l.filter(x => x > 0);\n}\n", "  return l.filter(x => x >= 0);\n}\n" },
        { "HumanEval_13_greatest_common_divisor", "```ts\nfunction greatest_common_divisor(a: number, b: number): number {\n  while (b !== 0) { [a, b] = [b, a % b]; }\n  return a;\n}\n```", "  return Math.min(a, b);\n}\n" },
        { "HumanEval_28_concatenate", "  return strings.join('');\n}\n", "  return strings.join(',');\n}\n" },
    };

    private static readonly Dictionary<string, TaskSuite> Imported = [];

    private static async Task<TaskSuite> ImportAsync(string format, string relative)
    {
        var file = Path.Combine(TestSupport.SharedDatasets, relative);
        Assert.SkipUnless(File.Exists(file), $"{file} is absent: the public datasets live in ../shared/datasets relative to the repo root (see SOURCES.md there)");
        lock (Imported)
        {
            if (Imported.TryGetValue(relative, out var cached))
            {
                return cached;
            }
        }

        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-tests", Guid.NewGuid().ToString("N"));
        var result = await Importers.ImportAsync(format, file, dir, TestContext.Current.CancellationToken);
        var suite = TaskSuiteLoader.Load(result.Path);
        lock (Imported)
        {
            Imported[relative] = suite;
        }

        return suite;
    }

    [Fact]
    public async Task ImportHumanEval_GzipFile_Gives164CompletionTasks()
    {
        var suite = await ImportAsync("humaneval", "humaneval/HumanEval.jsonl.gz");
        Assert.Equal(164, suite.Tasks.Count);
        Assert.All(suite.Tasks, t => Assert.Contains(ProgramComposer.PrefixTag, t.Tags));
        Assert.Equal("has_close_elements", suite.Tasks[0].EntryPoint);
    }

    [Fact]
    public async Task ImportMultiplECSharp_Histogram_IsQuarantinedWithReason()
    {
        var suite = await ImportAsync("multipl-e", "multipl-e/humaneval-cs.jsonl");
        Assert.Equal(158, suite.Tasks.Count);
        var histogram = Assert.Single(suite.Tasks, t => t.Tags.Contains("HumanEval_111_histogram"));
        Assert.Contains("reference equality", histogram.QuarantineReason, StringComparison.Ordinal);
        Assert.Single(suite.Tasks, t => t.QuarantineReason is not null);
    }

    [Theory]
    [MemberData(nameof(CSharpBodies))]
    public async Task MultiplECSharp_HandWrittenBodies_CorrectPassesWrongFails(string name, string correct, string wrong)
    {
        SandboxFixture.RequireIsolation();
        await AssertBodiesAsync(await ImportAsync("multipl-e", "multipl-e/humaneval-cs.jsonl"), name, correct, wrong);
    }

    [Theory]
    [MemberData(nameof(TypeScriptBodies))]
    public async Task MultiplETypeScript_HandWrittenBodies_CorrectPassesWrongFails(string name, string correct, string wrong)
    {
        SandboxFixture.RequireIsolation();
        Assert.SkipUnless(TestSupport.SlowTestsEnabled, "slow (tsc + node per body): set SPARK_EVAL_SLOW_TESTS=1");
        await SandboxFixture.RequireNodeToolsAsync();
        await AssertBodiesAsync(await ImportAsync("multipl-e", "multipl-e/humaneval-ts.jsonl"), name, correct, wrong);
    }

    [Fact]
    public async Task HumanEval_CanonicalPassAndReturnNoneFails_All164()
    {
        SandboxFixture.RequireIsolation();
        Assert.SkipUnless(TestSupport.SlowTestsEnabled, "slow (492 programs): set SPARK_EVAL_SLOW_TESTS=1");
        var suite = await ImportAsync("humaneval", "humaneval/HumanEval.jsonl.gz");
        var grader = new TaskGrader(fixture.Sandbox, TrustIndex.Empty);
        var canonical = 0;
        var none = 0;
        var failures = new List<string>();
        foreach (var task in suite.Tasks)
        {
            var reference = await grader.GradeAnswerAsync(task, "```python\n" + task.ReferenceSolution + "\n```", TestContext.Current.CancellationToken);
            canonical += reference.Passed ? 1 : 0;
            if (!reference.Passed)
            {
                failures.Add($"{task.Id}: {reference.Outcome.Name()} {reference.Detail}");
            }

            var nullBody = await grader.GradeAnswerAsync(task, "    return None\n", TestContext.Current.CancellationToken);
            none += nullBody.Passed ? 1 : 0;
        }

        Assert.True(canonical == 164, string.Join("\n", failures));
        Assert.Equal(0, none);
    }

    private async Task AssertBodiesAsync(TaskSuite suite, string name, string correct, string wrong)
    {
        var task = Assert.Single(suite.Tasks, t => t.Tags.Contains(name));
        var grader = new TaskGrader(fixture.Sandbox, TrustIndex.Empty);
        var good = await grader.GradeAnswerAsync(task, correct, TestContext.Current.CancellationToken);
        Assert.True(good.Passed, $"{name} correct: {good.Outcome.Name()} {good.Detail} (extraction {good.Extraction?.Method}/{good.Extraction?.Form})");
        var bad = await grader.GradeAnswerAsync(task, wrong, TestContext.Current.CancellationToken);
        Assert.False(bad.Passed, $"{name} wrong body passed");
        Assert.Equal(ExecutionOutcome.WrongAnswer, bad.Outcome);
    }
}
