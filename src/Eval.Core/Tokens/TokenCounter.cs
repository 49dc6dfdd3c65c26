using Microsoft.ML.Tokenizers;

namespace Spark.Eval.Core.Tokens;

/// <summary>The client-side tokenizer: counts tokens of text the backend did not count for us.</summary>
public sealed class TokenCounter
{
    private static readonly Lazy<TokenCounter> DefaultInstance = new(() => new TokenCounter(
        TiktokenTokenizer.CreateForEncoding("o200k_base"), "o200k_base"));

    private readonly Tokenizer _tokenizer;

    public TokenCounter(Tokenizer tokenizer, string name)
    {
        _tokenizer = tokenizer;
        Name = name;
    }

    /// <summary>o200k_base (GPT-4o family); approximate for models with another vocabulary.</summary>
    public static TokenCounter Default => DefaultInstance.Value;

    public string Name { get; }

    public int Count(string text) => string.IsNullOrEmpty(text) ? 0 : _tokenizer.CountTokens(text);

    /// <summary>Splits text into consecutive token pieces whose concatenation is the text.</summary>
    public IReadOnlyList<string> Split(string text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return [];
        }

        var tokens = _tokenizer.EncodeToTokens(text, out _);
        var pieces = new List<string>(tokens.Count);
        var position = 0;
        foreach (var token in tokens)
        {
            var end = Math.Min(text.Length, token.Offset.End.GetOffset(text.Length));
            if (end > position)
            {
                pieces.Add(text[position..end]);
                position = end;
            }
        }

        if (position < text.Length)
        {
            pieces.Add(text[position..]);
        }

        return pieces;
    }
}
