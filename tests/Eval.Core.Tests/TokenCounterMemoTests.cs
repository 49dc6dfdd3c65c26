using Microsoft.ML.Tokenizers;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Core.Tests;

/// <summary>The token counter remembers counts by content (issue #18, the virtual-time benchmark): a remembered count is the count.</summary>
public class TokenCounterMemoTests
{
    private static TokenCounter Fresh() => new(TiktokenTokenizer.CreateForEncoding("o200k_base"), "o200k_base");

    [Fact]
    public void Count_TextsOfEqualLengthAskedAgain_EachGetsItsOwnCount()
    {
        // Same length, very different counts: a memo keyed by anything short of the content would mix them up.
        var words = string.Join(' ', Enumerable.Range(0, 40).Select(i => ((char)('a' + (i % 26))).ToString()));
        var run = new string('a', words.Length);
        var counter = Fresh();
        var expected = (Words: Fresh().Count(words), Run: Fresh().Count(run));
        Assert.NotEqual(expected.Words, expected.Run);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(expected.Words, counter.Count(words));
            Assert.Equal(expected.Run, counter.Count(run));
            // A different instance with the same content is the same text.
            Assert.Equal(expected.Words, counter.Count(new string(words.AsSpan())));
        }
    }

    [Fact]
    public void Count_MoreDistinctTextsThanTheMemoHolds_CountsStayExact()
    {
        var counter = Fresh();
        var reference = Fresh();
        // Texts of the longest remembered size, enough of them to fill the memo more than twice.
        var count = (int)(2 * TokenCounter.MemoCapacityChars / TokenCounter.MemoMaxChars) + 3;
        var texts = Enumerable.Range(0, count).Select(i => $"text {i}: " + new string((char)('a' + (i % 26)), TokenCounter.MemoMaxChars - 12)).ToList();
        var expected = texts.Select(reference.Count).ToList();

        Assert.Equal(expected, texts.Select(counter.Count));
        Assert.Equal(expected, texts.Select(counter.Count));
        Assert.Equal(expected[0], counter.CountCancellable(texts[0], CancellationToken.None));
    }
}
