using System.Security.Cryptography;
using Spark.Eval.Backends.Local.Gguf;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Local.Tests;

public sealed class TestModelGeneratorTests
{
    private static byte[] Generate(ulong seed, GgmlType type = GgmlType.F16, TestModelShape? shape = null)
    {
        using var buffer = new MemoryStream();
        TestModelGenerator.Write(buffer, shape ?? TestModelShape.Tiny, type, seed);
        return buffer.ToArray();
    }

    [Fact]
    public void Write_SameSeedTwice_ByteIdentical()
    {
        Assert.Equal(SHA256.HashData(Generate(42)), SHA256.HashData(Generate(42)));
    }

    [Fact]
    public void Write_DifferentSeeds_DifferentBytes()
    {
        Assert.NotEqual(SHA256.HashData(Generate(1)), SHA256.HashData(Generate(2)));
    }

    [Fact]
    public void Write_TinyF16_AboutOneMegabyteWithGgufHeader()
    {
        var bytes = Generate(1);

        Assert.Equal("GGUF"u8.ToArray(), bytes[..4]);
        Assert.Equal(3, BitConverter.ToInt32(bytes, 4));
        Assert.InRange(bytes.Length, 800_000, 1_600_000);
    }

    [Fact]
    public void Parse_ParameterCount_ShapeNearThatCount()
    {
        var shape = TestModelShape.Parse("30M");

        Assert.InRange(shape.ParameterCount, 20_000_000, 40_000_000);
        Assert.Equal(0, shape.Embedding % shape.Heads);
        Assert.Equal(0, shape.FeedForward % 32);
    }

    [Fact]
    public void Parse_Small_AboutOneHundredMillionParameters()
    {
        Assert.InRange(TestModelShape.Small.ParameterCount, 90_000_000, 120_000_000);
    }

    [Fact]
    public void Parse_Garbage_InputExceptionWithFix()
    {
        var ex = Assert.Throws<InputException>(() => TestModelShape.Parse("huge"));

        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.F32)]
    public void Load_GeneratedModelOfType_LlamaCppLoadsIt(GgmlType type)
    {
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-local-tests", Guid.NewGuid().ToString("N"));
        var path = Path.Combine(dir, "m.gguf");
        try
        {
            TestModelGenerator.WriteFile(path, TestModelShape.Tiny, type, 3);
            using var model = LocalModel.Load(path, 1, 256, TimeProvider.System);

            Assert.Equal(TestModelShape.Tiny.ParameterCount, (long)model.Weights.ParameterCount);
            Assert.Equal("3", model.RandomWeightsSeed);
            Assert.Contains("RANDOM weights", model.Describe(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(null, "plain (none in GGUF)")]
    [InlineData("{{ messages | my_custom_filter }}", "plain (GGUF template not supported by llama.cpp)")]
    public void FormatPrompt_NoUsableTemplate_PlainTemplate(string? template, string described)
    {
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-local-tests", Guid.NewGuid().ToString("N"));
        var path = Path.Combine(dir, "m.gguf");
        try
        {
            TestModelGenerator.WriteFile(path, TestModelShape.Tiny, GgmlType.F16, 3, template);
            using var model = LocalModel.Load(path, 1, 256, TimeProvider.System);

            var prompt = model.FormatPrompt([new(Microsoft.Extensions.AI.ChatRole.System, "Be brief."), new(Microsoft.Extensions.AI.ChatRole.User, "Add 1 and 2.")]);

            Assert.Equal("System: Be brief.\nUser: Add 1 and 2.\nAssistant:", prompt);
            Assert.Contains("chat template: " + described, model.Describe(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Load_TruncatedFile_BackendExceptionQuotingLlamaCppLog()
    {
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-local-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "corrupt.gguf");
        try
        {
            var bytes = Generate(5);
            File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

            var ex = Assert.Throws<BackendException>(() => LocalModel.Load(path, 1, 256, TimeProvider.System));

            Assert.Equal("model_load_failed", ex.ErrorClass);
            Assert.Contains("llama.cpp said:", ex.Message, StringComparison.Ordinal);
            // The native reason, not just "failed": llama.cpp reports the short read / bad data.
            Assert.Contains("gguf", ex.Message, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
