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
    /// <param name="cliAssemblyPath">The spark-eval program (its .dll when run by dotnet).</param>
    /// <param name="args">The command line to run again.</param>
    /// <param name="nice">
    /// The child's nice value (−20..19): below 0 raises its CPU priority over the builds and the client beside it, which
    /// needs root or CAP_SYS_NICE; without them the child runs at this process's own priority and says so. 0 leaves it.
    /// </param>
    /// <param name="cancellationToken">The command's cancellation: the child is asked to stop.</param>
    public static Task<int> RunChildAsync(string cliAssemblyPath, IEnumerable<string> args, int nice, CancellationToken cancellationToken) =>
        RunChildAsync(cliAssemblyPath, args, Settings, nice, cancellationToken);

    /// <summary>
    /// The same, under <paramref name="settings"/> instead of serve-sim's: <c>run</c> with sessions in real time starts itself
    /// again under a gen0 budget alone (<c>SessionRuntime</c> in the CLI; docs/benchmarks.md, "256 sessions against serve-sim in real time").
    /// </summary>
    public static async Task<int> RunChildAsync(string cliAssemblyPath, IEnumerable<string> args, IReadOnlyList<(string Name, string Value)> settings, int nice,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
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

        foreach (var (name, value) in settings)
        {
            info.Environment[name] = value;
        }

        info.Environment[ChildVariable] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using var child = StartAtNice(info, nice);
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

    /// <summary>
    /// Starts the process from this thread at <paramref name="nice"/>: Linux keeps a nice value per thread and a new process
    /// takes its starting thread's, so every thread of the child (the runtime's included) has it from the first.
    /// </summary>
    private static Process StartAtNice(ProcessStartInfo info, int nice)
    {
        var restore = int.MinValue;
        if (nice != 0 && OperatingSystem.IsLinux())
        {
            try
            {
                var before = ReadNice("thread-self");
                if (before is { } b && SetPriority(PrioProcess, 0, nice) == 0)
                {
                    restore = b;
                }
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
            }
        }

        try
        {
            return Process.Start(info) ?? throw new InvalidOperationException("could not start serve-sim's tuned child process");
        }
        finally
        {
            if (restore != int.MinValue)
            {
                // Back up to (never below) the thread's old priority: always permitted.
                _ = SetPriority(PrioProcess, 0, restore);
            }
        }
    }

    /// <summary>This process's scheduling as a phrase for serve-sim's start line: its nice value.</summary>
    public static string DescribePriority() => ReadNice("self") is { } n
        ? (n < 0 ? string.Create(CultureInfo.InvariantCulture, $"nice {n} (raised over the machine's other work)") : string.Create(CultureInfo.InvariantCulture, $"nice {n} (raising it needs root or CAP_SYS_NICE)"))
        : "priority unknown";

    /// <summary>The nice value of <c>/proc/PATH/stat</c> (field 19), null where unreadable.</summary>
    private static int? ReadNice(string path)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{path}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[19 - 3], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or IndexOutOfRangeException or FormatException or ArgumentOutOfRangeException)
        {
            return null;
        }
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
    private const int PrioProcess = 0;

    [DllImport("libc", EntryPoint = "setpriority")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetPriority(int which, int who, int priority);

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
