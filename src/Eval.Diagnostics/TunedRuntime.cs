using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Spark.Eval.Diagnostics;

/// <summary>
/// The runtime settings serve-sim runs under by default, and the re-launch that applies them. Startup settings of the .NET
/// runtime (JIT mode, GC flavour and budget, socket completions) cannot change in a running process, so a plainly started
/// <c>spark-eval serve-sim</c> starts itself again as a child with them set (the parent relays signals and the exit code),
/// the way selftest has always launched its server. What each one buys is in docs/benchmarks.md ("Plain serve-sim and
/// run"): the user's path now gets what only selftest's launcher had.
/// </summary>
public static class TunedRuntime
{
    /// <summary>Set in the child to the parent's process id: the child runs as is (no second re-launch) and ends with its parent.</summary>
    public const string ChildVariable = "SPARK_EVAL_SERVE_SIM_PARENT";

    /// <summary>serve-sim's gen0 budget, MB: a collection every ~20 s at 64 streams instead of several a second (a pause is then rare inside a run), at the cost of that much memory.</summary>
    public const int Gen0Mb = 256;

    /// <summary>
    /// The settings: every method fully optimised from its first call (no tier-0 code and no ready-to-run code that tiering
    /// off would never replace), workstation non-concurrent GC with a large gen0 budget (server GC on 2 cores adds a GC
    /// thread per core and pauses no shorter; background GC only adds a thread), and socket completions run inline on the
    /// epoll thread instead of being queued to the thread pool (a chunk's send does not wait for a pool thread).
    /// </summary>
    public static IReadOnlyList<(string Name, string Value)> Settings { get; } =
    [
        ("DOTNET_TieredCompilation", "0"),
        ("DOTNET_ReadyToRun", "0"),
        ("DOTNET_gcServer", "0"),
        ("DOTNET_gcConcurrent", "0"),
        ("DOTNET_GCgen0size", "0x" + (Gen0Mb * (1L << 20)).ToString("x", CultureInfo.InvariantCulture)),
        ("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1"),
    ];

    /// <summary>True when this process runs under every one of <see cref="Settings"/>.</summary>
    public static bool Applied => Settings.All(s => Environment.GetEnvironmentVariable(s.Name) == s.Value);

    /// <summary>The settings as one line (for serve-sim's start line and the docs).</summary>
    public static string Describe() => string.Join(' ', Settings.Select(s => s.Name + "=" + s.Value));

    /// <summary>
    /// Whether this process can start itself again: it must be the spark-eval program itself (<paramref name="cliAssembly"/>
    /// is the entry assembly), not a test host that called the command in-process.
    /// </summary>
    public static bool CanRelaunch(System.Reflection.Assembly cliAssembly) =>
        System.Reflection.Assembly.GetEntryAssembly() == cliAssembly && Environment.GetEnvironmentVariable(ChildVariable) is null;

    /// <summary>
    /// Runs <paramref name="args"/> in a child process of this program under <see cref="Settings"/>, with standard streams
    /// inherited; SIGINT and SIGTERM are passed on and the child's exit code returned.
    /// </summary>
    public static async Task<int> RunChildAsync(string cliAssemblyPath, IEnumerable<string> args, CancellationToken cancellationToken)
    {
        var self = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo(self) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) != "spark-eval")
        {
            info.ArgumentList.Add(cliAssemblyPath);
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in Settings)
        {
            info.Environment[name] = value;
        }

        info.Environment[ChildVariable] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using var child = Process.Start(info) ?? throw new InvalidOperationException("could not start serve-sim's tuned child process");
        void Relay(PosixSignalContext context)
        {
            context.Cancel = true;
            if (!child.HasExited)
            {
                _ = Kill(child.Id, context.Signal == PosixSignal.SIGINT ? SigInt : SigTerm);
            }
        }

        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Relay);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Relay);
        try
        {
            await child.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The command's own cancellation (System.CommandLine's): ask the child to stop and wait for it.
            if (!child.HasExited)
            {
                _ = Kill(child.Id, SigTerm);
            }

            await child.WaitForExitAsync(CancellationToken.None);
        }

        return child.ExitCode;
    }

    /// <summary>In the child: ends this process when its parent ends (Linux), so a killed parent leaves no server behind.</summary>
    public static void BindToParent()
    {
        if (!OperatingSystem.IsLinux() || !int.TryParse(Environment.GetEnvironmentVariable(ChildVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parent))
        {
            return;
        }

        try
        {
            _ = Prctl(PrSetPdeathsig, SigTerm, 0, 0, 0);
            if (GetParentProcessId() != parent)
            {
                // The parent ended before the request took effect.
                Environment.Exit(143);
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    private const int SigInt = 2;
    private const int SigTerm = 15;
    private const int PrSetPdeathsig = 1;

    [DllImport("libc", EntryPoint = "kill")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);

    [DllImport("libc", EntryPoint = "prctl")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [DllImport("libc", EntryPoint = "getppid")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int GetParentProcessId();
}
