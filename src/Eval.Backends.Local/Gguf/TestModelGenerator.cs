using System.Globalization;
using Spark.Eval.Core;

namespace Spark.Eval.Backends.Local.Gguf;

/// <summary>The hyper-parameters of a generated Llama-architecture test model.</summary>
public sealed record TestModelShape(int VocabSize, int Embedding, int Layers, int Heads, int KvHeads, int FeedForward, int ContextLength)
{
    /// <summary>About 0.6M parameters, about 1.2 MB at F16: for tests and the default run.</summary>
    public static TestModelShape Tiny { get; } = new(1024, 128, 2, 4, 4, 256, 4096);

    /// <summary>About 106M parameters: 32000-token vocabulary, 768 wide, 8 layers; realistic CPU timing.</summary>
    public static TestModelShape Small { get; } = new(32000, 768, 8, 12, 12, 2048, 4096);

    public int HeadDimension => Embedding / Heads;

    /// <summary>Weights in all matrices and norms (embedding and output are not tied).</summary>
    public long ParameterCount =>
        (2L * VocabSize * Embedding) + Embedding
        + (Layers * ((2L * Embedding * Embedding) + (2L * Embedding * KvHeads * HeadDimension) + (3L * Embedding * FeedForward) + (2L * Embedding)));

    /// <summary>Parses <c>tiny</c>, <c>small</c> or a parameter count such as <c>30M</c>, <c>1.5B</c>, <c>250000</c>.</summary>
    public static TestModelShape Parse(string size)
    {
        ArgumentNullException.ThrowIfNull(size);
        switch (size.Trim().ToLowerInvariant())
        {
            case "tiny":
                return Tiny;
            case "small":
                return Small;
        }

        var text = size.Trim();
        var multiplier = 1.0;
        switch (char.ToUpperInvariant(text[^1]))
        {
            case 'K': multiplier = 1e3; text = text[..^1]; break;
            case 'M': multiplier = 1e6; text = text[..^1]; break;
            case 'B': multiplier = 1e9; text = text[..^1]; break;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var count) || count * multiplier < 100_000 || count * multiplier > 20e9)
        {
            throw new InputException($"--size '{size}': not tiny, small or a parameter count between 100K and 20B. Fix: write --size tiny, --size small or --size 30M");
        }

        return ForParameterCount((long)(count * multiplier));
    }

    /// <summary>Picks a shape near <paramref name="parameters"/>: the narrowest width whose layer count stays at most width/48.</summary>
    public static TestModelShape ForParameterCount(long parameters)
    {
        var vocab = parameters >= 10_000_000 ? 32000 : parameters >= 1_000_000 ? 4096 : 1024;
        int[] widths = [64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 2560, 3072, 4096, 5120, 6144, 8192];
        foreach (var width in widths)
        {
            var heads = Math.Max(1, width / (width < 256 ? 32 : 64));
            var ff = (((width * 8 / 3) + 63) / 64) * 64;
            var perLayer = (4L * width * width) + (3L * width * ff);
            var layers = (int)Math.Max(1, Math.Round((parameters - (2.0 * vocab * width)) / perLayer));
            if (layers <= Math.Max(2, width / 48) || width == widths[^1])
            {
                return new TestModelShape(vocab, width, layers, heads, heads, ff, 4096);
            }
        }

        throw new InvalidOperationException("unreachable");
    }
}

/// <summary>
/// Writes random-weight Llama-architecture GGUF models that llama.cpp loads: an SPM vocabulary with the 256 byte
/// tokens and printable-ASCII n-grams, standard tensor names, a ChatML chat template. Same seed, same bytes.
/// Random weights give real timings and meaningless text.
/// </summary>
public static class TestModelGenerator
{
    /// <summary>Metadata key set on every generated model so that the backend can say the weights are random.</summary>
    public const string RandomWeightsKey = "spark_eval.random_weights_seed";

    public const int UnknownToken = 0;
    public const int BosToken = 1;
    public const int EosToken = 2;
    public const int ImStartToken = 3;
    public const int ImEndToken = 4;
    private const int FirstByteToken = 5;
    private const int FirstTextToken = FirstByteToken + 256;

    /// <summary>The ChatML template written by default (llama.cpp recognises it by its &lt;|im_start|&gt; markers).</summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    // Printable characters in a rough frequency order for code and prose; '▁' is SentencePiece's space.
    private const string Alphabet =
        "▁etaoinsrlhdcumpfgybw.,()_=\"':;vk{}[]-x0123456789/*+<>#!?&|%$@\\^`~jqzETAOINSRLHDCUMPFGYBWVKXJQZ";

