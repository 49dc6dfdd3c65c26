using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>Hostile programs in three languages: each is contained, classified, leaves no process and changes no file outside.</summary>
public sealed class AdversarialTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>, IDisposable
{
    private readonly string _outside = Path.Combine(Path.GetTempPath(), $"spark-outside-{Guid.NewGuid():N}");
    private readonly string _secret = $"secret-{Guid.NewGuid():N}";

    private string SecretFile => Path.Combine(_outside, "secret.txt");

    private void Prepare()
    {
        SandboxFixture.RequireIsolation();
        Directory.CreateDirectory(_outside);
        File.WriteAllText(SecretFile, _secret);
    }

    private static readonly SandboxLimits MemoryBomb = TestSupport.Tight with { CpuSeconds = 6, WallSeconds = 20, MemoryBytes = 128L << 20 };

    private Task<ExecutionResult> Hostile(string language, string source, params ExecutionOutcome[] allowed) => Hostile(language, source, TestSupport.Tight, allowed);

    private async Task<ExecutionResult> Hostile(string language, string source, SandboxLimits limits, params ExecutionOutcome[] allowed)
    {
        Prepare();
        var before = Snapshot();
        var result = await fixture.RunAsync(language, source, limits);
        Assert.True(allowed.Contains(result.Outcome), $"{language}: {result.Outcome} not in [{string.Join(", ", allowed)}]: {result.Detail}");
        Assert.Equal(before, Snapshot());
        Assert.DoesNotContain(_secret, (result.Run?.Stdout ?? "") + (result.Run?.Stderr ?? ""), StringComparison.Ordinal);
        return result;
    }

    private string Snapshot() => string.Join("|", Directory.EnumerateFiles(_outside).Order(StringComparer.Ordinal).Select(f => f + "=" + File.ReadAllText(f)));

    [Fact]
    public Task Python_ForkBomb_IsContained() => Hostile("python", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        ExecutionOutcome.Timeout, ExecutionOutcome.SandboxViolation, ExecutionOutcome.MemoryLimit, ExecutionOutcome.RuntimeError);

    [Fact]
    public Task Python_InfiniteLoop_IsTimeout() => Hostile("python", "while True:\n    pass\n", ExecutionOutcome.Timeout);

    [Fact]
    public Task Python_MemoryBomb_IsMemoryLimit() => Hostile("python", "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n", MemoryBomb, ExecutionOutcome.MemoryLimit);

    [Fact]
    public Task Python_DiskFill_IsStoppedByFileSizeLimit() => Hostile("python", "with open('fill.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 1048576)\n", ExecutionOutcome.SandboxViolation);

    [Fact]
    public Task Python_NetworkConnect_IsBlocked() => Hostile("python", "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)\n", ExecutionOutcome.SandboxViolation);

