using System.Text.RegularExpressions;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Execution;
using Spark.Eval.Sandbox.Grading;
using Spark.Eval.Sandbox.Importing;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>Plausible wrong bodies for HumanEval (off-by-one, swapped comparison, wrong boundary, flipped boolean): each is classified, and the ones HumanEval's own checks miss are reported.</summary>
public partial class HumanEvalWrongBodyTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>
{
    // One edit of the canonical body; the first operator that applies is used.
    private static readonly (string Name, Regex Pattern, string Replacement)[] Operators =
    [
        ("wrong boundary <= → <", LessEqual(), " < "),
        ("wrong boundary < → <=", Less(), " <= "),
        ("wrong boundary >= → >", GreaterEqual(), " > "),
        ("wrong boundary > → >=", Greater(), " >= "),
        ("off-by-one + 1 → + 2", PlusOne(), " + 2"),
        ("off-by-one - 1 → - 2", MinusOne(), " - 2"),
        ("swapped branch True ↔ False", ReturnTrue(), "return False"),
        ("swapped operator == → !=", EqualEqual(), " != "),
    ];

    [Fact]
    public async Task HumanEval_PlausibleWrongBodies_ClassifiedAndMissesReported()
    {
        SandboxFixture.RequireIsolation();
        Assert.SkipUnless(TestSupport.SlowTestsEnabled, "slow (one program per mutated task): set SPARK_EVAL_SLOW_TESTS=1");
        var file = Path.Combine(TestSupport.SharedDatasets, "humaneval", "HumanEval.jsonl.gz");
        Assert.SkipUnless(File.Exists(file), $"{file} is absent (see ../shared/datasets/SOURCES.md)");
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-tests", Guid.NewGuid().ToString("N"));
        var suite = TaskSuiteLoader.Load((await Importers.ImportAsync("humaneval", file, dir, TestContext.Current.CancellationToken)).Path);
        var grader = new TaskGrader(fixture.Sandbox, TrustIndex.Empty);
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var missed = new List<string>();
        var mutated = 0;
        foreach (var task in suite.Tasks)
        {
            var body = task.ReferenceSolution[task.ContextFiles[0].Content.Length..];
            var op = Operators.FirstOrDefault(o => o.Pattern.IsMatch(body));
            if (op.Name is null)
            {
                continue;
            }

            mutated++;
            var wrong = op.Pattern.Replace(body, op.Replacement, 1);
            var grade = await grader.GradeAnswerAsync(task, wrong, TestContext.Current.CancellationToken);
            outcomes[grade.Outcome.Name()] = outcomes.GetValueOrDefault(grade.Outcome.Name()) + 1;
            Assert.NotEqual(ExecutionOutcome.HarnessError, grade.Outcome);
            if (grade.Passed)
            {
                missed.Add($"{task.Id} ({op.Name})");
            }
        }

        TestContext.Current.SendDiagnosticMessage($"mutated {mutated} tasks; outcomes: {string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}"))}; missed by HumanEval's checks ({missed.Count}): {string.Join("; ", missed)}");
        await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), "spark-eval-humaneval-wrong-bodies.txt"),
            $"mutated {mutated}\n{string.Join("\n", outcomes.Select(kv => $"{kv.Key} {kv.Value}"))}\nmissed:\n{string.Join("\n", missed)}\n", TestContext.Current.CancellationToken);
        Assert.True(mutated >= 30, $"only {mutated} tasks could be mutated");
        Assert.True(outcomes.Where(kv => kv.Key != "passed").Sum(kv => kv.Value) > mutated / 2, "most wrong bodies must fail");
    }

    [GeneratedRegex(@" <= ")]
    private static partial Regex LessEqual();

    [GeneratedRegex(@" < ")]
    private static partial Regex Less();

    [GeneratedRegex(@" >= ")]
    private static partial Regex GreaterEqual();

    [GeneratedRegex(@" > ")]
    private static partial Regex Greater();

    [GeneratedRegex(@" \+ 1\b")]
    private static partial Regex PlusOne();

    [GeneratedRegex(@" - 1\b")]
    private static partial Regex MinusOne();

    [GeneratedRegex(@"return True\b")]
    private static partial Regex ReturnTrue();

    [GeneratedRegex(@" == ")]
    private static partial Regex EqualEqual();
}
