using Spark.Eval.Core;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Core.Tests;

public sealed class RoutingPolicyFileTests
{
    private static readonly string[] RunBackends = ["fast", "mid", "deep"];

    private static RouteRequest Request(TaskKind kind = TaskKind.Stub, string language = "python", int promptTokens = 100) =>
        new(new BenchTask { Id = "t", Kind = kind, Language = language, Prompt = "p", HiddenChecks = "c", ReferenceSolution = "r" }, promptTokens);

    private const string Full = """
        formatVersion: 1
        name: fast-then-deep
        start: fast
        rules:
          - name: long
            promptTokensAtLeast: 4000
            backend: deep
          - name: cs-refactor
            kind: [refactor, fix]
            language: csharp
            backend: mid
        escalate:
          - from: fast
            to: mid
            on: [failed_grade]
          - from: fast
            to: deep
            on: first_token_timeout
          - from: mid
            to: deep
            on: [failed_grade, first_token_timeout]
        firstTokenTimeoutMs:
          fast: 800
          mid: 2000
        """;

    [Fact]
    public void Parse_FullPolicy_RoutesByRuleOrderSizeKindAndLanguage()
    {
        var policy = RoutingPolicyFile.Parse(Full, "p.yaml", RunBackends);

        Assert.Equal("fast-then-deep", policy.Name);
        Assert.Equal(["fast", "deep", "mid"], policy.Backends);
        Assert.Equal(("fast", "start"), policy.Choose(Request()));
        Assert.Equal(("deep", "rule:long"), policy.Choose(Request(promptTokens: 4000)));
        Assert.Equal(("fast", "start"), policy.Choose(Request(promptTokens: 3999)));
        Assert.Equal(("mid", "rule:cs-refactor"), policy.Choose(Request(TaskKind.Fix, "csharp")));
        Assert.Equal(("fast", "start"), policy.Choose(Request(TaskKind.Fix, "python")));
        Assert.Equal(("fast", "start"), policy.Choose(Request(TaskKind.Stub, "csharp")));
        // The first matching rule wins: a long C# refactor goes to 'long'.
        Assert.Equal(("deep", "rule:long"), policy.Choose(Request(TaskKind.Refactor, "csharp", 5000)));
    }

    [Fact]
    public void Parse_FullPolicy_EscalatesPerCauseAndStopsAtTheDeepest()
    {
        var policy = RoutingPolicyFile.Parse(Full, "p.yaml", RunBackends);

        Assert.Equal("mid", policy.Escalate(Request(), "fast", EscalationCause.FailedGrade));
        Assert.Equal("deep", policy.Escalate(Request(), "fast", EscalationCause.FirstTokenTimeout));
        Assert.Equal("deep", policy.Escalate(Request(), "mid", EscalationCause.FailedGrade));
        Assert.Null(policy.Escalate(Request(), "deep", EscalationCause.FailedGrade));
        Assert.Equal(TimeSpan.FromMilliseconds(800), policy.FirstTokenTimeout("fast"));
        Assert.Equal(TimeSpan.FromMilliseconds(2000), policy.FirstTokenTimeout("mid"));
        Assert.Null(policy.FirstTokenTimeout("deep"));
    }

    [Fact]
    public void Parse_OneTimeoutForAll_AppliesToEveryBackend()
    {
        var policy = RoutingPolicyFile.Parse("formatVersion: 1\nname: n\nstart: fast\nfirstTokenTimeoutMs: 1500\n", "p.yaml", RunBackends);

        Assert.Equal(TimeSpan.FromMilliseconds(1500), policy.FirstTokenTimeout("deep"));
        Assert.Equal(("fast", "start"), policy.Choose(Request()));
        Assert.Null(policy.Escalate(Request(), "fast", EscalationCause.FailedGrade));
    }

