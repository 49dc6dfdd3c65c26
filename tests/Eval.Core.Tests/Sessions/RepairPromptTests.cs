using Spark.Eval.Core.Results;
using Spark.Eval.Core.Sessions;

namespace Spark.Eval.Core.Tests.Sessions;

/// <summary>The repair message: the grade's first failure, cut to the documented head and tail.</summary>
public class RepairPromptTests
{
    private static AttemptRecord Failed(string detail) => new()
    {
        Slot = new SlotKey("t", "b", 0),
        Events = [],
        Outcome = AttemptOutcome.Ok,
        Answer = "def f(): return 4",
        Tokens = new TokenCounts { Tokenizer = "o200k_base" },
        Grade = new AttemptGrade { Outcome = "wrong_answer", Detail = detail, Isolation = "test" },
    };

    [Fact]
    public void Text_ShortFailure_CarriedWhole()
    {
        var text = RepairPrompt.Text(Failed("AssertionError: f() == 3, got 4"));
        Assert.Contains("wrong_answer: AssertionError: f() == 3, got 4", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_LongFailure_KeepsHeadAndTailAndSaysWhatWasCut()
    {
        var detail = "FIRST" + new string('x', 10_000) + "LAST";
        var text = RepairPrompt.Text(Failed(detail));
        var failure = "wrong_answer: " + detail;
        Assert.Contains(failure[..SessionDefaults.FailureHeadChars], text, StringComparison.Ordinal);
        Assert.Contains(failure[^SessionDefaults.FailureTailChars..], text, StringComparison.Ordinal);
        Assert.Contains($"[{failure.Length - SessionDefaults.FailureHeadChars - SessionDefaults.FailureTailChars} characters cut]", text, StringComparison.Ordinal);
        Assert.True(text.Length < SessionDefaults.FailureHeadChars + SessionDefaults.FailureTailChars + 300);
    }

    [Fact]
    public void Text_GenerationFailed_CarriesTheErrorClassAndMessage()
    {
        var record = Failed("") with { Grade = null, Outcome = new AttemptOutcome(AttemptStatus.Error, "http_500", "server error") };
        Assert.Contains("http_500: server error", RepairPrompt.Text(record), StringComparison.Ordinal);
    }
}
