using System.Globalization;
using System.Text.Json.Nodes;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>
/// The judge's own figures over a graded run (kept apart from every attempt metric): answers judged, judge calls made,
/// failures by class, agreement with the rubric, and the judge's latency and tokens over its calls.
/// </summary>
public static class JudgeReport
{
    /// <summary>Null when no attempt carries a judge verdict.</summary>
    public static JsonObject? Build(IEnumerable<AttemptRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var judged = records.Select(r => r.Grade).OfType<JsonObject>().Where(g => g["judge"] is JsonObject).ToList();
        if (judged.Count == 0)
        {
            return null;
        }

        // A grade shared by identical answers was judged once: count calls, latency and tokens over the first use only.
        var calls = judged.Where(g => g["grading"]?["reused"]?.GetValue<bool>() != true).Select(g => (JsonObject)g["judge"]!).ToList();
        var verdicts = judged.Select(g => (JsonObject)g["judge"]!).ToList();
        var failures = verdicts.Where(j => j["status"]?.GetValue<string>() == "failed")
            .GroupBy(j => j["errorClass"]?.GetValue<string>() ?? "?", StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var withVerdict = verdicts.Where(j => j["agreesWithRubric"] is not null).ToList();
        var agree = withVerdict.Count(j => j["agreesWithRubric"]!.GetValue<bool>());
        var passed = judged.Count(g => g["passed"]?.GetValue<bool>() == true);
        var latency = LatencyStatistics.FromSamples([.. calls.Select(j => j["latencyMs"]?.GetValue<double>() ?? 0)], "ms");
        var simulated = verdicts.Any(j => j["simulated"]?.GetValue<bool>() == true);
        var ic = CultureInfo.InvariantCulture;
        var failureText = failures.Count == 0 ? "none" : string.Join(", ", failures.Select(kv => $"{kv.Key} {kv.Value.ToString(ic)}"));
        var text = string.Create(ic,
            $"judge{(simulated ? " (SIMULATED verdicts)" : "")}: {judged.Count} explain answers judged ({calls.Count} judge calls); passed rubric AND judge {passed}/{judged.Count}; judge failures: {failureText}; agreement with the rubric {agree}/{withVerdict.Count}; judge latency p50 {latency?.P50 ?? 0:0.0} ms (not in any attempt metric)");
        return new JsonObject
        {
            ["answers"] = judged.Count,
            ["calls"] = calls.Count,
            ["passedRubricAndJudge"] = passed,
            ["failures"] = new JsonObject(failures.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["agreementWithRubric"] = withVerdict.Count == 0 ? null : (double)agree / withVerdict.Count,
            ["latencyMsP50"] = latency?.P50,
            ["latencyMsP99"] = latency?.P99,
            ["inputTokens"] = calls.Sum(j => j["inputTokens"]?.GetValue<long>() ?? 0),
            ["outputTokens"] = calls.Sum(j => j["outputTokens"]?.GetValue<long>() ?? 0),
            ["simulated"] = simulated,
            ["formulas"] = "agreement = judge verdicts equal to the rubric's / answers with a judge verdict; latency over judge calls (all tries of one answer), never in the attempt's metrics",
            ["text"] = text,
        };
    }
}
