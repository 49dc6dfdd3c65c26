using System.Globalization;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>Turns a finished process into an outcome, by limits first, then exit status, then the language's error text.</summary>
public static class Classifier
{
    private const int SigKill = 9, SigXcpu = 24, SigXfsz = 25;

    private static readonly string[] ViolationMarkers =
        ["Read-only file system", "Network is unreachable", "ENETUNREACH", "EROFS", "Temporary failure in name resolution", "EAI_AGAIN", "getaddrinfo",
            "Cannot assign requested address", "EADDRNOTAVAIL"];

    /// <summary>Detail of an exit status 0 without the harness's completion evidence.</summary>
    public const string NoEvidenceDetail = "the program ended before the hidden checks finished (exit status 0 without the harness's completion evidence: an early os._exit/sys.exit/process.exit/Environment.Exit, or a forged end)";

    /// <summary>Detail of a program that replaced what the checks rely on.</summary>
    public const string TamperedDetail = "the program replaced what the hidden checks rely on (assert/unittest/builtins/Trace listeners), so its checks prove nothing";

    public static ExecutionResult Classify(ProcessRun run, string language, bool pidsLimitHit = false)
    {
        ExecutionResult Result(ExecutionOutcome outcome, string? detail) =>
            new() { Outcome = outcome, Detail = detail, Run = run, Isolation = run.Isolation };

        var stderr = run.Stderr;
        if (run.StoppedBy is "cpu_limit" || run.Signal == SigXcpu)
        {
            return Result(ExecutionOutcome.Timeout, $"CPU time limit reached ({Seconds(run.CpuSeconds)} s CPU, {Seconds(run.WallSeconds)} s wall)");
        }

        if (run.StoppedBy is "wall_limit")
        {
            return Result(ExecutionOutcome.Timeout, $"wall-clock limit reached ({Seconds(run.WallSeconds)} s wall, {Seconds(run.CpuSeconds)} s CPU)");
        }

        if (run.StoppedBy is "output_limit")
        {
            return Result(ExecutionOutcome.OutputLimit, $"output limit reached ({run.OutputBytes.ToString(CultureInfo.InvariantCulture)} bytes)");
        }

        if (run.ExitCode == 0 && run.Signal is null)
        {
            return run.Evidence switch
            {
                null or EvidenceState.Ok => Result(ExecutionOutcome.Passed, null),
                EvidenceState.Tampered => Result(ExecutionOutcome.SandboxViolation, TamperedDetail + Tail(stderr, 2, prefix: ": ")),
                _ => Result(ExecutionOutcome.RuntimeError, NoEvidenceDetail + Tail(stderr, 2, prefix: ": ")),
            };
        }

        if (run.StoppedBy is "memory_limit" || stderr.Contains("MemoryError", StringComparison.Ordinal)
            || stderr.Contains("heap out of memory", StringComparison.Ordinal) || stderr.Contains("OutOfMemoryException", StringComparison.Ordinal)
            || stderr.Contains("Cannot allocate memory", StringComparison.Ordinal))
        {
            return Result(ExecutionOutcome.MemoryLimit, "memory limit reached" + Tail(stderr, 2, prefix: ": "));
        }

        if (run.Signal == SigXfsz || stderr.Contains("File too large", StringComparison.Ordinal) || stderr.Contains("EFBIG", StringComparison.Ordinal))
        {
            return Result(ExecutionOutcome.SandboxViolation, "file size limit reached (disk quota)" + Tail(stderr, 2, prefix: ": "));
        }

        if (pidsLimitHit)
        {
            return Result(ExecutionOutcome.SandboxViolation, "process-count limit reached" + Tail(stderr, 2, prefix: ": "));
        }

        if (ViolationMarkers.Any(m => stderr.Contains(m, StringComparison.Ordinal)))
        {
            return Result(ExecutionOutcome.SandboxViolation, "blocked by the sandbox" + Tail(stderr, 3, prefix: ": "));
        }

        var isAssert = language switch
        {
            "python" => stderr.Contains("AssertionError", StringComparison.Ordinal),
            "typescript" or "javascript" => stderr.Contains("AssertionError", StringComparison.Ordinal) || stderr.Contains("ERR_ASSERTION", StringComparison.Ordinal),
            _ => false,
        };
        if (isAssert)
        {
            return Result(ExecutionOutcome.WrongAnswer, FirstFailure(stderr, language));
        }

        var isSyntax = language switch
        {
            "python" => stderr.Contains("SyntaxError:", StringComparison.Ordinal) || stderr.Contains("IndentationError:", StringComparison.Ordinal) || stderr.Contains("TabError:", StringComparison.Ordinal),
            "javascript" => stderr.Contains("SyntaxError:", StringComparison.Ordinal) && !stderr.Contains("    at ", StringComparison.Ordinal),
            _ => false,
        };
        if (isSyntax)
        {
            return Result(ExecutionOutcome.CompileError, Tail(stderr, 4));
        }

        if (run.Signal == SigKill && run.StoppedBy is null)
        {
            return Result(ExecutionOutcome.RuntimeError, "killed (SIGKILL)" + Tail(stderr, 2, prefix: ": "));
        }

        var status = run.Signal is { } s ? $"signal {s.ToString(CultureInfo.InvariantCulture)}" : $"exit code {run.ExitCode?.ToString(CultureInfo.InvariantCulture)}";
        return Result(ExecutionOutcome.RuntimeError, status + Tail(stderr, 4, prefix: ": "));
    }

    /// <summary>The failing assertion, as the language prints it (Python: the source line above AssertionError).</summary>
    public static string FirstFailure(string stderr, string language)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (language == "python")
        {
            var at = Array.FindIndex(lines, l => l.StartsWith("AssertionError", StringComparison.Ordinal));
            if (at > 0)
            {
                var source = Array.FindLastIndex(lines, at, l => !l.StartsWith("File ", StringComparison.Ordinal) && !l.StartsWith('^') && !l.StartsWith('~') && !l.StartsWith("AssertionError", StringComparison.Ordinal));
                return Shorten((source >= 0 ? lines[source] + " → " : "") + lines[at]);
            }
        }
        else
        {
            var at = Array.FindIndex(lines, l => l.Contains("AssertionError", StringComparison.Ordinal));
            if (at >= 0)
            {
                return Shorten(string.Join(" ", lines.Skip(at).Take(6).Where(l => !l.StartsWith("at ", StringComparison.Ordinal))));
            }
        }

        return Tail(stderr, 4);
    }

    public static string Tail(string text, int lines, string prefix = "")
    {
        var kept = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(lines).ToList();
        return kept.Count == 0 ? "" : prefix + Shorten(string.Join(" | ", kept));
    }

    public static string Shorten(string text, int max = 600) => text.Length <= max ? text : string.Concat(text.AsSpan(0, max), "…");

    private static string Seconds(double? value) => value is { } v ? v.ToString("0.##", CultureInfo.InvariantCulture) : "?";
}
