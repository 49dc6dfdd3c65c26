using System.Runtime.InteropServices;
using System.Text;
using LLama.Native;

namespace Spark.Eval.Backends.Local;

/// <summary>
/// The process-wide llama.cpp library: routes its log into a bounded buffer (so load failures can quote it and
/// the console stays quiet) and says which SIMD build LLamaSharp picked.
/// </summary>
public static class LlamaNative
{
    private const int MaxLines = 400;
    private static readonly Lock Gate = new();
    private static readonly LinkedList<(long Sequence, string Line)> Lines = new();
    private static readonly NativeLogConfig.LLamaLogCallback Callback = OnLog;
    private static readonly StringBuilder Pending = new();
    private static long _sequence;
    private static bool _initialized;

    /// <summary>Installs the log callback before the native library loads; safe to call many times.</summary>
    public static void EnsureInitialized()
    {
        lock (Gate)
        {
            if (_initialized)
            {
                return;
            }

            _initialized = true;
        }

        try
        {
            NativeLibraryConfig.All.WithLogCallback(Callback);
        }
        catch (InvalidOperationException)
        {
            // Already loaded by someone else: set the callback on the live library instead.
            NativeLogConfig.llama_log_set(Callback);
        }
    }

    /// <summary>A position in the log; pass it to <see cref="LinesSince"/> to read what came after.</summary>
    public static long Mark()
    {
        lock (Gate)
        {
            return _sequence;
        }
    }

    /// <summary>The captured native log lines written after <paramref name="mark"/> (at most the last 400).</summary>
    public static IReadOnlyList<string> LinesSince(long mark)
    {
        lock (Gate)
        {
            return Lines.Where(l => l.Sequence > mark).Select(l => l.Line).ToList();
        }
    }

    /// <summary>The SIMD build LLamaSharp loaded (none, avx, avx2, avx512), or "unknown" before any load.</summary>
    public static string SimdBuild
    {
        get
        {
            var library = NativeApi.GetLoadedNativeLibrary(NativeLibraryName.LLama);
            return library?.Metadata is { } metadata
                ? (metadata.UseCuda ? "cuda+" : metadata.UseVulkan ? "vulkan+" : "") + metadata.AvxLevel.ToString().ToLowerInvariant()
                : "unknown";
        }
    }

    /// <summary>llama.cpp's own system-info line (the CPU features it was compiled for and detected).</summary>
    public static string SystemInfo
    {
        get
        {
            EnsureInitialized();
            var pointer = NativeApi.llama_print_system_info();
            return (Marshal.PtrToStringUTF8(pointer) ?? "").Trim();
        }
    }

    private static void OnLog(LLamaLogLevel level, string message)
    {
        lock (Gate)
        {
            // llama.cpp sends lines in pieces ("Continue" level); join them until a newline.
            Pending.Append(message);
            if (!message.EndsWith('\n'))
            {
                return;
            }

            var prefix = level switch
            {
                LLamaLogLevel.Error => "error: ",
                LLamaLogLevel.Warning => "warning: ",
                _ => "",
            };
            foreach (var line in Pending.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                Lines.AddLast((++_sequence, prefix + line.TrimEnd()));
                if (Lines.Count > MaxLines)
                {
                    Lines.RemoveFirst();
                }
            }

            Pending.Clear();
        }
    }
}
