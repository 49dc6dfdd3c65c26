using System.Text.Json.Serialization;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>The classified end of one program run (or one grade); names are the ones written to attempt records.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ExecutionOutcome>))]
public enum ExecutionOutcome
{
    [JsonStringEnumMemberName("passed")] Passed,
    [JsonStringEnumMemberName("wrong_answer")] WrongAnswer,
    [JsonStringEnumMemberName("compile_error")] CompileError,
    [JsonStringEnumMemberName("runtime_error")] RuntimeError,
    [JsonStringEnumMemberName("timeout")] Timeout,
    [JsonStringEnumMemberName("memory_limit")] MemoryLimit,
    [JsonStringEnumMemberName("output_limit")] OutputLimit,
    [JsonStringEnumMemberName("sandbox_violation")] SandboxViolation,
    [JsonStringEnumMemberName("harness_error")] HarnessError,
}

/// <summary>Wire names of <see cref="ExecutionOutcome"/>.</summary>
public static class ExecutionOutcomes
{
    public static string Name(this ExecutionOutcome outcome) => outcome switch
    {
        ExecutionOutcome.Passed => "passed",
        ExecutionOutcome.WrongAnswer => "wrong_answer",
        ExecutionOutcome.CompileError => "compile_error",
        ExecutionOutcome.RuntimeError => "runtime_error",
        ExecutionOutcome.Timeout => "timeout",
        ExecutionOutcome.MemoryLimit => "memory_limit",
        ExecutionOutcome.OutputLimit => "output_limit",
        ExecutionOutcome.SandboxViolation => "sandbox_violation",
        _ => "harness_error",
    };

    public static ExecutionOutcome Parse(string name) =>
        Enum.GetValues<ExecutionOutcome>().FirstOrDefault(o => o.Name() == name, ExecutionOutcome.HarnessError);
}

/// <summary>Per-attempt resource limits.</summary>
public sealed record SandboxLimits
{
    /// <summary>CPU time of the whole process tree, in seconds (the timeout that counts).</summary>
    public double CpuSeconds { get; init; } = 5;
    /// <summary>Wall-clock backstop, in seconds: catches sleeping or blocked programs that use no CPU.</summary>
    public double WallSeconds { get; init; } = 20;
    public long MemoryBytes { get; init; } = 512L << 20;
    public int MaxProcesses { get; init; } = 64;
    /// <summary>Bytes of stdout and of stderr kept; the rest is counted, not stored.</summary>
    public int OutputKeepBytes { get; init; } = 64 * 1024;
    /// <summary>Total output after which the program is stopped and classified output_limit.</summary>
    public long OutputKillBytes { get; init; } = 8L << 20;
    /// <summary>Largest file the program may write (RLIMIT_FSIZE).</summary>
    public long FileSizeBytes { get; init; } = 16L << 20;
    /// <summary>Largest program (UTF-8 bytes of the source, plus the implementation in tests mode) the sandbox accepts; larger ones are not run (sandbox_violation).</summary>
    public long MaxProgramBytes { get; init; } = 16L << 20;

    public static SandboxLimits Default { get; } = new();
}

/// <summary>What one sandboxed process did: how it ended, what it printed (capped) and what it used.</summary>
public sealed record ProcessRun
{
    public int? ExitCode { get; init; }
    /// <summary>The signal that ended the program, when one did (from exit status 128+n).</summary>
    public int? Signal { get; init; }
    public required string Stdout { get; init; }
    public required string Stderr { get; init; }
    /// <summary>stdout + stderr bytes produced, including those not kept.</summary>
    public long OutputBytes { get; init; }
    public double WallSeconds { get; init; }
    /// <summary>CPU seconds of the process tree; null where it could not be measured.</summary>
    public double? CpuSeconds { get; init; }
    /// <summary>Why the harness stopped it, if it did: cpu_limit, wall_limit, output_limit, memory_limit.</summary>
    public string? StoppedBy { get; init; }
    public required string Isolation { get; init; }
    /// <summary>The harness's completion evidence for this run (null when none was asked for): a pass needs <see cref="EvidenceState.Ok"/> and exit 0.</summary>
    public EvidenceState? Evidence { get; init; }
}

/// <summary>What a program's check driver reported with the per-grade nonce (docs/sandbox.md, "Pass evidence").</summary>
public enum EvidenceState
{
    /// <summary>No evidence: the program ended before its end (os._exit, sys.exit, process.exit, a signal) or never got there.</summary>
    Missing,
    /// <summary>The program ran to its end, the hidden checks included.</summary>
    Ok,
    /// <summary>The program ran to its end but replaced objects the hidden checks rely on (unittest asserts, builtins, Trace listeners).</summary>
    Tampered,
    /// <summary>Evidence was given, then the program exited explicitly (a forged early end).</summary>
    Revoked,
}

/// <summary>The classified result of executing one program: outcome, first failing check or error, and the raw run.</summary>
public sealed record ExecutionResult
{
    public required ExecutionOutcome Outcome { get; init; }
    /// <summary>The first failing check, compiler error or crash text, kept short for repair feedback.</summary>
    public string? Detail { get; init; }
    public ProcessRun? Run { get; init; }
    public required string Isolation { get; init; }

    public static ExecutionResult Harness(string detail, string isolation) =>
        new() { Outcome = ExecutionOutcome.HarnessError, Detail = detail, Isolation = isolation };
}
