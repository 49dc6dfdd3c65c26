using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Grading;

namespace Spark.Eval.Sandbox.Tests;

public class CodeExtractorTests
{
    private static readonly BenchTask Python = TestSupport.Task("t", TaskKind.Stub, "python", "def f():\n    return 1\n", "assert f() == 1", entry: "f");

    [Fact]
    public void Extract_TaggedBlockAfterOtherBlock_PicksLanguageBlock()
    {
        var e = CodeExtractor.Extract("Here:\n```text\nnot code\n```\nand\n```python\ndef f():\n    return 1\n```\n", Python);
        Assert.Equal("fenced:python", e.Method);
        Assert.StartsWith("def f()", e.Code, StringComparison.Ordinal);
        Assert.Equal("whole-function", e.Form);
    }

    [Fact]
    public void Extract_UntaggedBlock_TakesFirstBlock()
    {
        var e = CodeExtractor.Extract("```\ndef f():\n    return 2\n```", Python);
        Assert.Equal("fenced:first", e.Method);
        Assert.Contains("return 2", e.Code, StringComparison.Ordinal);
    }

    [Fact]
    public void Extract_NoFence_TakesWholeAnswer()
    {
        var e = CodeExtractor.Extract("def f():\n    return 3\n", Python);
        Assert.Equal("whole-answer", e.Method);
    }

    [Fact]
    public void Extract_UnclosedFence_TakesToEndAndSaysSo()
    {
        var e = CodeExtractor.Extract("```python\ndef f():\n    return 4", Python);
        Assert.Equal("fenced:python:unclosed", e.Method);
        Assert.EndsWith("return 4", e.Code, StringComparison.Ordinal);
    }

    [Fact]
    public void Extract_PrefixTaskBody_AppliesFirstStopToken()
    {
        var task = Python with { Tags = [ProgramComposer.PrefixTag], StopTokens = ["\ndef", "\nprint"], ContextFiles = [new ContextFile("prompt.py", "def f():\n")] };
        var e = CodeExtractor.Extract("    return 1\nprint(f())\ndef g(): pass\n", task);
        Assert.Equal("body", e.Form);
        Assert.Equal("\nprint", e.StopToken);
        Assert.Equal("    return 1", e.Code);
    }
}
