using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Execution;
using Spark.Eval.Sandbox.Grading;

namespace Spark.Eval.Sandbox.Tests;

public class GradingTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>
{
    private static readonly TaskSuite Mini = TaskSuiteLoader.Load(Path.Combine(TestSupport.RepoRoot, "datasets", "spark-mini"));

    private TaskGrader Grader => new(fixture.Sandbox, new TrustIndex(Mini.Tasks));

    private static BenchTask MiniTask(string id) => Mini.Tasks.Single(t => t.Id == id);

    [Fact]
    public async Task Refactor_CSharpLoopKeptBehaviour_FailsStructureRuleOnSyntaxTree()
    {
        SandboxFixture.RequireIsolation();
        var task = MiniTask("cs-refactor-linq");
        var loop = "```csharp\n" + task.ContextFiles[0].Content + "```";
        var grade = await Grader.GradeAnswerAsync(task, loop, TestContext.Current.CancellationToken);
        Assert.Equal(ExecutionOutcome.WrongAnswer, grade.Outcome);
        Assert.Contains("no-loops", grade.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Structure_CommentOrStringMentioningLoop_DoesNotCountAsLoop()
    {
        Assert.Null(await StructureChecker.CheckAsync("no-loops;uses-linq", "csharp", "// for each user\npublic static int F(int[] xs) => xs.Where(x => x > 0).Count(); // \"while\"", TestContext.Current.CancellationToken));
        Assert.NotNull(await StructureChecker.CheckAsync("uses-linq", "csharp", "public static int F(int[] xs) { var n = 0; foreach (var x in xs) n++; return n; }", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Structure_PythonAst_ComprehensionRequired()
    {
        Assert.Null(await StructureChecker.CheckAsync("no-loops;uses-comprehension", "python", "def f(xs):\n    # for x in xs\n    return [x * 2 for x in xs]\n", TestContext.Current.CancellationToken));
        var broken = await StructureChecker.CheckAsync("no-loops", "python", "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x * 2)\n    return out\n", TestContext.Current.CancellationToken);
        Assert.Contains("loop", broken, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Structure_TypeScriptCompilerApi_ArrayMethodsRequired()
    {
        await SandboxFixture.RequireNodeToolsAsync();
        Assert.Null(await StructureChecker.CheckAsync("no-loops;uses-array-methods", "typescript", "export const f = (xs: number[]): number[] => xs.filter(x => x > 0).map(x => x * 2); // for (;;)\n", TestContext.Current.CancellationToken));
        var broken = await StructureChecker.CheckAsync("no-loops", "typescript", "export function f(xs: number[]) { const out: number[] = []; for (const x of xs) out.push(x); return out; }\n", TestContext.Current.CancellationToken);
        Assert.Contains("loop", broken, StringComparison.Ordinal);
    }

    [Fact]
    public void Rubric_MutantExplanations_FailWithReason()
    {
        var task = MiniTask("py-explain-sql");
        Assert.True(RubricGrader.Grade(task, task.ReferenceSolution).Passed);
        Assert.Contains("wrong claim", RubricGrader.Grade(task, task.Mutants[0]).Detail, StringComparison.Ordinal);
        Assert.Contains("missing concept", RubricGrader.Grade(task, "It is a query.").Detail, StringComparison.Ordinal);
        Assert.Contains("too long", RubricGrader.Grade(task, string.Join(' ', Enumerable.Repeat("word", 500))).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnitTests_PythonTestsMissingEdgeCase_ReportMutationScore()
    {
        SandboxFixture.RequireIsolation();
        var task = TestSupport.Task("py-tests", TaskKind.UnitTests, "python", "assert clamp(5, 0, 3) == 3\nassert clamp(-1, 0, 3) == 0\nassert clamp(2, 0, 3) == 2\n", "",
            mutants: ["def clamp(x, lo, hi):\n    return min(x, hi)\n", "def clamp(x, lo, hi):\n    return max(x, lo)\n"],
            support: "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n");
        var weak = await Grader.GradeAnswerAsync(task, "```python\nassert clamp(5, 0, 3) == 3\n```", TestContext.Current.CancellationToken);
        Assert.Equal(ExecutionOutcome.WrongAnswer, weak.Outcome);
        Assert.Equal(0.5, weak.MutationScore);
        var strong = await Grader.GradeAnswerAsync(task, task.ReferenceSolution, TestContext.Current.CancellationToken);
        Assert.True(strong.Passed, strong.Detail);
        Assert.Equal(1.0, strong.MutationScore);
        var wrongTests = await Grader.GradeAnswerAsync(task, "assert clamp(5, 0, 3) == 5\n", TestContext.Current.CancellationToken);
        Assert.Contains("correct implementation", wrongTests.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnitTests_CSharpXunitAssertTests_KillMutant()
    {
        SandboxFixture.RequireIsolation();
        var task = TestSupport.Task("cs-tests", TaskKind.UnitTests, "csharp",
            "public static class Tests { public static void TestClamp() { Assert.Equal(3, Problem.Clamp(5, 0, 3)); Assert.Equal(0, Problem.Clamp(-1, 0, 3)); } }", "",
            mutants: ["public static int Clamp(int x, int lo, int hi) => Math.Min(x, hi);", "public static int Clamp(int x, int lo, int hi) => Math.Max(x, lo);"],
            support: "public static int Clamp(int x, int lo, int hi) => Math.Max(lo, Math.Min(x, hi));");
        var grade = await Grader.GradeAnswerAsync(task, task.ReferenceSolution, TestContext.Current.CancellationToken);
        Assert.True(grade.Passed, grade.Detail);
        Assert.Equal(2, grade.MutantsKilled);
    }
}
