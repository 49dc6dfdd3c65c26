using System.Globalization;

namespace Spark.Eval.Core.Results;

/// <summary>
/// The one SLO syntax every command accepts: <c>--slo ttft_ms=500,tpot_ms=50,e2e_ms=2000</c>, or the same targets as
/// separate options <c>--slo-ttft-ms 500 --slo-tpot-ms 50 --slo-e2e-ms 2000</c>; both spellings may be mixed but not
/// give one target twice.
/// </summary>
public static class SloSyntax
{
    /// <summary>The keys of the <c>--slo</c> list, in the order they are printed.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["ttft_ms", "tpot_ms", "e2e_ms"];

    /// <summary>Parses <c>ttft_ms=500,tpot_ms=50</c>; <paramref name="allowed"/> limits the keys a command understands.</summary>
    public static SloSpec Parse(string text, IReadOnlyCollection<string>? allowed = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        allowed ??= Keys;
        var example = string.Join(",", Keys.Where(allowed.Contains).Select(k => k + "=" + (k == "tpot_ms" ? "50" : "500")));
        double? ttft = null, tpot = null, e2e = null;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var key = eq > 0 ? part[..eq].Trim() : part;
            if (eq <= 0 || !double.TryParse(part[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
                || !double.IsFinite(value) || value <= 0)
            {
                throw new InputException($"--slo '{text}': '{part}' is not key=number (a positive number of ms). Fix: write --slo {example}");
            }

            if (!allowed.Contains(key))
            {
                throw new InputException($"--slo '{text}': unknown key '{key}'. Fix: use {string.Join(", ", Keys.Where(allowed.Contains))}, e.g. --slo {example}");
            }

            switch (key)
            {
                case "ttft_ms": ttft = Once(ttft, value, key, text); break;
                case "tpot_ms": tpot = Once(tpot, value, key, text); break;
                default: e2e = Once(e2e, value, key, text); break;
            }
        }

        var slo = new SloSpec(ttft, tpot, e2e);
        return slo.IsSet ? slo : throw new InputException($"--slo '{text}': no target given. Fix: write --slo {example}");
    }

    /// <summary>Merges <c>--slo</c> with <c>--slo-ttft-ms/--slo-tpot-ms/--slo-e2e-ms</c> and a fallback (e.g. a plan file's slo); a target given twice on the command line is bad input.</summary>
    public static SloSpec Combine(string? list, double? ttftMs, double? tpotMs, double? e2eMs, SloSpec? fallback = null, IReadOnlyCollection<string>? allowed = null)
    {
        var parsed = list is null ? new SloSpec() : Parse(list, allowed);
        Check(ttftMs, "--slo-ttft-ms");
        Check(tpotMs, "--slo-tpot-ms");
        Check(e2eMs, "--slo-e2e-ms");
        return new SloSpec(
            Pick(parsed.TtftMs, ttftMs, "ttft_ms", list) ?? fallback?.TtftMs,
            Pick(parsed.TpotMs, tpotMs, "tpot_ms", list) ?? fallback?.TpotMs,
            Pick(parsed.E2eMs, e2eMs, "e2e_ms", list) ?? fallback?.E2eMs);

        static void Check(double? value, string option)
        {
            if (value is { } v && (!double.IsFinite(v) || v <= 0))
            {
                throw new InputException($"{option} {v.ToString(CultureInfo.InvariantCulture)}: a target must be a positive number of ms. Fix: e.g. {option} 500");
            }
        }
    }

    /// <summary>The targets in words, e.g. "TTFT ≤ 500 ms, TPOT ≤ 50 ms"; "none" when no target is set.</summary>
    public static string Describe(SloSpec slo)
    {
        ArgumentNullException.ThrowIfNull(slo);
        var parts = new List<string>();
        Add("TTFT", slo.TtftMs);
        Add("TPOT", slo.TpotMs);
        Add("E2E", slo.E2eMs);
        return parts.Count == 0 ? "none" : string.Join(", ", parts);

        void Add(string name, double? value)
        {
            if (value is { } v)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"{name} ≤ {v:0.###} ms"));
            }
        }
    }

    private static double Once(double? previous, double value, string key, string text) =>
        previous is null ? value : throw new InputException($"--slo '{text}': {key} is given twice. Fix: give each target once");

    private static double? Pick(double? fromList, double? fromOption, string key, string? list) =>
        fromList is not null && fromOption is not null
            ? throw new InputException($"--slo '{list}' and --slo-{key.Replace("_ms", "", StringComparison.Ordinal)}-ms both set {key}. Fix: give the target once, in either spelling")
            : fromList ?? fromOption;
}
