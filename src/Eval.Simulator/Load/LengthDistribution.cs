namespace Spark.Eval.Simulator.Load;

/// <summary>
/// Request lengths drawn from a measured dataset's shape and scaled to a run's mean lengths: a mixture of components, each
/// with the quantiles of its prompt and output lengths (tokens of the measured sample) at <see cref="Probabilities"/>.
/// A draw picks a component by weight, then a prompt and an output length by inverse CDF (linear between the quantiles),
/// each multiplied by the run's mean over the mixture's mean, so the drawn lengths average the means asked for.
/// </summary>
public sealed class LengthDistribution
{
    /// <summary>The cumulative probabilities at which every component gives its quantiles (0 = the sample's minimum, 1 = its maximum).</summary>
    public static readonly double[] Probabilities = [0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1];

    private readonly Component[] _components;
    private readonly double _inputMean;
    private readonly double _outputMean;

    public LengthDistribution(string name, string source, IReadOnlyList<Component> components)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(components);
        if (components.Count == 0 || components.Any(c => c.Weight <= 0 || !Valid(c.Input) || !Valid(c.Output)))
        {
            throw new ArgumentException($"length distribution '{name}': every component needs a weight > 0 and {Probabilities.Length} non-decreasing quantiles > 0", nameof(components));
        }

        Name = name;
        Source = source;
        var total = components.Sum(c => c.Weight);
        _components = [.. components.Select(c => c with { Weight = c.Weight / total })];
        _inputMean = _components.Sum(c => c.Weight * Mean(c.Input));
        _outputMean = _components.Sum(c => c.Weight * Mean(c.Output));
    }

    public string Name { get; }

    /// <summary>Where the quantiles were measured (docs/simulator.md gives the method).</summary>
    public string Source { get; }

    public IReadOnlyList<Component> Components => _components;

    /// <summary>One request's prompt and output lengths for a run whose means are <paramref name="inputMean"/> and <paramref name="outputMean"/> (each at least 1).</summary>
    public (int Input, int Output) Draw(int inputMean, int outputMean, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var pick = random.NextDouble();
        var component = _components[^1];
        foreach (var c in _components)
        {
            if (pick < c.Weight)
            {
                component = c;
                break;
            }

            pick -= c.Weight;
        }

        var input = Quantile(component.Input, random.NextDouble()) * inputMean / _inputMean;
        var output = Quantile(component.Output, random.NextDouble()) * outputMean / _outputMean;
        return (Math.Max(1, (int)Math.Round(input)), Math.Max(1, (int)Math.Round(output)));
    }

    /// <summary>The distribution's named shapes: <c>sharegpt</c> (<see cref="ShareGpt"/>); null for <c>fixed</c> (every request at the means).</summary>
    public static LengthDistribution? Find(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" or "fixed" => null,
        "sharegpt" => ShareGpt,
        _ => throw new Core.InputException($"lengths '{name}': unknown. Fix: use fixed (every request at the mean lengths) or sharegpt (vLLM's ShareGPT benchmark's spread)"),
    };

    /// <summary>The names <see cref="Find"/> accepts.</summary>
    public static IReadOnlyList<string> Known { get; } = ["fixed", "sharegpt"];

    /// <summary>Whether <see cref="Find"/> accepts <paramref name="name"/> (case and surrounding blanks ignored).</summary>
    public static bool IsKnown(string? name) => name is not null && Known.Contains(name.Trim().ToLowerInvariant());

    /// <summary>
    /// What <c>vllm bench serve --dataset-name sharegpt</c> draws from ShareGPT_V3_unfiltered_cleaned_split.json: each entry's
    /// first two turns as prompt and reference output, whatever their roles (vLLM's sampler has no role check), pairs with a
    /// side under 4 tokens, a prompt over 1,024 or a total over 2,048 dropped. V3 is split into chunks, and a third of its
    /// entries start with a ChatGPT answer, so the mixture has two parts: entries that start with the user's turn (66 %: short
    /// prompts, long replies) and entries that start with an answer (34 %: that answer as the prompt, the user's next message
    /// as the output). Quantiles in o200k_base tokens of 878 valid pairs of a seeded random sample of 1,000 V3 entries
    /// (docs/simulator.md, "Thirteenth pass", gives the source and the method).
    /// </summary>
    public static LengthDistribution ShareGpt { get; } = new(
        "sharegpt",
        "github.com/Marugannwg/ShareGPT92k_user_linguistic_mining@4cae708 sampled_enriched_data/ (1,000 ShareGPT_V3 entries drawn with seed 42, every turn kept): vLLM's ShareGPT sampler filter, 878 valid pairs, o200k_base token counts",
        [
            // 582 pairs whose first turn is the user's: prompt mean 103.6, median 25.5; output mean 284.5, median 257.
            new Component(582, [4, 5, 6, 8, 11, 15, 20, 25.5, 38.6, 70, 141.6, 323.4, 551.1, 845.7, 987], [7, 9.8, 28.1, 52.1, 107.2, 165.6, 209.8, 257, 298, 356, 425.8, 561, 704, 770.5, 799]),
            // 296 pairs whose first turn is a ChatGPT answer: prompt mean 406.2, median 368.5; output mean 53.1, median 19.
            new Component(296, [16, 28.8, 96.8, 149, 230, 288.5, 320, 368.5, 432, 508.5, 609, 728, 765, 780.4, 806], [4, 4, 6, 7, 10, 12.5, 16, 19, 24, 33, 44, 83, 156, 801.5, 1513]),
        ]);

    private static bool Valid(double[] q)
    {
        if (q is null || q.Length != Probabilities.Length || q[0] <= 0)
        {
            return false;
        }

        for (var i = 1; i < q.Length; i++)
        {
            if (q[i] < q[i - 1])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Mean of the piecewise-linear inverse CDF: the trapezoids between the quantiles.</summary>
    private static double Mean(double[] q)
    {
        var mean = 0.0;
        for (var i = 1; i < q.Length; i++)
        {
            mean += (Probabilities[i] - Probabilities[i - 1]) * (q[i] + q[i - 1]) / 2;
        }

        return mean;
    }

    private static double Quantile(double[] q, double u)
    {
        for (var i = 1; i < q.Length; i++)
        {
            if (u <= Probabilities[i])
            {
                var span = Probabilities[i] - Probabilities[i - 1];
                return q[i - 1] + ((q[i] - q[i - 1]) * (u - Probabilities[i - 1]) / span);
            }
        }

        return q[^1];
    }

    /// <summary>One part of the mixture: its weight and its prompt and output length quantiles at <see cref="Probabilities"/>.</summary>
    public sealed record Component(double Weight, double[] Input, double[] Output);
}
