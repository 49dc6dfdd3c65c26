using System.Globalization;
using Spark.Eval.Core;

namespace Spark.Eval.Simulator.Server;

/// <summary>A fault serve-sim can inject into one response.</summary>
public enum FaultKind
{
    /// <summary>No fault: the request is served normally.</summary>
    None,
    /// <summary>HTTP 429 with Retry-After.</summary>
    RateLimit,
    /// <summary>HTTP 503 with Retry-After.</summary>
    Unavailable,
    /// <summary>HTTP 500.</summary>
    ServerError,
    /// <summary>Response headers sent only after a delay; the stream is then served normally.</summary>
    SlowHeaders,
    /// <summary>HTTP 200 with an HTML body instead of an event stream or JSON.</summary>
    WrongContentType,
    /// <summary>The connection is aborted after some chunks.</summary>
    Disconnect,
    /// <summary>The stream pauses after some chunks, then goes on.</summary>
    Stall,
    /// <summary>A chunk whose JSON is cut short.</summary>
    Malformed,
    /// <summary>The response ends cleanly after some chunks, without a finish reason or [DONE].</summary>
    EarlyEnd,
}

/// <summary>
/// One fault with its settings, parsed from <c>kind[;key=value…]</c> (the <c>x-spark-fault</c> header or
/// <c>--faults</c>): <c>after</c> chunks before a mid-stream fault, <c>ms</c> of delay for slow headers or a stall,
/// <c>retry_after</c> seconds for 429/503, <c>count</c> requests carrying this exact header that get the fault.
/// </summary>
public sealed record FaultSpec(FaultKind Kind, int AfterChunks = 2, int DelayMs = 2000, double RetryAfterSeconds = 1, int? Count = null)
{
    /// <summary>The names accepted for each kind (first is canonical).</summary>
    public static readonly IReadOnlyDictionary<string, FaultKind> Names = new Dictionary<string, FaultKind>(StringComparer.OrdinalIgnoreCase)
    {
        ["none"] = FaultKind.None,
        ["429"] = FaultKind.RateLimit,
        ["rate_limit"] = FaultKind.RateLimit,
        ["503"] = FaultKind.Unavailable,
        ["unavailable"] = FaultKind.Unavailable,
        ["500"] = FaultKind.ServerError,
        ["server_error"] = FaultKind.ServerError,
        ["slow_headers"] = FaultKind.SlowHeaders,
        ["wrong_content_type"] = FaultKind.WrongContentType,
        ["disconnect"] = FaultKind.Disconnect,
        ["stall"] = FaultKind.Stall,
        ["malformed"] = FaultKind.Malformed,
        ["early_end"] = FaultKind.EarlyEnd,
    };

    public static string CanonicalName(FaultKind kind) => kind switch
    {
        FaultKind.RateLimit => "429",
        FaultKind.Unavailable => "503",
        FaultKind.ServerError => "500",
        FaultKind.SlowHeaders => "slow_headers",
        FaultKind.WrongContentType => "wrong_content_type",
        FaultKind.Disconnect => "disconnect",
        FaultKind.Stall => "stall",
        FaultKind.Malformed => "malformed",
        FaultKind.EarlyEnd => "early_end",
        _ => "none",
    };

    /// <summary>Parses <c>kind[;key=value…]</c>; <paramref name="source"/> names where the text came from, for the error message.</summary>
    public static FaultSpec Parse(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0 || !Names.TryGetValue(parts[0], out var kind))
        {
            throw new InputException($"{source}: unknown fault '{text}'. Fix: use one of: {string.Join(", ", Names.Keys)} (settings: ;after=N;ms=N;retry_after=S;count=N)");
        }

        var spec = new FaultSpec(kind);
        foreach (var part in parts.Skip(1))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? part : part[..eq];
            if (key == "id")
            {
                // Free-form tags (id=…) only make the header value unique, so that count applies per test.
                continue;
            }

            if (eq < 0 || !double.TryParse(part[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0)
            {
                throw new InputException($"{source}: fault setting '{part}' is not key=non-negative number. Fix: write for example stall;after=3;ms=5000");
            }

            spec = key switch
            {
                "after" => spec with { AfterChunks = (int)value },
                "ms" => spec with { DelayMs = (int)value },
                "retry_after" => spec with { RetryAfterSeconds = value },
                "count" => spec with { Count = (int)value },
                _ => throw new InputException($"{source}: unknown fault setting '{key}'. Fix: use after, ms, retry_after, count or id"),
            };
        }

        return spec;
    }
}

/// <summary>Chooses the fault for each request: the request's header first, else the configured rate (seeded).</summary>
public sealed class FaultInjector
{
    /// <summary>The request header that names a fault for that request.</summary>
    public const string HeaderName = "x-spark-fault";

    private readonly IReadOnlyList<FaultSpec> _rateFaults;
    private readonly double _rate;
    private readonly Random _random;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _seen = new(StringComparer.Ordinal);

    public FaultInjector(double rate, IReadOnlyList<FaultSpec> faults, int seed)
    {
        if (rate is < 0 or > 1)
        {
            throw new InputException($"--fault-rate {rate.ToString(CultureInfo.InvariantCulture)} is outside [0, 1]. Fix: give a probability such as 0.05");
        }

        if (rate > 0 && faults.Count == 0)
        {
            throw new InputException("--fault-rate is set but --faults names none. Fix: add --faults 429,503,disconnect (or any of: " + string.Join(", ", FaultSpec.Names.Keys) + ")");
        }

        _rate = rate;
        _rateFaults = faults;
        _random = new Random(seed);
    }

    /// <summary>No faults unless a request asks for one.</summary>
    public static FaultInjector HeaderOnly { get; } = new(0, [], 0);

    /// <summary>The fault for a request carrying <paramref name="header"/> (null or empty when absent).</summary>
    public FaultSpec Choose(string? header)
    {
        if (!string.IsNullOrWhiteSpace(header))
        {
            var spec = FaultSpec.Parse(header, HeaderName + " header");
            if (spec.Count is { } count)
            {
                lock (_gate)
                {
                    var n = _seen.GetValueOrDefault(header);
                    _seen[header] = n + 1;
                    if (n >= count)
                    {
                        return new FaultSpec(FaultKind.None);
                    }
                }
            }

            return spec;
        }

        if (_rate <= 0)
        {
            return new FaultSpec(FaultKind.None);
        }

        lock (_gate)
        {
            return _random.NextDouble() < _rate ? _rateFaults[_random.Next(_rateFaults.Count)] : new FaultSpec(FaultKind.None);
        }
    }
}
