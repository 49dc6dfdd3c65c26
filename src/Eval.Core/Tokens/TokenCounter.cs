using System.Collections.Concurrent;
using Microsoft.ML.Tokenizers;

namespace Spark.Eval.Core.Tokens;

/// <summary>
/// The client-side tokenizer: counts tokens of text the backend did not count for us, in time linear in the text's
/// length. Byte-pair encoding costs the square of a pre-token's length (a 200 KB run without spaces took 10 s), so the
/// text is cut into pieces at pre-token boundaries (exact), and a run longer than <see cref="MaxRunChars"/> with no
/// boundary is cut every <see cref="MaxRunChars"/> characters (approximate, only for such runs). Text beyond
/// <see cref="MaxInputChars"/> is estimated, not tokenized. Limits are documented in docs/remote.md ("Limits").
/// </summary>
public sealed class TokenCounter
{
    /// <summary>Longest run without a pre-token boundary that is tokenized whole; longer runs are cut (≈ one token of error per cut).</summary>
    public const int MaxRunChars = 512;

    /// <summary>The tokenizer input limit: characters beyond it are not tokenized but estimated at <see cref="EstimatedCharsPerToken"/>.</summary>
    public const int MaxInputChars = 16 * 1024 * 1024;

    /// <summary>Characters per token assumed for text beyond <see cref="MaxInputChars"/>.</summary>
    public const int EstimatedCharsPerToken = 4;

    /// <summary>Pieces handed to the tokenizer gather whole pre-tokens up to about this many characters (fewer calls).</summary>
    private const int PieceChars = 4096;

    private static readonly Lazy<TokenCounter> DefaultInstance = new(() => new TokenCounter(
        TiktokenTokenizer.CreateForEncoding("o200k_base"), "o200k_base"));

    /// <summary>Texts of at least this many characters are remembered by content once counted (shorter ones cost less to count than to look up).</summary>
    public const int MemoMinChars = 64;

    /// <summary>Longest text remembered; a longer one is counted each time.</summary>
    public const int MemoMaxChars = 64 * 1024;

    /// <summary>Characters the memo holds at most; it is emptied when a new text would take it beyond (it only saves work, never changes a count).</summary>
    public const long MemoCapacityChars = 8 * 1024 * 1024;

    private readonly Tokenizer _tokenizer;

    // Counts by content: a simulated backend's prompts and answers repeat (the same task prompt on every request, ~140
    // distinct answers in a 42 k-interaction session run), and BPE costs far more than hashing the text once.
    private readonly ConcurrentDictionary<string, int> _memo = new(StringComparer.Ordinal);
    private long _memoChars;

    public TokenCounter(Tokenizer tokenizer, string name)
    {
        _tokenizer = tokenizer;
        Name = name;
    }

    /// <summary>o200k_base (GPT-4o family); approximate for models with another vocabulary.</summary>
    public static TokenCounter Default => DefaultInstance.Value;

    public string Name { get; }

    /// <summary>Counts the tokens of <paramref name="text"/> in time linear in its length.</summary>
    public int Count(string text) => CountCancellable(text, CancellationToken.None);

    /// <summary>The same as <see cref="Count"/>, checking <paramref name="cancellationToken"/> between pieces (a long prompt on Ctrl+C).</summary>
    public int CountCancellable(string text, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }

        var remember = text.Length is >= MemoMinChars and <= MemoMaxChars;
        if (remember && _memo.TryGetValue(text, out var known))
        {
            return known;
        }

        var counted = CountPieces(text, cancellationToken);
        if (remember)
        {
            Remember(text, counted);
        }