    /// <summary>Writes a model to <paramref name="path"/> through a temporary file, so a reader never sees half a model.</summary>
    public static void WriteFile(string path, TestModelShape shape, GgmlType type, ulong seed, string? chatTemplate = ChatMlTemplate)
    {
        ArgumentNullException.ThrowIfNull(path);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Write(file, shape, type, seed, chatTemplate);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Writes a model to <paramref name="output"/>.</summary>
    public static void Write(Stream output, TestModelShape shape, GgmlType type, ulong seed, string? chatTemplate = ChatMlTemplate)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var vocab = BuildVocabulary(shape.VocabSize);
        var w = new GgufWriter();
        w.AddString("general.architecture", "llama");
        w.AddString("general.name", $"spark-eval-random-{shape.ParameterCount / 1000}k-{type.ToString().ToLowerInvariant()}-seed{seed}");
        w.AddString("general.description", "Random weights generated by spark-eval models generate: real timings, meaningless text.");
        w.AddUInt32("general.alignment", GgufWriter.Alignment);
        w.AddUInt32("general.file_type", type switch { GgmlType.F32 => 0u, GgmlType.F16 => 1u, _ => 7u });
        w.AddString(RandomWeightsKey, seed.ToString(CultureInfo.InvariantCulture));
        w.AddUInt32("llama.context_length", (uint)shape.ContextLength);
        w.AddUInt32("llama.embedding_length", (uint)shape.Embedding);
        w.AddUInt32("llama.block_count", (uint)shape.Layers);
        w.AddUInt32("llama.feed_forward_length", (uint)shape.FeedForward);
        w.AddUInt32("llama.rope.dimension_count", (uint)shape.HeadDimension);
        w.AddFloat32("llama.rope.freq_base", 10000f);
        w.AddUInt32("llama.attention.head_count", (uint)shape.Heads);
        w.AddUInt32("llama.attention.head_count_kv", (uint)shape.KvHeads);
        w.AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.AddUInt32("llama.vocab_size", (uint)shape.VocabSize);
        w.AddString("tokenizer.ggml.model", "llama");
        w.AddStringArray("tokenizer.ggml.tokens", vocab.Tokens);
        w.AddFloat32Array("tokenizer.ggml.scores", vocab.Scores);
        w.AddInt32Array("tokenizer.ggml.token_type", vocab.Types);
        w.AddUInt32("tokenizer.ggml.bos_token_id", BosToken);
        w.AddUInt32("tokenizer.ggml.eos_token_id", EosToken);
        w.AddUInt32("tokenizer.ggml.unknown_token_id", UnknownToken);
        w.AddBool("tokenizer.ggml.add_bos_token", true);
        w.AddBool("tokenizer.ggml.add_eos_token", false);
        if (chatTemplate is not null)
        {
            w.AddString("tokenizer.chat_template", chatTemplate);
        }

        // One random stream per tensor, keyed by the seed and the tensor's index: the bytes depend on nothing else.
        var tensorIndex = 0UL;
        var d = shape.Embedding;
        var kv = shape.KvHeads * shape.HeadDimension;
        var matrixType = type;
        void Matrix(string name, int rowLength, int rows, float range, Func<int, bool>? zeroRow = null)
        {
            var random = new SplitMix64(seed ^ (0x9E3779B97F4A7C15UL * ++tensorIndex));
            w.AddTensor(name, [rowLength, rows], matrixType, stream => WriteRandom(stream, random, rowLength, rows, matrixType, range, zeroRow));
        }

        void Norm(string name) => w.AddTensor(name, [d], GgmlType.F32, stream => WriteOnes(stream, d));

        // Uniform(-r, r) has variance r²/3, so r = sqrt(3 / fan_in) keeps activations at unit scale.
        static float Range(int fanIn) => MathF.Sqrt(3f / fanIn);
        Matrix("token_embd.weight", d, shape.VocabSize, 1f);
        for (var layer = 0; layer < shape.Layers; layer++)
        {
            Norm($"blk.{layer}.attn_norm.weight");
            Matrix($"blk.{layer}.attn_q.weight", d, d, Range(d));
            Matrix($"blk.{layer}.attn_k.weight", d, kv, Range(d));
            Matrix($"blk.{layer}.attn_v.weight", d, kv, Range(d));
            Matrix($"blk.{layer}.attn_output.weight", d, d, Range(d));
            Norm($"blk.{layer}.ffn_norm.weight");
            Matrix($"blk.{layer}.ffn_gate.weight", d, shape.FeedForward, Range(d));
            Matrix($"blk.{layer}.ffn_up.weight", d, shape.FeedForward, Range(d));
            Matrix($"blk.{layer}.ffn_down.weight", shape.FeedForward, d, Range(shape.FeedForward));
        }

        Norm("output_norm.weight");

        // Output rows of special and byte tokens are zero (logit 0, below the best of hundreds of random logits), so
        // greedy decoding emits printable text pieces and never end-of-text: answers run to their token budget.
        Matrix("output.weight", d, shape.VocabSize, Range(d), row => row < FirstTextToken);
        w.WriteTo(output);
    }

