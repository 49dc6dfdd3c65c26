using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Traces;

/// <summary>Resolves a plan's trace: reads the file, checks it is the one the plan recorded, cuts the window and rescales time.</summary>
public static class TraceReplay
{
    /// <summary>Builds the plan's trace spec from the options a user gave (validated, hashed).</summary>
    public static TraceSpec Describe(string path, string format, double timeScale, string? window)
    {
        double? start = null, end = null;
        if (!string.IsNullOrWhiteSpace(window))
        {
            var parts = window.Split("..", StringSplitOptions.TrimEntries);
            if (parts.Length != 2
                || !double.TryParse(parts[0], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var a)
                || !double.TryParse(parts[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var b))
            {
                throw new InputException($"--window {window}: expected START..END in seconds from the trace's start. Fix: write e.g. --window 0..60");
            }

            (start, end) = (a, b);
        }

        var spec = new TraceSpec { Path = path, Format = format, TimeScale = timeScale, WindowStartSeconds = start, WindowEndSeconds = end, Sha256 = "" };
        var trace = Load(spec with { Sha256 = null });
        if (trace.Requests.Count == 0)
        {
            throw new InputException($"--window {window}: no request of {path} arrives in it. Fix: choose a window inside the trace (its span: see the first and last timestamps)");
        }

        return spec with { Sha256 = TraceReader.Sha256(path) };
    }

    /// <summary>The trace a plan replays; a file whose bytes changed since the plan was made is bad input.</summary>
    public static RequestTrace Load(TraceSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var trace = TraceReader.Read(spec.Path, spec.Format);
        if (spec.Sha256 is { Length: > 0 } expected && TraceReader.Sha256(spec.Path) != expected)
        {
            throw InputException.At(spec.Path, null, null, $"the trace changed since the run was planned (sha256 {expected[..12]}…)", "restore the trace file, or start a new run");
        }

        if (spec.WindowStartSeconds is { } start && spec.WindowEndSeconds is { } end)
        {
            trace = trace.Window(start, end);
        }

        return trace.Scale(spec.TimeScale);
    }
}
