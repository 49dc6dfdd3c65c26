
namespace Spark.Eval.Cli.Tests;

public sealed class LocalCommandsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "spark-eval-local-tests", Guid.NewGuid().ToString("N"));

    private static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await SparkEvalCli.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task ModelsGenerate_SameSeedTwice_IdenticalFilesAndSaysRandom()
    {
        var a = Path.Combine(_dir, "a.gguf");
        var b = Path.Combine(_dir, "b.gguf");

        var first = await RunAsync("models", "generate", "--size", "tiny", "--type", "q8_0", "--seed", "9", "--out", a);
        var second = await RunAsync("models", "generate", "--size", "tiny", "--type", "q8_0", "--seed", "9", "--out", b);

        Assert.True(first.Exit == 0, first.Err);
        Assert.Equal(0, second.Exit);
        Assert.Contains("random weights", first.Out, StringComparison.Ordinal);
        Assert.Equal(await File.ReadAllBytesAsync(a, TestContext.Current.CancellationToken), await File.ReadAllBytesAsync(b, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task BenchLocal_TinyModel_WritesRunDirectoryThatSummarizeReads()
    {
        var model = Path.Combine(_dir, "m.gguf");
        var outDir = Path.Combine(_dir, "bench");
        Assert.Equal(0, (await RunAsync("models", "generate", "--size", "tiny", "--out", model)).Exit);

        var (exit, stdout, stderr) = await RunAsync("bench-local", "--model", model, "--prompt-tokens", "20", "--threads", "1",
            "--decode-tokens", "5", "--warmup", "1", "--repeats", "2", "--out", outDir);

        Assert.True(exit == 0, stderr);
        Assert.Contains("decode ratio harness/bare", stdout, StringComparison.Ordinal);
        foreach (var file in new[] { "bench-local.json", "manifest.json", "attempts.jsonl", "summary.json" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, file)), file);
        }

        Assert.Equal(3, File.ReadLines(Path.Combine(outDir, "attempts.jsonl")).Count());
        var summarize = await RunAsync("summarize", outDir);
        Assert.True(summarize.Exit == 0, summarize.Err);
    }

    [Theory]
    [InlineData("models generate --type q4 --out x.gguf", "unknown tensor type")]
    [InlineData("models generate --size enormous --out x.gguf", "--size 'enormous'")]
    [InlineData("bench-local --threads two --model x.gguf", "--threads 'two'")]
    [InlineData("bench-local --repeats 0 --model x.gguf", "--repeats 0: out of range")]
    public async Task Command_BadInput_Exit2WithFix(string args, string message)
    {
        var (exit, _, stderr) = await RunAsync(args.Split(' '));

        Assert.Equal(2, exit);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