    /// <summary>The SPM vocabulary: 5 special tokens, 256 byte tokens, then printable characters and their n-grams.</summary>
    internal static (List<string> Tokens, List<float> Scores, List<int> Types) BuildVocabulary(int size)
    {
        if (size < FirstTextToken + Alphabet.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"vocabulary needs at least {FirstTextToken + Alphabet.Length} tokens");
        }

        var tokens = new List<string>(size) { "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>" };
        var types = new List<int>(size) { 2, 3, 3, 3, 3 }; // unknown, control ×4
        for (var b = 0; b < 256; b++)
        {
            tokens.Add(string.Create(CultureInfo.InvariantCulture, $"<0x{b:X2}>"));
            types.Add(6); // byte
        }

        var seen = new HashSet<string>(tokens, StringComparer.Ordinal);
        foreach (var piece in Pieces())
        {
            if (tokens.Count == size)
            {
                break;
            }

            if (seen.Add(piece))
            {
                tokens.Add(piece);
                types.Add(1); // normal
            }
        }

        // SPM merges the pair whose result has the highest score: shorter, more frequent pieces first.
        var scores = new List<float>(size);
        for (var i = 0; i < tokens.Count; i++)
        {
            scores.Add(i < FirstTextToken ? 0f : -(i - FirstTextToken));
        }

        return (tokens, scores, types);
    }

    private static IEnumerable<string> Pieces()
    {
        foreach (var c in Alphabet)
        {
            yield return c.ToString();
        }

        // n-grams ordered by the sum of their characters' ranks: all bigrams before any trigram, so every
        // trigram's prefix is already a token (SPM builds pieces by merging adjacent pairs).
        for (var length = 2; length <= 4; length++)
        {
            var maxSum = (Alphabet.Length - 1) * length;
            for (var sum = 0; sum <= maxSum; sum++)
            {
                foreach (var piece in WithRankSum(length, sum))
                {
                    yield return piece;
                }
            }
        }
    }

    private static IEnumerable<string> WithRankSum(int length, int sum)
    {
        if (length == 1)
        {
            if (sum < Alphabet.Length)
            {
                yield return Alphabet[sum].ToString();
            }

            yield break;
        }

        for (var first = 0; first <= Math.Min(sum, Alphabet.Length - 1); first++)
        {
            foreach (var rest in WithRankSum(length - 1, sum - first))
            {
                yield return Alphabet[first] + rest;
            }
        }
    }

    private static void WriteRandom(Stream stream, SplitMix64 random, int rowLength, int rows, GgmlType type, float range, Func<int, bool>? zeroRow)
    {
        var row = new float[rowLength];
        var rowBytes = (int)GgufWriter.ByteSize([rowLength], type);
        const int rowsPerChunk = 64;
        var buffer = new byte[rowBytes * rowsPerChunk];
        var filled = 0;
        for (var r = 0; r < rows; r++)
        {
            var zero = zeroRow?.Invoke(r) == true;
            for (var i = 0; i < rowLength; i++)
            {
                // Draw even for zero rows, so a row's values do not depend on which rows are zeroed.
                var value = random.NextSigned() * range;
                row[i] = zero ? 0f : value;
            }

            filled += GgufWriter.EncodeRow(row, type, buffer.AsSpan(filled));
            if (filled == buffer.Length)
            {
                stream.Write(buffer, 0, filled);
                filled = 0;
            }
        }

        stream.Write(buffer, 0, filled);
    }

    private static void WriteOnes(Stream stream, int count)
    {
        var row = new float[count];
        Array.Fill(row, 1f);
        var buffer = new byte[count * 4];
        GgufWriter.EncodeRow(row, GgmlType.F32, buffer);
        stream.Write(buffer);
    }

    /// <summary>SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and the same on every platform and runtime.</summary>
    private sealed class SplitMix64(ulong seed)
    {
        private ulong _state = seed;

        public ulong Next()
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [-1, 1) from the top 24 bits (exact in float).</summary>
        public float NextSigned() => ((int)(Next() >> 40) - (1 << 23)) / (float)(1 << 23);
    }
}
