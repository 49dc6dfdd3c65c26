using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;

namespace Spark.Eval.Sandbox.Worker;

/// <summary>Runs compiled programs sent by the harness, one at a time, and answers with a classified status.</summary>
/// <remarks>
/// Protocol (binary, little-endian, over stdin/stdout): request = mode (1 program, 2 tests), per-grade nonce, working
/// directory, output keep and kill bytes, assembly length, assembly bytes; response = magic, the request's nonce, status
/// (0 passed, 1 assert or test failed, 2 exception, 3 output limit, 4 harness error, 5 the program replaced what the checks
/// rely on), detail, captured output, output byte count, reusable (nothing global was touched). The response is written only
/// after Main (or every test) returned; the nonce, held in a local, is what the harness checks, so bytes a program writes to
/// fd 1 cannot pass for a response. The harness replaces the worker after any status but 0 and whenever reusable is false.
/// </remarks>
public static class Program
{
    public const int Magic = 0x4B525053;

    public static int Main()
    {
        using var input = Console.OpenStandardInput();
        using var output = Console.OpenStandardOutput();
        using var reader = new BinaryReader(input, Encoding.UTF8);
        using var writer = new BinaryWriter(output, Encoding.UTF8);
        var listener = new FailingListener();
        Trace.Listeners.Clear();
        Trace.Listeners.Add(listener);
        // The provider that routes Debug.Assert to the Trace listeners (installed by the first Trace.Listeners access); reachable
        // (and replaceable) by a program only through reflection, so it is compared and put back after every attempt.
        var providerField = typeof(Debug).GetField("s_provider", BindingFlags.NonPublic | BindingFlags.Static);
        var provider = providerField?.GetValue(null);
        Console.SetIn(TextReader.Null);
        writer.Write(Magic);
        writer.Write("ready");
        writer.Flush();
        var served = 0;
        while (true)
        {
            int mode;
            try
            {
                mode = reader.ReadInt32();
            }
            catch (EndOfStreamException)
            {
                return 0;
            }

            var nonce = reader.ReadString();
            var directory = reader.ReadString();
            var keep = reader.ReadInt32();
            var kill = reader.ReadInt64();
            var assembly = reader.ReadBytes(reader.ReadInt32());
            var capture = new CappedWriter(keep, kill);
            Console.SetOut(capture);
            Console.SetError(capture);
            Directory.SetCurrentDirectory(directory);
            // Whatever an earlier attempt may have left, each one starts with the harness's checking machinery in place.
            Trace.Listeners.Clear();
            Trace.Listeners.Add(listener);
            providerField?.SetValue(null, provider);
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
            FailingListener.Failure = null;
            var before = GlobalState.Take();
            var (status, detail) = Execute(mode, assembly);
            if (FailingListener.Failure is { } failure && status != 3)
            {
                (status, detail) = (1, failure);
            }

            var tampered = Trace.Listeners.Count != 1 || !ReferenceEquals(Trace.Listeners[0], listener) || !ReferenceEquals(providerField?.GetValue(null), provider);
            providerField?.SetValue(null, provider);
            if (tampered && status is 0)
            {
                (status, detail) = (5, "the program replaced the Trace listeners or the Debug provider that Debug.Assert reports through");
            }

            var reusable = !tampered && GlobalState.Take().SameAs(before);
            writer.Write(Magic);
            writer.Write(nonce);
            writer.Write(status);
            writer.Write(detail);
            writer.Write(capture.Text);
            writer.Write(capture.Total);
            writer.Write(reusable);
            writer.Flush();
            // Unloaded attempt assemblies are only freed by a collection; collect between requests, off the attempt's clock.
            if (++served % 8 == 0)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
    }

    private static (int Status, string Detail) Execute(int mode, byte[] image)
    {
        var context = new AssemblyLoadContext("attempt", isCollectible: true);
        try
        {
            var assembly = context.LoadFromStream(new MemoryStream(image));
            return mode == 2 ? RunTests(assembly) : RunMain(assembly);
        }
        catch (BadImageFormatException ex)
        {
            return (4, ex.Message);
        }
        finally
        {
            context.Unload();
        }
    }

    private static (int, string) RunMain(Assembly assembly)
    {
        var entry = assembly.EntryPoint;
        if (entry is null)
        {
            return (4, "the program has no Main method");
        }

        try
        {
            var args = entry.GetParameters().Length == 0 ? null : new object[] { Array.Empty<string>() };
            var result = entry.Invoke(null, args);
            if (result is Task task)
            {
                task.GetAwaiter().GetResult();
            }

            return (0, "");
        }
        catch (TargetInvocationException ex) when (ex.InnerException is { } inner)
        {
            return Describe(inner);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return Describe(ex);
        }
    }

    private static (int, string) RunTests(Assembly assembly)
    {
        var type = assembly.GetTypes().FirstOrDefault(t => t.Name == "Tests");
        if (type is null)
        {
            return (4, "no class named Tests was found");
        }

        var tests = type.GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.Name.StartsWith("Test", StringComparison.Ordinal) && m.GetParameters().Length == 0)
            .OrderBy(m => m.MetadataToken)
            .ToList();
        if (tests.Count == 0)
        {
            return (4, "class Tests has no public static method whose name starts with Test");
        }

        foreach (var test in tests)
        {
            try
            {
                test.Invoke(null, null);
                if (FailingListener.Failure is { } failure)
                {
                    return (1, $"{test.Name}: {failure}");
                }
            }
            catch (TargetInvocationException ex) when (ex.InnerException is { } inner)
            {
                var (status, detail) = Describe(inner);
                return (status == 3 ? 3 : 1, $"{test.Name}: {detail}");
            }
        }

        return (0, string.Create(CultureInfo.InvariantCulture, $"{tests.Count} tests passed"));
    }