    [Fact]
    public void Load_CommittedExample_ReadsWithTheExampleBackends()
    {
        var path = Path.Combine(TestPaths.RepoRoot, "hw-profiles", "policies", "fast-then-deep.yaml");

        var policy = RoutingPolicyFile.Load(path, ["wse-fast", "h100-deep"]);

        Assert.Equal("fast-then-deep", policy.Name);
        Assert.Equal(("wse-fast", "start"), policy.Choose(Request()));
        Assert.Equal("h100-deep", policy.Escalate(Request(), "wse-fast", EscalationCause.FailedGrade));
        Assert.Equal(TimeSpan.FromSeconds(1), policy.FirstTokenTimeout("wse-fast"));
    }

    [Theory]
    [InlineData("formatVersion: 1\nname: n\nstart: fsat\n", "p.yaml:3: field 'start': backend 'fsat' is not one of the run's backends (fast, mid, deep)")]
    [InlineData("formatVersion: 1\nname: n\nstart: fast\nrulez: []\n", "p.yaml:4: field 'rulez': unknown key")]
    [InlineData("formatVersion: 2\nname: n\nstart: fast\n", "p.yaml:1: field 'formatVersion': format version 2")]
    [InlineData("formatVersion: 1\nstart: fast\n", "field 'name': missing")]
    [InlineData("formatVersion: 1\nname: n\nstart: fast\nrules:\n  - name: r\n    kind: stubb\n    backend: deep\n", "p.yaml:6: field 'rules[0].kind': unknown task kind 'stubb'")]
    [InlineData("formatVersion: 1\nname: n\nstart: fast\nrules:\n  - name: r\n    language: rust\n    backend: deep\n", "p.yaml:6: field 'rules[0].language': unknown language 'rust'")]
    [InlineData("formatVersion: 1\nname: n\nstart: fast\nrules:\n  - name: r\n    promptTokensAtLeast: many\n    backend: deep\n", "p.yaml:6: field 'rules[0].promptTokensAtLeast': must be a whole number")]
    [InlineData("formatVersion: 1\nname: n\nstart: fast\nescalate:\n  - from: fast\n    to: fast\n    on: [failed_grade]\n", "p.yaml:6: field 'escalate[0].to': escalates 'fast' to itself")]
    [InlineData("formatVersion: 1\nname: n\nstart: fast\nescalate:\n  - from: fast\n    to: deep\n    on: [crash]\n", "p.yaml:7: field 'escalate[0].on': unknown cause 'crash'")]
    [InlineData("formatVersion: 1\nname: n\nstart: fast\nescalate:\n  - from: fast\n    to: deep\n    on: [failed_grade]\n  - from: deep\n    to: fast\n    on: [failed_grade]\n", "p.yaml:9: field 'escalate[1].to': escalating 'deep' to 'fast' closes a loop")]
    [InlineData("formatVersion: 1\nname: n\nstart: fast\nfirstTokenTimeoutMs:\n  slow: 10\n", "p.yaml:5: field 'firstTokenTimeoutMs.slow': backend 'slow'")]
    [InlineData("formatVersion: 1\nname: n\nstart: fast\nfirstTokenTimeoutMs: 0\n", "p.yaml:4: field 'firstTokenTimeoutMs': must be above 0 ms")]
    [InlineData("formatVersion: 1\nname: [n\n", "p.yaml:3: not valid YAML")]
    [InlineData("- just\n- a list\n", "p.yaml:1: a routing policy is a set of 'key: value' lines")]
    public void Parse_BadInput_NamesFileLineFieldAndFix(string text, string expected)
    {
        var error = Assert.Throws<InputException>(() => RoutingPolicyFile.Parse(text, "p.yaml", RunBackends));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains("Fix: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_IsInputError()
    {
        var error = Assert.Throws<InputException>(() => RoutingPolicyFile.Load(Path.Combine(Path.GetTempPath(), "no-such-policy-" + Guid.NewGuid() + ".yaml"), RunBackends));

        Assert.Contains("cannot read the routing policy", error.Message, StringComparison.Ordinal);
    }
}
