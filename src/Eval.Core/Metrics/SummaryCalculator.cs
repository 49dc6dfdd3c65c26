using System.Globalization;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Metrics;

/// <summary>Aggregates attempt records into a <see cref="RunSummary"/>; formulas are documented in docs/metrics.md.</summary>
public static class SummaryCalculator
{
    /// <summary>The summary of a run directory's records: the plan's SLOs, and the sessions section (priced from the manifest's backends).</summary>
    public static RunSummary Compute(RunManifest manifest, IReadOnlyList<AttemptRecord> attempts)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return Compute(manifest.RunId, attempts, manifest.Plan.Slo) with { Sessions = SessionsSummary.From(attempts, manifest) };
    }

    public static RunSummary Compute(string runId, IEnumerable<AttemptRecord> attempts, SloSpec slo)
    {
        var groups = new Dictionary<string, Accumulator>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var record in attempts)
        {
            // A routing policy's turns are its own group ("policy:<name>"), not mixed into the backends that served them.
            var group = Sessions.SessionRunner.GroupOf(record);
            if (!groups.TryGetValue(group, out var acc))
            {
                acc = new Accumulator(group);
                groups[group] = acc;
                order.Add(group);
            }

            acc.Add(record, slo);
        }

        var notes = new List<string>
        {
            "Latency distributions are over ok attempts; failed attempts count in error_rate and against goodput.",
            "Cancelled attempts (interrupt or duration limit) are counted apart and excluded from error_rate.",
        };
        foreach (var name in order)
        {
            if (groups[name].TruncationWarning() is { } warning)
            {
                notes.Add(warning);
            }
        }

        if (groups.Values.Any(g => g.Simulated))
        {
            notes.Add("SIMULATED: backends marked simulated report modelled timings, not measurements of real hardware.");
        }

        return new RunSummary
        {
            RunId = runId,
            Backends = order.Select(name => groups[name].Build(slo)).ToList(),
            Notes = notes,
        };
    }

    /// <summary>A note starting with this is a warning: the run command also prints it on stderr and keeps it in the manifest.</summary>
    public const string WarningPrefix = "WARNING: ";

    /// <summary>
    /// Input tokens the server reported below this share of the client tokenizer's count mark a likely truncated prompt
    /// (a server that cut the prompt to its context). The client tokenizer is approximate for most models (±30 % on
    /// code), so only a gap far beyond that counts.
    /// </summary>
    public const double TruncationRatio = 0.5;

    /// <summary>The warnings among a summary's notes (see <see cref="WarningPrefix"/>).</summary>
    public static IReadOnlyList<string> Warnings(RunSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return summary.Notes.Where(n => n.StartsWith(WarningPrefix, StringComparison.Ordinal)).ToList();
    }

    /// <summary>Flat scalar names (ttft_p99_ms, error_rate, …) per backend, as used by --fail-if and summary.csv.</summary>
    public static IReadOnlyDictionary<string, double> Scalars(BackendSummary summary)
    {
        var result = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["error_rate"] = summary.ErrorRate,
            ["request_throughput_rps"] = summary.RequestThroughputRps,
            ["output_token_throughput_tps"] = summary.OutputTokenThroughputTps,
            ["attempts_ok"] = summary.Counts.Ok,
            ["attempts_failed"] = summary.Counts.Error + summary.Counts.Timeout,
            ["attempts_cancelled"] = summary.Counts.Cancelled,
            ["duration_s"] = summary.DurationSeconds,
        };
        // Without an SLO goodput is only the ok share again: no column of its own, so no figure that looks measured.
        if (summary.Goodput.SloSet)
        {
            result["goodput_ratio"] = summary.Goodput.Ratio;
            result["goodput_rps"] = summary.Goodput.Rps;
        }

        if (summary.Grading is { Graded: > 0 } grading)
        {
            result["pass_rate"] = grading.PassRate;
        }

        if (summary.Grading is { Ungraded: > 0 } withUngraded)
        {
            result["ungraded"] = withUngraded.Ungraded;
        }

        if (summary.Flow is { } flow)
        {
            result["flow_instant_feedback_ratio"] = flow.InstantFeedbackRatio;
            result["flow_in_flow_ratio"] = flow.InFlowRatio;
            result["flow_attention_kept_ratio"] = flow.AttentionKeptRatio;
            result["flow_break_ratio"] = flow.FlowBreakRatio;
            result["flow_mean_wait_s"] = flow.MeanWaitSeconds;
            if (flow.WaitPerPassSeconds is { } perPass)
            {
                result["flow_wait_per_pass_s"] = perPass;
            }
        }

        foreach (var (name, stats) in summary.Metrics)
        {
            var (stem, unit) = name.EndsWith("_ms", StringComparison.Ordinal) ? (name[..^3], "_ms") : (name, "");
            result[$"{stem}_mean{unit}"] = stats.Mean;
            result[$"{stem}_p50{unit}"] = stats.P50;
            result[$"{stem}_p90{unit}"] = stats.P90;
            result[$"{stem}_p95{unit}"] = stats.P95;
            result[$"{stem}_p99{unit}"] = stats.P99;
            result[$"{stem}_max{unit}"] = stats.Max;
        }

        return result;
    }

    private sealed class Accumulator(string backend)
    {
        private readonly List<double> _ttft = [], _ttftAny = [], _headers = [], _e2e = [], _e2eRetries = [], _tpot = [], _tps = [], _lag = [], _tokens = [], _sendDelay = [], _startWait = [];
        // The serving try's own TTFT and e2e differ from ttft_ms / e2e_ms only on retried attempts: kept for those alone, by index.
        private readonly List<(int Index, double Value)> _ttftServing = [], _e2eServing = [];
        private readonly LogHistogram _itl = new();
        private readonly GradingAccumulator _grading = new();
        private readonly Dictionary<string, int> _errors = new(StringComparer.Ordinal);
        private int _ok, _error, _timeout, _cancelled, _warmup, _good, _instant, _inFlow, _attention;
        private double _waitMs;
        private long _first = long.MaxValue, _last = long.MinValue, _answerTokens, _inputTokens, _reasoningTokens, _discrepancy, _tokenizerTokens;
        private bool _allUsage = true, _anyUsage, _anyRetried;
        private string _tokenizer = "";

        public bool Simulated { get; private set; }

        private int _truncated, _withInputUsage;
        private (long Usage, long Tokenizer) _truncationExample;

        public string? TruncationWarning() => _truncated == 0 ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"{WarningPrefix}{backend}: in {_truncated} of {_withInputUsage} attempts the server counted far fewer input tokens than the client (e.g. {_truncationExample.Usage} against {_truncationExample.Tokenizer}; below {TruncationRatio:P0}): the prompt was probably truncated to the server's context, and those answers did not see the whole task. Fix: raise the server's context size (or check its truncation setting)");

        public void Add(AttemptRecord r, SloSpec slo)
        {
            if (r.Slot.Warmup)
            {
                _warmup++;
                return;
            }

            Simulated |= r.Simulated;
            _grading.Add(r);
            if (r.Tokens.InputUsage is { } inputUsage && r.Outcome.Status != AttemptStatus.Cancelled)
            {
                _withInputUsage++;
                if (inputUsage < r.Tokens.InputTokenizer * TruncationRatio)
                {
                    _truncated++;
                    _truncationExample = (inputUsage, r.Tokens.InputTokenizer);
                }
            }

            var m = r.Outcome.Status == AttemptStatus.Ok ? AttemptMetrics.Compute(r, _itl) : AttemptMetrics.Compute(r);
            if (r.ScheduleLagUs is { } lag)
            {
                _lag.Add(lag / 1000.0);
            }

            switch (r.Outcome.Status)
            {
                case AttemptStatus.Cancelled:
                    _cancelled++;
                    return;
                case AttemptStatus.Error:
                    _error++;
                    Count(r.Outcome.ErrorClass ?? "error");
                    break;
                case AttemptStatus.Timeout:
                    _timeout++;
                    Count(r.Outcome.ErrorClass ?? "timeout");
                    break;
                case AttemptStatus.Ok:
                default:
                    break;
            }

            _first = Math.Min(_first, r.StartUs);
            _last = Math.Max(_last, r.StartUs + (long)((m.E2eWithRetriesMs ?? 0) * 1000));
            // A failed attempt made the developer wait until it failed: its last event.
            _waitMs += m.E2eWithRetriesMs ?? (r.Events.Count > 0 ? r.Events[^1].OffsetMicroseconds / 1000.0 : 0);
            if (r.Outcome.Status != AttemptStatus.Ok)
            {
                return;
            }

            _ok++;
            CountFlow(m);
            Push(_ttft, m.TtftMs);
            Push(_ttftAny, m.TtftAnyMs);
            Push(_headers, m.ResponseHeadersMs);
            Push(_e2e, m.E2eMs);
            Push(_e2eRetries, m.E2eWithRetriesMs);
            Push(_tpot, m.TpotMs);
            Push(_sendDelay, m.SendDelayMs);
            Push(_startWait, m.StartWaitMs);
            if (m.Retried)
            {
                _anyRetried = true;
                if (m.TtftMs is not null && m.TtftServingTryMs is { } servingTtft)
                {
                    _ttftServing.Add((_ttft.Count - 1, servingTtft));
                }

                if (m.E2eMs is not null && m.E2eServingTryMs is { } servingE2e)
                {
                    _e2eServing.Add((_e2e.Count - 1, servingE2e));
                }
            }
            Push(_tps, m.OutputTokensPerSecond);
            _tokens.Add(m.AnswerTokens);

            _answerTokens += m.AnswerTokens;
            _inputTokens += r.Tokens.InputUsage ?? r.Tokens.InputTokenizer;
            _reasoningTokens += r.Tokens.ReasoningUsage ?? 0;
            _tokenizerTokens += r.Tokens.OutputTokenizer;
            _tokenizer = r.Tokens.Tokenizer;
            if (r.Tokens.Discrepancy is { } d)
            {
                _anyUsage = true;
                _discrepancy += d;
            }
            else
            {
                _allUsage = false;
            }

            if (Meets(m, slo))
            {
                _good++;
            }
        }

        private static bool Meets(AttemptMetrics m, SloSpec slo) =>
            (slo.TtftMs is not { } t || m.TtftMs <= t)
            && (slo.TpotMs is not { } p || m.TpotMs is null || m.TpotMs <= p)
            && (slo.E2eMs is not { } e || m.E2eMs <= e);

        private void CountFlow(AttemptMetrics m)
        {
            _instant += m.TtftMs <= FlowThresholds.InstantMs ? 1 : 0;
            var wait = m.E2eWithRetriesMs ?? m.E2eMs;
            _inFlow += wait <= FlowThresholds.FlowMs ? 1 : 0;
            _attention += wait <= FlowThresholds.AttentionMs ? 1 : 0;
        }

        private FlowSummary? BuildFlow(int decided, GradingSummary? grading)
        {
            if (decided == 0)
            {
                return null;
            }

            return new FlowSummary
            {
                Decided = decided,
                InstantFeedbackRatio = (double)_instant / decided,
                InFlowRatio = (double)_inFlow / decided,
                AttentionKeptRatio = (double)_attention / decided,
                FlowBreakRatio = 1.0 - ((double)_attention / decided),
                MeanWaitSeconds = _waitMs / decided / 1000.0,
                WaitPerPassSeconds = grading is { Passed: > 0 } g ? _waitMs / g.Passed / 1000.0 : null,
            };
        }

        private void Count(string errorClass) => _errors[errorClass] = _errors.GetValueOrDefault(errorClass) + 1;

        private static List<double> WithOverrides(List<double> values, List<(int Index, double Value)> overrides)
        {
            var result = new List<double>(values);
            foreach (var (index, value) in overrides)
            {
                result[index] = value;
            }

            return result;
        }

        private static void Push(List<double> list, double? value)
        {
            if (value is { } v)
            {
                list.Add(v);
            }
        }

        public BackendSummary Build(SloSpec slo)
        {
            var decided = _ok + _error + _timeout;
            var duration = _last > _first ? (_last - _first) / 1e6 : 0;
            var metrics = new SortedDictionary<string, LatencyStatistics>(StringComparer.Ordinal);
            // The serving try's own latency only where some ok attempt retried (otherwise it equals ttft_ms / e2e_ms).
            var serving = _anyRetried ? WithOverrides(_ttft, _ttftServing) : [];
            var servingE2e = _anyRetried ? WithOverrides(_e2e, _e2eServing) : [];
            (string Name, List<double> Values, string Unit)[] distributions =
            [
                ("ttft_serving_try_ms", serving, "ms"), ("e2e_serving_try_ms", servingE2e, "ms"), ("send_delay_ms", _sendDelay, "ms"), ("start_wait_ms", _startWait, "ms"),
                ("ttft_ms", _ttft, "ms"), ("ttft_any_ms", _ttftAny, "ms"), ("response_headers_ms", _headers, "ms"),
                ("e2e_ms", _e2e, "ms"), ("e2e_with_retries_ms", _e2eRetries, "ms"), ("tpot_ms", _tpot, "ms"),
                ("output_tokens_per_s", _tps, "tokens/s"), ("output_tokens", _tokens, "tokens"), ("schedule_lag_ms", _lag, "ms"),
            ];

            // Sorting dominates on large runs; the distributions are independent, so sort them in parallel.
            var computed = new LatencyStatistics?[distributions.Length];
            Parallel.For(0, distributions.Length, i => computed[i] = LatencyStatistics.FromSamples([.. distributions[i].Values], distributions[i].Unit));
            for (var i = 0; i < distributions.Length; i++)
            {
                if (computed[i] is { } stats)
                {
                    metrics[distributions[i].Name] = stats;
                }
            }
            if (LatencyStatistics.FromHistogram(_itl) is { } itl)
            {
                metrics["itl_ms"] = itl;
            }

            var source = !_anyUsage ? "tokenizer" : _allUsage ? "usage" : "mixed";
            var grading = _grading.Build();
            return new BackendSummary
            {
                Backend = backend,
                Simulated = Simulated,
                Counts = new AttemptCounts(decided + _cancelled, _ok, _error, _timeout, _cancelled, _warmup),
                ErrorRate = decided == 0 ? 0 : (double)(_error + _timeout) / decided,
                DurationSeconds = duration,
                RequestThroughputRps = duration > 0 ? _ok / duration : 0,
                OutputTokenThroughputTps = duration > 0 ? _answerTokens / duration : 0,
                Goodput = new GoodputSummary(slo, _good, decided == 0 ? 0 : (double)_good / decided, duration > 0 ? _good / duration : 0),
                Metrics = metrics,
                Tokens = new TokenSummary(_answerTokens, _inputTokens, _reasoningTokens, source,
                    _anyUsage ? _discrepancy : null,
                    _anyUsage && _tokenizerTokens > 0 ? (double)_discrepancy / _tokenizerTokens : null,
                    _tokenizer),
                ErrorClasses = new SortedDictionary<string, int>(_errors, StringComparer.Ordinal),
                Grading = grading,
                Flow = BuildFlow(decided, grading),
            };
        }
    }

    /// <summary>Formats a value the way every report prints numbers (invariant culture).</summary>
    public static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