    [Fact]
    public async Task Python_ReadSecretFileOutside_FindsNothing()
    {
        var result = await Hostile("python", $"print(open('{SecretFile}').read())\n", ExecutionOutcome.RuntimeError);
        Assert.Contains("FileNotFoundError", result.Run!.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_ReadEnvironmentSecrets_SeesCleanEnvironment()
    {
        Environment.SetEnvironmentVariable("SPARK_TEST_SECRET", _secret);
        var result = await Hostile("python", "import os\nprint(sorted(os.environ.items()))\n", ExecutionOutcome.Passed);
        Assert.DoesNotContain("SPARK_TEST_SECRET", result.Run!.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_KillParent_HarnessSurvives()
    {
        await Hostile("python", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\n", ExecutionOutcome.Passed, ExecutionOutcome.RuntimeError);
        var probe = await fixture.RunAsync("python", "assert True\n");
        Assert.Equal(ExecutionOutcome.Passed, probe.Outcome);
    }

    [Fact]
    public async Task Python_HugeOutput_IsOutputLimitWithFirstBytesKept()
    {
        var result = await Hostile("python", "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n", ExecutionOutcome.OutputLimit);
        Assert.Equal(TestSupport.Tight.OutputKeepBytes, result.Run!.Stdout.TakeWhile(c => c == 'y').Count());
        Assert.True(result.Run.OutputBytes > TestSupport.Tight.OutputKillBytes);
    }

    [Fact]
    public async Task Python_SleepPastTimeout_IsWallClockTimeout()
    {
        var result = await Hostile("python", "import time\ntime.sleep(600)\n", ExecutionOutcome.Timeout);
        Assert.Contains("wall-clock", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public Task Python_IgnoreSigterm_IsStillStopped() => Hostile("python", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n", ExecutionOutcome.Timeout);

    [Fact]
    public async Task Python_OrphanedChildren_AreKilled()
    {
        var marker = "9" + Random.Shared.Next(100000, 999999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await Hostile("python", $"import subprocess\nsubprocess.Popen(['sleep', '{marker}'], start_new_session=True)\nsubprocess.Popen(['sh', '-c', 'sleep {marker}; echo'])\n", ExecutionOutcome.Passed);
        Assert.False(SandboxFixture.ProcessWithMarkerAlive("sleep " + marker), "an orphaned child survived the attempt");
    }

    [Fact]
    public Task Python_WriteOutside_ChangesNothing() => Hostile("python", $"open('{SecretFile}', 'w').write('pwned')\n", ExecutionOutcome.RuntimeError, ExecutionOutcome.SandboxViolation);

    [Fact]
    public Task Python_WriteSystemFolder_IsBlocked() => Hostile("python", "open('/usr/pwned', 'w').write('x')\n", ExecutionOutcome.SandboxViolation, ExecutionOutcome.RuntimeError);

    [Fact]
    public async Task Python_ReadStdin_GetsEndOfFileNotAHang()
    {
        var result = await Hostile("python", "input()\n", ExecutionOutcome.RuntimeError);
        Assert.Contains("EOFError", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public Task JavaScript_InfiniteLoop_IsTimeout() => Hostile("javascript", "for (;;) {}\n", ExecutionOutcome.Timeout);

    [Fact]
    public Task JavaScript_MemoryBomb_IsMemoryLimit() => Hostile("javascript", "const a = []; for (;;) { a.push(new Array(1e6).fill(1)); }\n", MemoryBomb, ExecutionOutcome.MemoryLimit);

    [Fact]
    public Task JavaScript_NetworkConnect_IsBlocked() => Hostile("javascript",
        "const net = require('node:net'); const s = net.connect(80, '1.1.1.1'); s.on('error', e => { console.error(e.code); process.exit(1); });\n",
        ExecutionOutcome.SandboxViolation);

    [Fact]
    public Task JavaScript_HugeOutput_IsOutputLimit() => Hostile("javascript", "const s = 'z'.repeat(65536); for (;;) { process.stdout.write(s); }\n", ExecutionOutcome.OutputLimit, ExecutionOutcome.Timeout);

    [Fact]
    public async Task TypeScript_InfiniteLoop_IsTimeout()
    {
        await SandboxFixture.RequireNodeToolsAsync();
        await Hostile("typescript", "let n: number = 0;\nwhile (n >= 0) { n = (n + 1) % 10; }\n", ExecutionOutcome.Timeout);
    }

    [Fact]
    public Task CSharp_InfiniteLoop_IsTimeout() => Hostile("csharp", "class P { static void Main() { while (true) { } } }", ExecutionOutcome.Timeout);

    [Fact]
    public Task CSharp_MemoryBomb_IsMemoryLimit() => Hostile("csharp",
        "class P { static void Main() { var l = new System.Collections.Generic.List<byte[]>(); while (true) { var b = new byte[16 << 20]; System.Array.Fill(b, (byte)1); l.Add(b); } } }",
        MemoryBomb, ExecutionOutcome.MemoryLimit);

    [Fact]
    public Task CSharp_KillWorker_IsRuntimeError() => Hostile("csharp", "class P { static void Main() { System.Diagnostics.Process.GetCurrentProcess().Kill(); } }", ExecutionOutcome.RuntimeError);

    [Fact]
    public Task CSharp_HugeOutput_IsOutputLimit() => Hostile("csharp", "class P { static void Main() { var s = new string('c', 65536); while (true) System.Console.Write(s); } }", ExecutionOutcome.OutputLimit);

    [Fact]
    public Task CSharp_WriteOutside_ChangesNothing() => Hostile("csharp",
        $"class P {{ static void Main() {{ System.IO.File.WriteAllText(\"{SecretFile}\", \"pwned\"); }} }}", ExecutionOutcome.RuntimeError, ExecutionOutcome.SandboxViolation);

    [Fact]
    public async Task CSharp_PassingProgramLeavingChild_ChildIsKilled()
    {
        var marker = "8" + Random.Shared.Next(100000, 999999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await Hostile("csharp", $"class P {{ static void Main() {{ System.Diagnostics.Process.Start(\"/bin/sleep\", \"{marker}\"); }} }}", ExecutionOutcome.Passed);
        Assert.False(SandboxFixture.ProcessWithMarkerAlive("sleep " + marker), "a child of a passing C# program survived the attempt");
    }

    [Fact]
    public Task CSharp_SpawnProcesses_IsContained() => Hostile("csharp",
        "class P { static void Main() { for (int i = 0; i < 200; i++) System.Diagnostics.Process.Start(\"/bin/sleep\", \"987123\"); } }",
        ExecutionOutcome.RuntimeError, ExecutionOutcome.SandboxViolation, ExecutionOutcome.Passed);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("SPARK_TEST_SECRET", null);
        if (Directory.Exists(_outside))
        {
            Directory.Delete(_outside, true);
        }
    }
}
