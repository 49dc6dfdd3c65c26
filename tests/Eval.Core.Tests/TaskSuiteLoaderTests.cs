using Spark.Eval.Core;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Core.Tests;

public class TaskSuiteLoaderTests
{
    internal const string ValidLine =
        """{"formatVersion":1,"id":"t1","kind":"stub","language":"python","prompt":"p","hiddenChecks":"assert True","referenceSolution":"def f(): pass"}""";

    private static TaskSuite Parse(string text) => TaskSuiteLoader.Parse("s", "suite.jsonl", System.Text.Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Parse_ValidRecord_LoadsWithDefaults()
    {
        var suite = Parse(ValidLine + "\n\n");
        var task = Assert.Single(suite.Tasks);
        Assert.Equal(TaskKind.Stub, task.Kind);
        Assert.Empty(task.ContextFiles);
        Assert.Empty(task.Mutants);
        Assert.Equal(512, task.TokenBudget);
        Assert.Equal(64, suite.Sha256.Length);
    }

    [Theory]
    [InlineData("{\"formatVersion\":1,", "suite.jsonl:2", "not valid JSON")]
    [InlineData("""{"formatVersion":1,"id":"t2","kind":"poem","language":"python","prompt":"p","hiddenChecks":"","referenceSolution":"x"}""", "suite.jsonl:2: field 'kind'", "unknown kind 'poem'")]
    [InlineData("""{"formatVersion":1,"id":"t2","kind":"stub","language":"python","hiddenChecks":"","referenceSolution":"x"}""", "suite.jsonl:2: field 'prompt'", "missing required field")]
    [InlineData(TaskSuiteLoaderTests.ValidLine, "suite.jsonl:2: field 'id'", "duplicate id 't1' (first on line 1)")]
    [InlineData("""{"formatVersion":1,"id":"t2","kind":"stub","language":"python","prompt":"p","hiddenChecks":"","referenceSolution":"x","promt":"typo"}""", "suite.jsonl:2: field 'promt'", "unknown field")]
    [InlineData("""{"formatVersion":1,"id":"t2","kind":"stub","language":"python","prompt":"p","hiddenChecks":"","referenceSolution":"x","difficulty":"hard"}""", "suite.jsonl:2: field 'difficulty'", "expected number")]
    [InlineData("""{"formatVersion":1,"id":"t2","kind":"stub","language":"cobol","prompt":"p","hiddenChecks":"","referenceSolution":"x"}""", "suite.jsonl:2: field 'language'", "unknown language")]
    [InlineData("""{"formatVersion":2,"id":"t2","kind":"stub","language":"python","prompt":"p","hiddenChecks":"","referenceSolution":"x"}""", "suite.jsonl:2: field 'formatVersion'", "unsupported version 2")]
    public void Parse_BadSecondLine_NamesFileLineFieldAndFix(string secondLine, string where, string problem)
    {
        var ex = Assert.Throws<InputException>(() => Parse(ValidLine + "\n" + secondLine + "\n"));
        Assert.StartsWith(where, ex.Message, StringComparison.Ordinal);
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingPath_SaysWhatToPass()
    {
        var ex = Assert.Throws<InputException>(() => TaskSuiteLoader.Load("/nonexistent/suite"));
        Assert.Contains("tasks.jsonl", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_RepositoryMiniSuite_HasEveryKind()
    {
        var suite = TaskSuiteLoader.Load(Path.Combine(TestPaths.RepoRoot, "datasets", "spark-mini"));
        Assert.Equal(Enum.GetValues<TaskKind>().Order(), suite.Tasks.Select(t => t.Kind).Distinct().Order());
        Assert.All(suite.Tasks, t => Assert.True(t.Mutants.Count >= 2, t.Id));
    }
}

internal static class TestPaths
{
    public static string RepoRoot { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Eval.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Eval.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>Issue #15 item 10: a suite with a key twice or bytes that are not UTF-8 is refused, naming file, line and field.</summary>
public class TaskSuiteStrictnessTests
{
    private static TaskSuite Parse(string text) => TaskSuiteLoader.Parse("s", "suite.jsonl", System.Text.Encoding.UTF8.GetBytes(text));

    private const string ValidLine = TaskSuiteLoaderTests.ValidLine;

    [Theory]
    [InlineData("""{"formatVersion":1,"id":"t2","kind":"stub","language":"python","prompt":"p","prompt":"q","hiddenChecks":"","referenceSolution":"x"}""", "suite.jsonl:2: field 'prompt'")]
    [InlineData("""{"formatVersion":1,"id":"t2","kind":"stub","language":"python","prompt":"p","hiddenChecks":"","referenceSolution":"x","contextFiles":[{"path":"a","path":"b","content":""}]}""", "suite.jsonl:2: field 'contextFiles[0].path'")]
    public void Parse_DuplicateKey_IsRefusedNamingLineAndField(string secondLine, string where)
    {
        var ex = Assert.Throws<InputException>(() => Parse(ValidLine + "\n" + secondLine + "\n"));
        Assert.StartsWith(where, ex.Message, StringComparison.Ordinal);
        Assert.Contains("duplicate key", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_InvalidUtf8_IsRefusedNamingTheLine()
    {
        var good = System.Text.Encoding.UTF8.GetBytes(ValidLine + "\n");
        var bad = System.Text.Encoding.UTF8.GetBytes(ValidLine.Replace("\"t1\"", "\"t2\"", StringComparison.Ordinal).Replace("\"p\"", "\"p\u00FF\"", StringComparison.Ordinal) + "\n");
        var at = Array.IndexOf(bad, (byte)0xC3);
        Assert.True(at > 0);
        bad[at] = 0xFF; // not a UTF-8 lead byte
        var ex = Assert.Throws<InputException>(() => TaskSuiteLoader.Parse("s", "suite.jsonl", [.. good, .. bad]));
        Assert.StartsWith("suite.jsonl:2: invalid UTF-8", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }
}