    private static (int, string) Describe(Exception ex) => ex switch
    {
        AssertFailedException a => (1, a.Message),
        OutputLimitException o => (3, o.Message),
        _ when ex.GetType().FullName?.StartsWith("Xunit.Sdk.", StringComparison.Ordinal) == true => (1, Short(ex.Message)),
        _ => (2, Short($"{ex.GetType().FullName}: {ex.Message}")),
    };

    private static string Short(string text) => text.Length <= 600 ? text : text[..600] + "…";
}

/// <summary>
/// What a program can leave behind in the worker that could reach the next attempt: threads (other than the runtime's own),
/// queued thread-pool work, timers, environment variables. Any change makes the harness replace the worker.
/// </summary>
internal sealed record GlobalState(int Threads, long WorkItems, long PendingWorkItems, long Timers, int Environment)
{
    public static GlobalState Take()
    {
        var threads = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                string name;
                try
                {
                    name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                }
                catch (IOException)
                {
                    continue;
                }

                // The runtime starts and ends its own threads (tiered compilation, GC, finalizer) on its own schedule.
                if (!name.StartsWith(".NET ", StringComparison.Ordinal))
                {
                    threads++;
                }
            }
        }
        catch (IOException)
        {
        }

        var environment = 0;
        foreach (System.Collections.DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
        {
            environment ^= HashCode.Combine(entry.Key, entry.Value);
        }

        return new GlobalState(threads, ThreadPool.CompletedWorkItemCount, ThreadPool.PendingWorkItemCount, Timer.ActiveCount, environment);
    }

    public bool SameAs(GlobalState before) => Threads <= before.Threads && WorkItems == before.WorkItems && PendingWorkItems == 0
        && Timers <= before.Timers && Environment == before.Environment;
}

/// <summary>Turns Debug.Assert and Debug.Fail into an exception instead of killing the process.</summary>
internal sealed class FailingListener : TraceListener
{
    public static string? Failure { get; set; }

    public override void Fail(string? message, string? detailMessage)
    {
        Failure ??= "Debug.Assert failed" + (string.IsNullOrEmpty(message) ? "" : ": " + message) + (string.IsNullOrEmpty(detailMessage) ? "" : " " + detailMessage)
            + AtLine();
        throw new AssertFailedException(Failure);
    }

    public override void Write(string? message)
    {
    }

    public override void WriteLine(string? message)
    {
    }

    private static string AtLine()
    {
        var frame = new StackTrace(true).GetFrames().FirstOrDefault(f => f.GetFileLineNumber() > 0 && f.GetMethod()?.DeclaringType?.Assembly != typeof(FailingListener).Assembly);
        return frame is null ? "" : string.Create(CultureInfo.InvariantCulture, $" (line {frame.GetFileLineNumber()})");
    }
}

/// <summary>A failed Debug.Assert.</summary>
internal sealed class AssertFailedException(string message) : Exception(message);

/// <summary>The program printed more than the output limit.</summary>
internal sealed class OutputLimitException(string message) : Exception(message);

/// <summary>Keeps the first bytes of what the program prints, counts the rest, and stops it past the kill limit.</summary>
internal sealed class CappedWriter(int keep, long kill) : TextWriter
{
    private readonly StringBuilder _kept = new();

    public long Total { get; private set; }

    public override Encoding Encoding => Encoding.UTF8;

    public string Text => _kept.ToString();

    public override void Write(char value)
    {
        Total++;
        if (_kept.Length < keep)
        {
            _kept.Append(value);
        }

        if (Total > kill)
        {
            throw new OutputLimitException(string.Create(CultureInfo.InvariantCulture, $"output limit reached ({Total} bytes)"));
        }
    }

    public override void Write(string? value)
    {
        if (value is null)
        {
            return;
        }

        Total += value.Length;
        if (_kept.Length < keep)
        {
            _kept.Append(value.AsSpan(0, Math.Min(value.Length, keep - _kept.Length)));
        }

        if (Total > kill)
        {
            throw new OutputLimitException(string.Create(CultureInfo.InvariantCulture, $"output limit reached ({Total} bytes)"));
        }
    }
}
