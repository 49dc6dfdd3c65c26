using System.Globalization;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Diagnostics;

namespace Spark.Eval.Cli.Commands;

/// <summary>
/// The runtime a <c>run</c> with sessions in real time works under. Its sessions start their requests on a real-time wake-up
/// thread, and every garbage collection stops that thread with the rest of the process: with the runtime's default gen0 budget
/// (a few MB) such a run collected about twice a second, and each pause (milliseconds on a quiet machine, hundreds on a busy
/// one) made every session due in it late — most of the late interactions of the 256-session benchmark (docs/benchmarks.md,
/// "256 sessions against serve-sim in real time"). The gen0 budget is a start-up setting of the runtime (an environment
/// variable; runtimeconfig.json's properties do not reach it), so a plainly started <c>run</c> starts itself again as a child
/// under serve-sim's budget (<see cref="TunedRuntime.Gen0Mb"/>), the way serve-sim does; the manifest says so.
/// <para>
/// A run through a real-time remote backend (<c>openai</c>) does the same: its attempts' send delay (attempt start → the kernel's
/// transmit stamp of the request) is inside the user-facing TTFT, and a collection between the two stopped the send with the
/// rest of the process (docs/remote.md, "Send path"). <see cref="OffVariable"/>=off keeps the run in this process.
/// </para>
/// </summary>
public static class SessionRuntime
{
    /// <summary>The runtime's variable for the gen0 budget.</summary>
    public const string Gen0Variable = "DOTNET_GCgen0size";

    /// <summary>The settings the child runs under: the gen0 budget alone (JIT, GC flavour and socket completions as launched).</summary>
    public static IReadOnlyList<(string Name, string Value)> Settings { get; } =
    [
        (Gen0Variable, "0x" + (TunedRuntime.Gen0Mb * (1L << 20)).ToString("x", CultureInfo.InvariantCulture)),
    ];

    /// <summary>Set to <c>off</c>: <c>run</c> does not start itself again under <see cref="Settings"/> (the runtime's default gen0 budget, as before).</summary>
    public const string OffVariable = "SPARK_EVAL_RUN_GEN0";

    /// <summary>The backend kinds whose attempts are timed in real time against a server: their send delay is in the user-facing TTFT.</summary>
    private static readonly string[] RealTimeRemoteKinds = ["openai"];

    /// <summary>
    /// Whether a run of <paramref name="plan"/> should start itself again under <see cref="Settings"/>: sessions in real time, or
    /// (sessions in virtual time aside) a real-time remote backend; no gen0 budget in this process's environment yet (the
    /// child's, or one the user chose, which is kept); and not switched off (<see cref="OffVariable"/>=off).
    /// </summary>
    public static bool Wanted(RunPlanSpec plan, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(environment);
        if (!string.IsNullOrEmpty(environment(Gen0Variable)) || string.Equals(environment(OffVariable), "off", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return plan.Sessions switch
        {
            { Clock: SessionClock.Real } => true,
            null => plan.BackendSpecs.Any(RealTimeRemote),
            _ => false,
        };
    }

    /// <summary>Whether the spec names a real-time remote backend (its kind; a spec that does not parse is left to the run's own checks).</summary>
    private static bool RealTimeRemote(string spec)
    {
        try
        {
            return RealTimeRemoteKinds.Contains(BackendSpec.Parse(spec).Kind, StringComparer.Ordinal);
        }
        catch (InputException)
        {
            return false;
        }
    }

    /// <summary>The gen0 budget this process runs under, as one phrase for stderr and the manifest.</summary>
    public static string Describe(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var value = environment(Gen0Variable);
        if (string.IsNullOrEmpty(value))
        {
            return string.Equals(environment(OffVariable), "off", StringComparison.OrdinalIgnoreCase)
                ? $"the runtime's default gen0 budget (not started again: {OffVariable}=off)"
                : "the runtime's default gen0 budget (not started again: called in-process)";
        }

        var ours = Settings.Any(s => s.Name == Gen0Variable && s.Value == value) && environment(TunedRuntime.ChildVariable) is not null;
        return ours ? $"gen0 budget {TunedRuntime.Gen0Mb} MB ({Gen0Variable}={value}; run started itself again under it)"
            : $"{Gen0Variable}={value} (as launched)";
    }
}
