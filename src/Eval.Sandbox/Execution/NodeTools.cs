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
            var root = Path.Combine(CacheRoot, "node-tools", hash);
            var marker = Path.Combine(root, ".installed");
            if (!File.Exists(marker))
            {
                var npm = SandboxEnvironment.Which("npm")
                    ?? throw new ToolMissingException("npm was not found on PATH. Fix: install Node.js 20 or later with npm (apt-get install nodejs npm)");
                Directory.CreateDirectory(root);
                File.Copy(Path.Combine(ManifestFolder, "package.json"), Path.Combine(root, "package.json"), true);
                File.Copy(lockFile, Path.Combine(root, "package-lock.json"), true);
                progress?.Invoke($"sandbox: installing locked TypeScript and Jest into {root} (npm ci, first use only)…");
                var info = new ProcessStartInfo(npm) { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
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
                    throw new ToolMissingException($"npm ci failed in {root}: {(await stderr).Trim()}. Fix: check network access to the npm registry, then retry");
                }

                await File.WriteAllTextAsync(marker, hash, cancellationToken);
                progress?.Invoke("sandbox: npm tools installed.");
            }

            s_installed = new NodeTools(root);
            return s_installed;
        }
        finally
        {
            Gate.Release();
        }
    }
}
