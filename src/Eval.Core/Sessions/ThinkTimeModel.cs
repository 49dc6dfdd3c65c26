using System.Globalization;

namespace Spark.Eval.Core.Sessions;

/// <summary>One task kind's think-time distribution: an empirical quantile table (sampled by inverse CDF) or a log-normal.</summary>
public sealed record ThinkTimeDistribution
{
    /// <summary>The task kind ("stub", "fix", …), "repair" for the pause before a repair turn, or "all" for any kind not listed.</summary>
    public required string Kind { get; init; }
    /// <summary>(p, seconds) pairs, p ascending in (0, 1); used when it has at least two points.</summary>
    public IReadOnlyList<(double P, double Seconds)> Quantiles { get; init; } = [];
    /// <summary>Log-normal parameters of ln(seconds), used when there is no quantile table.</summary>
    public (double Mu, double Sigma)? LogNormal { get; init; }

    /// <summary>The think time, in seconds, at cumulative probability <paramref name="u"/> (0 &lt; u &lt; 1).</summary>
    public double SecondsAt(double u, double z)
    {
        if (Quantiles.Count >= 2)
        {
            if (u <= Quantiles[0].P)
            {
                return Quantiles[0].Seconds;
            }

            for (var i = 1; i < Quantiles.Count; i++)
            {
                var (p1, s1) = Quantiles[i];
                if (u <= p1)
                {
                    var (p0, s0) = Quantiles[i - 1];
                    return s0 + ((s1 - s0) * (u - p0) / (p1 - p0));
                }
            }

            return Quantiles[^1].Seconds;
        }

        var (mu, sigma) = LogNormal ?? throw new InvalidOperationException($"think-time kind {Kind} has neither quantiles nor a log-normal");
        return Math.Exp(mu + (sigma * z));
    }
}

/// <summary>
/// Think time between an answer and the developer's next request, per task kind (docs/formats.md, "Sessions"): the documented
/// defaults, a think-time file, or pilot telemetry (<c>pilot analyze --think-times</c>). Sampling is a pure function of the run's
/// seed, the session, the task in the session and the turn, so the same developer thinks alike against every backend (paired
/// comparison) and a resumed session draws what the uninterrupted one would have drawn.
/// </summary>
public sealed class ThinkTimeModel
{
    private readonly Dictionary<string, ThinkTimeDistribution> _kinds;

    public ThinkTimeModel(string source, IEnumerable<ThinkTimeDistribution> kinds)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        Source = source;
        _kinds = kinds.ToDictionary(k => k.Kind, StringComparer.Ordinal);
    }

    /// <summary>"defaults" or the file the distributions came from.</summary>
    public string Source { get; }

    public IReadOnlyCollection<ThinkTimeDistribution> Kinds => _kinds.Values;

    /// <summary>
    /// The defaults: log-normal per task kind with the medians (s) stub 30, refactor 60, unit-tests 45, explain 90, fix 40 and
    /// σ = 0.8, and 20 s before a repair turn. Assumptions, not measurements (docs/formats.md, "Sessions", says why and where
    /// they come from); replace them with a pilot's own think times.
    /// </summary>
    public static ThinkTimeModel Defaults { get; } = new(SessionDefaults.ThinkTimesSource, [
        Median("stub", 30), Median("refactor", 60), Median("unit-tests", 45), Median("explain", 90), Median("fix", 40),
        Median("repair", 20), Median("all", 45),
    ]);

    private static ThinkTimeDistribution Median(string kind, double seconds) => new() { Kind = kind, LogNormal = (Math.Log(seconds), 0.8) };

    /// <summary>The distribution used for <paramref name="kind"/> (a repair turn uses "repair" when present): the kind's own, else "all".</summary>
    public ThinkTimeDistribution For(string kind, bool repair)
    {
        if (repair && _kinds.TryGetValue("repair", out var r))
        {
            return r;
        }

        return _kinds.TryGetValue(kind, out var d) ? d
            : _kinds.TryGetValue("all", out var all) ? all
            : throw new InputException($"{Source}: no think times for task kind '{kind}' and no 'all' entry. Fix: add a '{kind}' or an 'all' kind");
    }

    /// <summary>The think time before a request: seeded by (seed, session, task in session, turn), never by the backend.</summary>
    public TimeSpan Sample(int seed, int session, int taskInSession, int turn, string kind)
    {
        var state = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL) ^ ((ulong)(uint)session << 40) ^ ((ulong)(uint)taskInSession << 12) ^ (uint)turn;
        var u1 = Uniform(ref state);
        var u2 = Uniform(ref state);
        // Box–Muller: the normal draw for log-normals; the quantile table uses u1 directly.
        var z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        var seconds = For(kind, turn > 0).SecondsAt(u1, z);
        return TimeSpan.FromTicks((long)Math.Clamp(seconds * TimeSpan.TicksPerSecond, 0, TimeSpan.TicksPerDay));
    }

    /// <summary>A uniform draw in (0, 1) from a SplitMix64 step (stable across .NET versions, unlike <see cref="Random"/>'s algorithms).</summary>
    private static double Uniform(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        var z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return ((z >> 11) + 0.5) / (1UL << 53);
    }

    /// <summary>Checks every distribution (file, kind, field, fix) so that a bad file fails at start-up.</summary>
    public static ThinkTimeModel Checked(string source, IReadOnlyList<ThinkTimeDistribution> kinds)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        foreach (var k in kinds)
        {
            var quantilesOk = k.Quantiles.Count >= 2
                && k.Quantiles.All(q => double.IsFinite(q.P) && q.P > 0 && q.P < 1 && double.IsFinite(q.Seconds) && q.Seconds >= 0)
                && k.Quantiles.Zip(k.Quantiles.Skip(1)).All(x => x.Second.P > x.First.P && x.Second.Seconds >= x.First.Seconds);
            var logNormalOk = k.LogNormal is { } ln && double.IsFinite(ln.Mu) && double.IsFinite(ln.Sigma) && ln.Sigma >= 0 && ln.Mu < 15;
            if (!quantilesOk && !logNormalOk)
            {
                throw InputException.At(source, null, $"kinds[{k.Kind}]", "needs quantiles (p strictly rising in (0,1), seconds ≥ 0 and not falling) or a logNormal (finite mu < 15, sigma ≥ 0)",
                    "regenerate it with 'spark-eval pilot analyze --think-times', or fix that kind's numbers");
            }
        }

        if (kinds.Count == 0)
        {
            throw InputException.At(source, null, "kinds", "no think-time distribution", "add at least an 'all' kind");
        }

        return new ThinkTimeModel(source, kinds);
    }

    /// <summary>One line per kind for logs: median and p90 in seconds.</summary>
    public string Describe() => string.Join(", ", _kinds.Values.OrderBy(k => k.Kind, StringComparer.Ordinal).Select(k =>
        string.Create(CultureInfo.InvariantCulture, $"{k.Kind} median {k.SecondsAt(0.5, 0):0.#} s")));
}