        return counted;
    }

    /// <summary>
    /// Counts without keeping the text in the memo: for texts that will not come again (a growing draft counted after every
    /// batch of words would otherwise fill the memo with every intermediate draft).
    /// </summary>
    public int CountOnce(string text) => string.IsNullOrEmpty(text) ? 0
        : text.Length is >= MemoMinChars and <= MemoMaxChars && _memo.TryGetValue(text, out var known) ? known
        : CountPieces(text, CancellationToken.None);

    private void Remember(string text, int count)
    {
        if (Interlocked.Add(ref _memoChars, text.Length) > MemoCapacityChars)
        {
            // Full: start again (rare; bounded memory matters more than the hit rate of texts that do not repeat).
            _memo.Clear();
            Interlocked.Exchange(ref _memoChars, text.Length);
        }

        _memo.TryAdd(text, count);
    }

    private int CountPieces(string text, CancellationToken cancellationToken)
    {
        var span = text.AsSpan(0, Math.Min(text.Length, MaxInputChars));
        var count = 0;
        foreach (var (start, length) in Pieces(span))
        {
            cancellationToken.ThrowIfCancellationRequested();
            count += _tokenizer.CountTokens(span.Slice(start, length));
        }

        var beyond = text.Length - span.Length;
        return count + ((beyond + EstimatedCharsPerToken - 1) / EstimatedCharsPerToken);
    }

    /// <summary>Splits text into consecutive token pieces whose concatenation is the text (linear time, as <see cref="Count"/>).</summary>
    public IReadOnlyList<string> Split(string text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return [];
        }

        var pieces = new List<string>();
        foreach (var (start, length) in Pieces(text.AsSpan()))
        {
            var part = text.Substring(start, length);
            var tokens = _tokenizer.EncodeToTokens(part, out _);
            var position = 0;
            foreach (var token in tokens)
            {
                var end = Math.Min(part.Length, token.Offset.End.GetOffset(part.Length));
                if (end > position)
                {
                    pieces.Add(part[position..end]);
                    position = end;
                }
            }

            if (position < part.Length)
            {
                pieces.Add(part[position..]);
            }
        }

        return pieces;
    }

    /// <summary>
    /// Cuts text into pieces of about <see cref="PieceChars"/> at pre-token boundaries, so that tokenizing each piece alone
    /// gives the same tokens as the whole (the o200k, cl100k, gpt2 and r50k pre-tokenizers all start a new pre-token there),
    /// and cuts a run with no boundary every <see cref="MaxRunChars"/> characters.
    /// </summary>
    public static IReadOnlyList<(int Start, int Length)> Pieces(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int, int)>(text.Length / PieceChars + 1);
        var start = 0;
        var lastBoundary = 0;
        for (var i = 1; i < text.Length; i++)
        {
            if (IsBoundary(text, i))
            {
                lastBoundary = i;
                if (i - start >= PieceChars)
                {
                    pieces.Add((start, i - start));
                    start = i;
                }
            }
            else if (i - lastBoundary >= MaxRunChars && !char.IsLowSurrogate(text[i]))
            {
                // No boundary for MaxRunChars: a forced cut (never inside a surrogate pair).
                if (lastBoundary > start)
                {
                    pieces.Add((start, lastBoundary - start));
                    start = lastBoundary;
                }

                pieces.Add((start, i - start));
                start = i;
                lastBoundary = i;
            }
        }

        pieces.Add((start, text.Length - start));
        return pieces;
    }

    /// <summary>
    /// True where no pre-token can span position <paramref name="i"/>: before a space that follows a non-space (a space
    /// joins the word after it, and no pattern ends in a space after other text), and after a single newline between two
    /// characters that are not whitespace, the second not '/' (punctuation pre-tokens may end in newlines and '/'; and a
    /// piece ending in two whitespace characters would let gpt2's <c>\s+(?!\S)</c> take both as one pre-token).
    /// </summary>
    private static bool IsBoundary(ReadOnlySpan<char> text, int i)
    {
        var previous = text[i - 1];
        var current = text[i];
        return (current == ' ' && !char.IsWhiteSpace(previous))
            || (previous == '\n' && i >= 2 && !char.IsWhiteSpace(text[i - 2]) && current != '/' && !char.IsWhiteSpace(current));
    }
}
