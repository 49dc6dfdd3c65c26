using System.Text.Json;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Cli.Tests;

public sealed class ValidateLocalCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-validate-local-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ValidateLocal_TinyModel_MeasuresPredictsAndWritesSection()
    {
        var model = Path.Combine(_dir, "models", "tiny.gguf");
        Directory.CreateDirectory(Path.GetDirectoryName(model)!);
        var page = Path.Combine(_dir, "validation.md");
        await File.WriteAllTextAsync(page, "# Simulator validation\n\n| published | table |\n", TestContext.Current.CancellationToken);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var exit = await SparkEvalCli.RunAsync(
            ["simulate", "validate-local", "--model", model, "--threads", "1", "--prompt-tokens", "16", "--decode-tokens", "4", "--warmup", "0", "--repeats", "1", "--json", "--write", page],
            stdout, stderr, TestContext.Current.CancellationToken);

        Assert.True(exit == 0, stderr.ToString());
        Assert.True(File.Exists(model), "the tiny model is generated when missing");
        using var doc = JsonDocument.Parse(stdout.ToString());
        Assert.StartsWith("cpu-local", doc.RootElement.GetProperty("hardware").GetString(), StringComparison.Ordinal);
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(["ttft_ms", "decode_tok_s"], rows.Select(r => r.GetProperty("metric").GetString()));
        foreach (var row in rows)
        {
            Assert.Equal("spark-tiny", row.GetProperty("modelProfile").GetString());
            Assert.True(row.GetProperty("measured").GetDouble() > 0);
            Assert.True(row.GetProperty("predicted").GetDouble() > 0);
            Assert.True(double.IsFinite(row.GetProperty("error").GetDouble()));
        }

        var written = await File.ReadAllTextAsync(page, TestContext.Current.CancellationToken);
        Assert.StartsWith("# Simulator validation\n\n| published | table |\n", written, StringComparison.Ordinal);
        Assert.Contains("## Local CPU validation", written, StringComparison.Ordinal);
        Assert.Contains("| tiny.gguf | spark-tiny | bf16 | cpu-local", written, StringComparison.Ordinal);
    }

    [Fact]
    public void UpsertSection_ExistingSection_ReplacedAndRestKept()
    {
        var old = $"head\n\n{LocalValidation.SectionBegin}\nold rows\n{LocalValidation.SectionEnd}\ntail\n";
        var updated = LocalValidation.UpsertSection(old, $"{LocalValidation.SectionBegin}\nnew rows\n{LocalValidation.SectionEnd}\n");

        Assert.Equal($"head\n\n{LocalValidation.SectionBegin}\nnew rows\n{LocalValidation.SectionEnd}\ntail\n", updated);
        Assert.Equal($"{LocalValidation.SectionBegin}\nnew rows\n{LocalValidation.SectionEnd}\n", LocalValidation.ExtractSection(updated));
    }
}
