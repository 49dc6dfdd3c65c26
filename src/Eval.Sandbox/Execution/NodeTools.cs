using System.Diagnostics;
using System.Security.Cryptography;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>The locked npm tools (TypeScript 7 native tsc, TypeScript 5.9 compiler API, Jest), installed with <c>npm ci</c> into a cache folder on first use.</summary>
public sealed class NodeTools
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static NodeTools? s_installed;

    private NodeTools(string root) => Root = root;

    /// <summary>The cache folder holding node_modules.</summary>
    public string Root { get; }

    public string NodeModules => Path.Combine(Root, "node_modules");

    /// <summary>The native TypeScript 7 compiler executable, or null when only the JavaScript one is present.</summary>
    public string? NativeTsc
    {
        get
        {
            var scope = Path.Combine(NodeModules, "@typescript");
            return Directory.Exists(scope)
                ? Directory.EnumerateDirectories(scope, "typescript-linux-*").Select(d => Path.Combine(d, "lib", "tsc")).FirstOrDefault(File.Exists)
                : null;
        }
    }

    /// <summary>tsc of TypeScript 5.9 (JavaScript), used when the native compiler is unavailable.</summary>
    public string JsTsc => Path.Combine(NodeModules, "typescript", "bin", "tsc");

    public string Jest => Path.Combine(NodeModules, "jest", "bin", "jest.js");

    public string TypesRoot => Path.Combine(NodeModules, "@types");

    /// <summary>Folder with the package.json and package-lock.json shipped beside the harness.</summary>
    public static string ManifestFolder => Path.Combine(AppContext.BaseDirectory, "sandbox-node");

    /// <summary>The cache root: SPARK_EVAL_CACHE, else XDG_CACHE_HOME/spark-eval, else ~/.cache/spark-eval.</summary>
    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("SPARK_EVAL_CACHE") is { Length: > 0 } c ? c
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "spark-eval");

    /// <summary>Returns the installed tools, running <c>npm ci</c> once (with a progress line) when the cache lacks them.</summary>
    public static async Task<NodeTools> EnsureAsync(Action<string>? progress, CancellationToken cancellationToken)
    {
        if (s_installed is { } done)
        {
            return done;
        }

        await Gate.WaitAsync(cancellationToken);
        try
        {
            if (s_installed is { } again)
            {
                return again;
            }

            var lockFile = Path.Combine(ManifestFolder, "package-lock.json");
            if (!File.Exists(lockFile))
            {
                throw new ToolMissingException($"{lockFile} is missing. Fix: rebuild spark-eval (the sandbox ships its npm lockfile)");
            }

            var hash = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(lockFile, cancellationToken)))[..16];
            var toolsFolder = Path.Combine(CacheRoot, "node-tools");
            var root = Path.Combine(toolsFolder, hash);
            if (!File.Exists(Path.Combine(root, InstalledMarker)))
            {
                Directory.CreateDirectory(toolsFolder);
                // Other spark-eval processes (parallel test projects, two runs) may install the same lockfile at once:
                // one installs under a file lock while the others wait, and the folder appears whole or not at all.
                using var held = await AcquireFileLockAsync(Path.Combine(toolsFolder, hash + ".lock"), progress, cancellationToken);
                if (!File.Exists(Path.Combine(root, InstalledMarker)))
                {
                    await InstallAsync(lockFile, toolsFolder, root, hash, progress, cancellationToken);
                }
            }

            s_installed = new NodeTools(root);
            return s_installed;
        }
        finally
        {
            Gate.Release();
        }
    }

    private const string InstalledMarker = ".installed";

    /// <summary>npm ci into a staging folder beside <paramref name="root"/>, then one rename: a crash leaves no half-installed root.</summary>
    private static async Task InstallAsync(string lockFile, string toolsFolder, string root, string hash, Action<string>? progress, CancellationToken cancellationToken)
    {
        var npm = SandboxEnvironment.Which("npm")
            ?? throw new ToolMissingException("npm was not found on PATH. Fix: install Node.js 20 or later with npm (apt-get install nodejs npm)");
        var staging = Path.Combine(toolsFolder, $"{hash}.staging-{Environment.ProcessId}");
        foreach (var stale in new[] { staging, root })
        {
            if (Directory.Exists(stale))
            {
                Directory.Delete(stale, recursive: true);
            }
        }

        Directory.CreateDirectory(staging);
        File.Copy(Path.Combine(ManifestFolder, "package.json"), Path.Combine(staging, "package.json"), true);
        File.Copy(lockFile, Path.Combine(staging, "package-lock.json"), true);
        progress?.Invoke($"sandbox: installing locked TypeScript and Jest into {root} (npm ci, first use only)…");
        var info = new ProcessStartInfo(npm) { WorkingDirectory = staging, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error" })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        _ = await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            Directory.Delete(staging, recursive: true);
            throw new ToolMissingException($"npm ci failed in {staging}: {(await stderr).Trim()}. Fix: check network access to the npm registry, then retry");
        }

        await File.WriteAllTextAsync(Path.Combine(staging, InstalledMarker), hash, cancellationToken);
        Directory.Move(staging, root);
        progress?.Invoke("sandbox: npm tools installed.");
    }

    /// <summary>An exclusive lock on <paramref name="path"/> held by this process until disposed (.NET takes flock for FileShare.None); waits while another process holds it.</summary>
    private static async Task<FileStream> AcquireFileLockAsync(string path, Action<string>? progress, CancellationToken cancellationToken)
    {
        var said = false;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                if (!said)
                {
                    progress?.Invoke($"sandbox: another spark-eval process is installing the npm tools; waiting for {path}…");
                    said = true;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            }
        }
    }
}
