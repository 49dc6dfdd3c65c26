using System.Globalization;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>
/// A secret in the harness's environment (an API key in CI) must not reach graded code by any route: every executor's program
/// reads every /proc/*/environ and /proc/*/cmdline it can see, and the host side checks every process of every sandbox.
/// Before the fix, bubblewrap (pid 1 inside) inherited the harness's whole environment (--clearenv cleared only the child's).
/// </summary>
public sealed class SecretEnvironmentTests : IDisposable
{
    private const string Name = "SPARK_PLANTED_SECRET_KEY";
    private readonly string _secret = "sk-" + Guid.NewGuid().ToString("N");

    public SecretEnvironmentTests() => Environment.SetEnvironmentVariable(Name, _secret);

    public void Dispose() => Environment.SetEnvironmentVariable(Name, null);

    // Each program prints every environ/cmdline entry that mentions the planted variable's name, and how many files it read.
    private const string PythonProbe = """
        import os
        seen = 0
        for pid in os.listdir('/proc'):
            if not pid.isdigit() and pid not in ('self', 'thread-self'):
                continue
            for part in ('environ', 'cmdline'):
                try:
                    data = open('/proc/%s/%s' % (pid, part), 'rb').read()
                except OSError:
                    continue
                seen += 1
                for item in data.split(b'\0'):
                    if b'SPARK_PLANTED' in item:
                        print('LEAK', pid, part, item.decode('utf-8', 'replace'))
        print('read', seen)
        """;

    private const string NodeProbe = """
        const fs = require('fs');
        let seen = 0;
        for (const pid of fs.readdirSync('/proc')) {
          if (!/^\d+$/.test(pid) && pid !== 'self') continue;
          for (const part of ['environ', 'cmdline']) {
            let data;
            try { data = fs.readFileSync(`/proc/${pid}/${part}`); } catch { continue; }
            seen++;
            for (const item of data.toString('utf8').split('\0')) if (item.includes('SPARK_PLANTED')) console.log('LEAK', pid, part, item);
          }
        }
        console.log('read', seen);
        """;

    private const string CSharpProbe = """
        using System; using System.IO;
        class P { static void Main() {
          int seen = 0;
          foreach (var dir in Directory.GetDirectories("/proc")) {
            var pid = Path.GetFileName(dir);
            if (!int.TryParse(pid, out _) && pid != "self") continue;
            foreach (var part in new[] { "environ", "cmdline" }) {
              string data;
              try { data = File.ReadAllText(Path.Combine(dir, part)); } catch (Exception) { continue; }
              seen++;
              foreach (var item in data.Split('\0')) if (item.Contains("SPARK_PLANTED")) Console.WriteLine("LEAK " + pid + " " + part + " " + item);
            }
          }
          Console.WriteLine("read " + seen);
        } }
        """;

    private async Task Probe(SandboxEnvironment environment, string language, string source)
    {
        SandboxFixture.RequireIsolation();
        // A fresh sandbox: its pooled helpers start now, after the secret was planted.
        using var sandbox = new CodeSandbox(new SandboxOptions { Limits = TestSupport.Tight with { CpuSeconds = 3, WallSeconds = 20 } }, TimeProvider.System, environment: environment);
        var result = await sandbox.ExecuteAsync(new ProgramRequest { Language = language, Source = source, Limits = TestSupport.Tight with { CpuSeconds = 3, WallSeconds = 20 } },
            TestContext.Current.CancellationToken);
        var output = (result.Run?.Stdout ?? "") + (result.Run?.Stderr ?? "");
        Assert.True(result.Outcome == ExecutionOutcome.Passed, $"{language}: {result.Outcome} {result.Detail} {output}");
        Assert.Contains("read ", output, StringComparison.Ordinal);
        Assert.DoesNotContain(_secret, output, StringComparison.Ordinal);
        Assert.DoesNotContain("LEAK", output, StringComparison.Ordinal);
        AssertNoSandboxProcessHoldsSecret();
    }

    /// <summary>From the host: no process below this test process that runs a sandbox (the shell, bubblewrap, prlimit, the program) carries the secret.</summary>
    private void AssertNoSandboxProcessHoldsSecret()
    {
        var me = Environment.ProcessId;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == me || !DescendsFrom(pid, me))
            {
                continue;
            }

            string environ;
            try
            {
                environ = File.ReadAllText(Path.Combine(dir, "environ")) + File.ReadAllText(Path.Combine(dir, "cmdline"));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            var cmdline = File.Exists(Path.Combine(dir, "cmdline")) ? SafeRead(Path.Combine(dir, "cmdline")).Replace('\0', ' ') : "";
            Assert.False(environ.Contains(_secret, StringComparison.Ordinal), $"pid {pid} ({cmdline}) holds the planted secret");
        }
    }

    private static bool DescendsFrom(int pid, int ancestor)
    {
        for (var i = 0; i < 64 && pid > 1; i++)
        {
            var stat = SafeRead($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var close = stat.LastIndexOf(')');
            if (close < 0)
            {
                return false;
            }

            var fields = stat[(close + 2)..].Split(' ');
            if (fields.Length < 2 || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent))
            {
                return false;
            }

            if (parent == ancestor)
            {
                return true;
            }

            pid = parent;
        }

        return false;
    }

    private static string SafeRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    [Fact]
    public Task PythonForkServer_ReadsEveryProcEnvironAndCmdline_SeesNoSecret()
    {
        Assert.SkipUnless(SandboxEnvironment.Current.CanSwitchUsers, "the fork-server needs root");
        return Probe(SandboxEnvironment.Current, "python", PythonProbe);
    }

    [Fact]
    public Task PythonOneShot_ReadsEveryProcEnvironAndCmdline_SeesNoSecret() => Probe(SandboxEnvironment.Current.WithoutForkServer(), "python", PythonProbe);

    [Fact]
    public Task CSharpWorker_ReadsEveryProcEnvironAndCmdline_SeesNoSecret() => Probe(SandboxEnvironment.Current, "csharp", CSharpProbe);

    [Fact]
    public Task JavaScriptProcess_ReadsEveryProcEnvironAndCmdline_SeesNoSecret() => Probe(SandboxEnvironment.Current, "javascript", NodeProbe);

    [Fact]
    public async Task TypeScriptNodeRunnerAndCompileServer_ReadEveryProcEnvironAndCmdline_SeeNoSecret()
    {
        await SandboxFixture.RequireNodeToolsAsync();
        // Compiled by the pooled compile server, run by the pooled node runner; the host-side check covers the compile server's sandbox.
        await Probe(SandboxEnvironment.Current, "typescript", "declare const require: any;\n" + NodeProbe.Replace("let data;", "let data: any;", StringComparison.Ordinal)
            .Replace("const pid of", "const pid of", StringComparison.Ordinal));
    }
}
