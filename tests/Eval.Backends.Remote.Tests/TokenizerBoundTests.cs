using System.Text;
using Microsoft.ML.Tokenizers;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>The client tokenizer counts in linear time (issue 15 item 3), exactly on ordinary text, and can be cancelled.</summary>
public sealed class TokenizerBoundTests
{
    public static TheoryData<string> Encodings => new(ModelTokenizers.Encodings);

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Count_RepositoryTextInEveryEncoding_EqualsTheTokenizersWholeCount(string encoding)
    {
        var counter = ModelTokenizers.Create(encoding, exact: true);
        var whole = encoding == "gpt2" ? TiktokenTokenizer.CreateForModel("gpt2") : TiktokenTokenizer.CreateForEncoding(encoding);
        var checkedFiles = 0;
        foreach (var text in RepositoryTexts())
        {
            Assert.Equal(whole.CountTokens(text), counter.Count(text));
            Assert.Equal(text, string.Concat(counter.Split(text)));
            checkedFiles++;
        }

        Assert.True(checkedFiles >= 10, $"only {checkedFiles} files found to compare");
    }

    [Fact]
    public void Count_PiecesOfMixedText_CutOnlyAtBoundariesAndCoverTheText()
    {
        var text = "def f(x):\n    return x  +  1\n/* c */\n" + new string('a', 2000) + " tail\r\n\ud83d\ude00" + new string('\ud83d', 1);
        var pieces = TokenCounter.Pieces(text);
        Assert.Equal(text.Length, pieces.Sum(p => p.Length));
        Assert.All(pieces, p => Assert.True(p.Length <= 4096 + TokenCounter.MaxRunChars));
        Assert.All(pieces.Skip(1), p => Assert.False(char.IsLowSurrogate(text[p.Start])));
    }

    [Theory]
    [InlineData('a')]
    [InlineData('!')]
    public async Task Count_TwoMegabytesWithoutWhitespace_FinishesInSecondsNotHours(char filler)
    {
        // Before: byte-pair encoding of one 2 MB pre-token is quadratic (200 KB took 10.7 s; 2 MB about two hours).
        var text = new string(filler, 2 * 1024 * 1024);
        var count = await Task.Run(() => TokenCounter.Default.Count(text), TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        // Each cut costs at most a token or two against the unbounded count (a run of 'a' is 8 characters per token).
        Assert.InRange(count, text.Length / 32, text.Length / 2);
    }

    [Fact]
    public void Count_CancelledToken_Throws()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.Throws<OperationCanceledException>(() => TokenCounter.Default.CountCancellable(new string('x', 100_000), cancelled.Token));
    }

    [Fact]
    public void Count_BeyondTheInputLimit_TheRestIsEstimated()
    {
        var text = new string(' ', TokenCounter.MaxInputChars) + new string('b', 400);

        var count = TokenCounter.Default.Count(text);

        Assert.Equal(TokenCounter.Default.Count(text[..TokenCounter.MaxInputChars]) + (400 / TokenCounter.EstimatedCharsPerToken), count);
    }

    /// <summary>Markdown and C# files of this repository (found upwards from the test's directory), at most 60 of them.</summary>
    private static IEnumerable<string> RepositoryTexts()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Eval.sln")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        var files = Directory.EnumerateFiles(Path.Combine(dir.FullName, "docs"), "*.md")
            .Concat(Directory.EnumerateFiles(Path.Combine(dir.FullName, "src"), "*.cs", SearchOption.AllDirectories))
            .Order(StringComparer.Ordinal).Take(60);
        foreach (var file in files)
        {
            yield return File.ReadAllText(file, Encoding.UTF8);
        }
    }
}
