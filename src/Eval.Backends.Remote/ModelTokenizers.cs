using Microsoft.ML.Tokenizers;
using Spark.Eval.Core;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// Chooses the client tokenizer for a remote model from its id, among the encodings NuGet ships for
/// Microsoft.ML.Tokenizers (o200k_base, cl100k_base, gpt2, r50k_base). A model whose vocabulary is none of them
/// (Llama, Qwen, Mistral, Claude, Gemini…) is counted with o200k_base and labelled approximate.
/// </summary>
public static class ModelTokenizers
{
    /// <summary>The encodings this build can load.</summary>
    public static IReadOnlyList<string> Encodings { get; } = ["o200k_base", "cl100k_base", "gpt2", "r50k_base"];

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Tokenizer>> Loaded = new(StringComparer.Ordinal);

    // Model-id prefixes (lower case) → encoding, first match wins. Sources: OpenAI's tiktoken model table (model.py).
    private static readonly (string Prefix, string Encoding)[] Table =
    [
        ("gpt-4o", "o200k_base"), ("chatgpt-4o", "o200k_base"), ("gpt-4.1", "o200k_base"), ("gpt-4.5", "o200k_base"),
        ("gpt-5", "o200k_base"), ("o1", "o200k_base"), ("o3", "o200k_base"), ("o4", "o200k_base"), ("codex-", "o200k_base"),
        // gpt-oss uses o200k_harmony: o200k_base plus special tokens, identical on plain text.
        ("gpt-oss", "o200k_base"),
        ("gpt-4", "cl100k_base"), ("gpt-3.5", "cl100k_base"), ("gpt-35", "cl100k_base"), ("text-embedding-3", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        ("gpt2", "gpt2"), ("gpt-2", "gpt2"),
        ("davinci", "r50k_base"), ("curie", "r50k_base"), ("babbage", "r50k_base"), ("ada", "r50k_base"),
    ];

    /// <summary>The tokenizer for a model id: exact when the id is in the table, else o200k_base labelled approximate.</summary>
    public static TokenCounter ForModel(string modelId)
    {
        ArgumentNullException.ThrowIfNull(modelId);
        // Provider prefixes such as "openai/gpt-4o" or "azure/gpt-4" name the same model.
        var id = modelId.ToLowerInvariant();
        id = id[(id.LastIndexOf('/') + 1)..];
        foreach (var (prefix, encoding) in Table)
        {
            if (id.StartsWith(prefix, StringComparison.Ordinal))
            {
                return Create(encoding, exact: true);
            }
        }

        return Create("o200k_base", exact: false, modelId);
    }

    /// <summary>Normalises an encoding name from a spec (o200k, cl100k_base, gpt2, r50k…); throws InputException for others.</summary>
    public static string Encoding(string name, string specText)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = name.ToLowerInvariant();
        var match = Encodings.FirstOrDefault(e => e == key || e == key + "_base");
        return match ?? throw new InputException(
            $"--backend '{specText}': tokenizer={name} is not an encoding this build ships. Fix: use auto (by model id), o200k, cl100k, gpt2 or r50k");
    }

    /// <summary>A counter for one encoding; its name says "approximate" when the model's own vocabulary is another.</summary>
    public static TokenCounter Create(string encoding, bool exact, string? modelId = null)
    {
        // The gpt2 vocabulary is loaded by model name (the Data.Gpt2 package); the others by encoding name.
        var tokenizer = Loaded.GetOrAdd(encoding, e => new Lazy<Tokenizer>(() => e == "gpt2" ? TiktokenTokenizer.CreateForModel("gpt2") : TiktokenTokenizer.CreateForEncoding(e))).Value;
        var name = exact ? encoding : $"{encoding} (approximate: the vocabulary of model '{modelId}' is not o200k/cl100k/gpt2/r50k)";
        return new TokenCounter(tokenizer, name);
    }
}
