using System.Text;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Tests;

public class ProfileCatalogTests
{
    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void LoadEmbedded_HoldsEveryRequiredProfile_WithSources()
    {
        var catalog = ProfileCatalog.LoadEmbedded();
        foreach (var id in new[] { "h100-sxm", "h200", "b200", "a100-80gb", "l4", "mi300x", "wse-3", "groq-lpu", "apple-m2-ultra", "apple-m2-ultra-llamacpp2023", "cpu-local" })
        {
            var h = catalog.GetHardware(id);
            Assert.NotEmpty(h.Sources);
        }

        foreach (var id in new[] { "llama-3.1-8b", "llama-3.1-70b", "qwen2.5-coder-7b", "qwen2.5-coder-32b", "gpt-oss-20b", "gpt-oss-120b", "spark-tiny", "spark-small" })
        {
            Assert.NotEmpty(catalog.GetModel(id).Sources);
        }

        Assert.True(catalog.GetModel("gpt-oss-120b").IsMixtureOfExperts);
        // The model card's 5.13 B active parameters plus the 0.579 B input embedding the catalog counts in (a lookup the model takes out).
        Assert.Equal(5.71, catalog.GetModel("gpt-oss-120b").ActiveParametersB);
    }

    [Fact]
    public void Load_RepositoryFolder_MatchesEmbeddedCopies()
    {
        var dir = Path.Combine(RepoRoot, ProfileCatalog.DirectoryName);
        var fromDisk = ProfileCatalog.Load(dir);
        var embedded = ProfileCatalog.LoadEmbedded();
        Assert.Equal(embedded.Hardware.Select(h => h.Id), fromDisk.Hardware.Select(h => h.Id));
        Assert.Equal(embedded.Models.Select(m => m.Id), fromDisk.Models.Select(m => m.Id));
    }

    [Fact]
    public void ParseHardware_FigureWithoutSource_NamesFileFieldAndFix()
    {
        const string json = """{"formatVersion":1,"hardware":[{"id":"x","name":"X","family":"f","memoryGB":80,"memoryBandwidthGBps":3000,"peakTflops":{"bf16":900},"sources":[]}]}""";
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseHardware("hw.json", Utf8(json)));
        Assert.Contains("hw.json", ex.Message, StringComparison.Ordinal);
        Assert.Contains("hardware[0] ('x').memoryGB", ex.Message, StringComparison.Ordinal);
        Assert.Contains("has no source", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"inProcessRequestOverheadMs\":4.1", "inProcessRequestOverheadMs")]
    [InlineData("\"kvReadPerQueryHead\":true", "kvReadPerQueryHead")]
    public void ParseHardware_ServingStackFigureWithoutSource_Rejected(string figure, string field)
    {
        var sources = string.Join(',', new[] { "memoryGB", "memoryBandwidthGBps", "peakTflops", "computeEfficiency", "bandwidthEfficiency" }.Select(f => $$"""{"field":"{{f}}","url":"u","quote":"q"}"""));
        var json = $$"""{"formatVersion":1,"hardware":[{"id":"x","name":"X","family":"f","memoryGB":80,"memoryBandwidthGBps":3000,"peakTflops":{"bf16":900},{{figure}},"sources":[{{sources}}]}]}""";
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseHardware("hw.json", Utf8(json)));
        Assert.Contains($"hardware[0] ('x').{field}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("has no source", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseHardware_NegativeBandwidth_Rejected()
    {
        const string json = """{"formatVersion":1,"hardware":[{"id":"x","name":"X","family":"f","memoryGB":80,"memoryBandwidthGBps":-1,"peakTflops":{"bf16":900}}]}""";
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseHardware("hw.json", Utf8(json)));
        Assert.Contains("memoryBandwidthGBps", ex.Message, StringComparison.Ordinal);
        Assert.Contains("must be > 0", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseHardware_MalformedJson_ReportsLine()
    {
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseHardware("hw.json", Utf8("{\"formatVersion\": 1,\n\"hardware\": [ {\"id\": }\n]}")));
        Assert.StartsWith("hw.json:2:", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseHardware_UnknownField_Rejected()
    {
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseHardware("hw.json", Utf8("""{"formatVersion":1,"hardware":[{"id":"x","name":"X","family":"f","memoryGBs":80}]}""")));
        Assert.Contains("memoryGBs", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseModels_WrongFormatVersion_Rejected()
    {
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseModels("m.json", Utf8("""{"formatVersion":7,"models":[]}""")));
        Assert.Contains("formatVersion", ex.Message, StringComparison.Ordinal);
        Assert.Contains("this build reads 1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseModels_MoeWithoutExpertsPerToken_Rejected()
    {
        const string json = """{"formatVersion":1,"models":[{"id":"m","name":"M","parametersB":10,"activeParametersB":2,"layers":4,"hiddenSize":64,"kvHeads":1,"headDim":64,"experts":8,"capability":0.5}]}""";
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseModels("m.json", Utf8(json)));
        Assert.Contains("expertsPerToken", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetHardware_UnknownId_ListsKnownIds()
    {
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.LoadEmbedded().GetHardware("h999"));
        Assert.Contains("h100-sxm", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    internal static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Eval.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Eval.sln not found");
        }
    }
}
