using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Tests;

/// <summary>
/// <see cref="ErrorBands.BoundOf"/>: a candidate's TPOT error is read from holdout rows of models of its own architecture
/// (dense or mixture of experts) wherever a group has such rows; TTFT and throughput read every row.
/// </summary>
public sealed class ErrorBandArchitectureTests
{
    private static ValidationResult Row(string id, string family, string metric, int concurrency, double ratio, bool moe) =>
        new(new ValidationRow
        {
            Id = id, Source = "s", Quote = "q", Hardware = "h", Model = moe ? "moe" : "dense", Precision = "bf16", Concurrency = concurrency,
            InputTokens = 100, OutputTokens = 100, Metric = metric, Value = 10, Holdout = true,
        }, 10 * ratio, family)
        { MixtureOfExperts = moe };

    // A family whose dense decode is predicted within 1.1× and whose MoE decode is 2× off, at batch 1 and under load;
    // its TTFT rows are dense only, and a second family has no MoE row at all.
    private static readonly IReadOnlyList<ValidationResult> Results =
    [
        Row("dense-b1", "fam", "itl_ms", 1, 1.10, moe: false),
        Row("dense-c8", "fam", "itl_ms", 8, 1.05, moe: false),
        Row("moe-b1", "fam", "itl_ms", 1, 2.00, moe: true),
        Row("moe-c8", "fam", "itl_ms", 8, 1.50, moe: true),
        Row("dense-ttft-c4", "fam", "ttft_ms", 4, 3.00, moe: false),
        Row("other-dense-b1", "other", "itl_ms", 1, 1.20, moe: false),
        Row("other-dense-c8", "other", "itl_ms", 8, 1.30, moe: false),
    ];

    [Fact]
    public void Tpot_DenseCandidate_IgnoresTheMixtureOfExpertsRows()
    {
        Assert.Equal((1.10, true), ErrorBands.BoundOf(Results, "fam", "tpot", mixtureOfExperts: false));
        Assert.Equal((2.00, true), ErrorBands.BoundOf(Results, "fam", "tpot", mixtureOfExperts: true));
        // Architecture unknown: every row, as before.
        Assert.Equal(2.00, ErrorBands.Bound(Results, "fam", "tpot"));
    }

    [Fact]
    public void Tpot_NoRowOfTheCandidatesArchitecture_FallsBackToEveryRowAndSaysSo()
    {
        // "other" has dense rows only: a MoE candidate there is judged by them, not by nothing, and the report must not
        // call them mixture-of-experts rows.
        Assert.Equal((1.30, false), ErrorBands.BoundOf(Results, "other", "tpot", mixtureOfExperts: true));
    }

    [Fact]
    public void Ttft_IsNotSplitByArchitecture()
    {
        // The first-token rows are dense only; a MoE candidate still carries them (request paths do not depend on it).
        Assert.Equal((3.00, false), ErrorBands.BoundOf(Results, "fam", "ttft", mixtureOfExperts: true));
    }

    [Fact]
    public void Summary_ListsTheTpotRowsByFamilyAndArchitecture()
    {
        var text = ValidationRunner.RenderSummary(Results);

        Assert.Contains("holdout (never fitted): 7 rows", text, StringComparison.Ordinal);
        Assert.Matches(@"  fam, dense +2 rows  median +7\.5 %  worst  1\.10×  dense-b1\n", text);
        Assert.Matches(@"  fam, mixture of experts +2 rows  median +75\.0 %  worst  2\.00×  moe-b1\n", text);
        Assert.Matches(@"  other, dense +2 rows .* worst  1\.30×  other-dense-c8\n", text);
        Assert.DoesNotContain("other, mixture of experts", text, StringComparison.Ordinal);
    }
}
