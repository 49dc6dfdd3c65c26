using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Sandbox.Execution;
using Spark.Eval.Sandbox.Grading;
using Spark.Eval.Simulator.Backend;

namespace Spark.Eval.Cli.Tests;

public class JudgeTests
{
    [Theory]
    [InlineData("{\"verdict\": \"pass\", \"reason\": \"ok\"}", true, "ok")]
    [InlineData("  {\"verdict\":\"FAIL\",\"reason\":\"misses the date filter\"}\n", false, "misses the date filter")]
    [InlineData("```json\n{\"verdict\": \"fail\", \"reason\": \"wrong\"}\n```", false, "wrong")]
    [InlineData("Here is my verdict:\n```\n{\"verdict\": \"pass\"}\n```\nThanks.", true, null)]
    [InlineData("After reading it: {\"verdict\": \"pass\", \"reason\": \"a {brace} in a string\"} — done", true, "a {brace} in a string")]
    [InlineData("<think>maybe {\"verdict\": \"fail\"}?</think>{\"verdict\": \"pass\", \"reason\": \"r\"}", true, "r")]
    [InlineData("{\"pass\": false, \"reason\": \"short\"}", false, "short")]
    [InlineData("{\"Verdict\": \"passed\",}", true, null)]
    public void Parse_AcceptedShapes_GiveVerdict(string reply, bool pass, string? reason)
    {
        var parsed = JudgeVerdictParser.Parse(reply);
        Assert.True(parsed.Ok, parsed.Error);
        Assert.Equal(pass, parsed.Verdict!.Pass);
        Assert.Equal(reason, parsed.Verdict.Reason);
    }

    [Theory]
    [InlineData("", JudgeVerdictParser.Unparsable)]
    [InlineData("The answer is correct.", JudgeVerdictParser.Unparsable)]
    [InlineData("{\"verdict\": \"pass\"", JudgeVerdictParser.Unparsable)]
    [InlineData("[\"pass\"]", JudgeVerdictParser.Unparsable)]
    [InlineData("{\"verdict\": \"maybe\"}", JudgeVerdictParser.BadVerdict)]
    [InlineData("{\"score\": 0.9}", JudgeVerdictParser.BadVerdict)]
    [InlineData("<think>{\"verdict\": \"pass\"}", JudgeVerdictParser.Unparsable)]
    public void Parse_NoVerdict_ClassifiedFailureNeverPass(string reply, string errorClass)
    {
        var parsed = JudgeVerdictParser.Parse(reply);
        Assert.False(parsed.Ok);
        Assert.Equal(errorClass, parsed.ErrorClass);
    }

    public static TheoryData<bool, string, ExecutionOutcome> CombineCases() => new()
    {
        // rubric passes, judge verdict → outcome
        { true, "pass", ExecutionOutcome.Passed },
        { true, "fail", ExecutionOutcome.WrongAnswer },
        { true, "failed-judge", ExecutionOutcome.HarnessError },
        { false, "pass", ExecutionOutcome.WrongAnswer },
        { false, "fail", ExecutionOutcome.WrongAnswer },
        { false, "failed-judge", ExecutionOutcome.WrongAnswer },
    };

    [Theory]
    [MemberData(nameof(CombineCases))]
    public void Combine_RubricAndJudge_PassOnlyWhenBothPass(bool rubricPasses, string judge, ExecutionOutcome expected)
    {
        var rubric = new TaskGrade { Outcome = rubricPasses ? ExecutionOutcome.Passed : ExecutionOutcome.WrongAnswer, Detail = rubricPasses ? "20 words, 2 concepts" : "missing concept: x", Isolation = "not executed (rubric)" };
        var result = judge switch
        {
            "pass" => new JudgeResult { Verdict = new JudgeVerdict(true, "fine", false), Tries = 1 },
            "fail" => new JudgeResult { Verdict = new JudgeVerdict(false, "claims it sorts ascending", false), Tries = 1 },
            _ => new JudgeResult { ErrorClass = JudgeVerdictParser.Unparsable, Error = "no JSON object in the reply", Tries = 2 },
        };

        var combined = JudgeGrader.Combine(rubric, result);

        Assert.Equal(expected, combined.Outcome);
        Assert.Equal(rubricPasses && judge == "pass", combined.Passed);
        if (rubricPasses && judge == "fail")
        {
            Assert.Equal("judge: claims it sorts ascending", combined.Detail);
        }

        if (rubricPasses && judge == "failed-judge")
        {
            Assert.StartsWith("judge failed (judge_unparsable)", combined.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task JudgeAsync_SimulatedHwSimJudge_AppliesRubricAndLabelsVerdictSimulated()
    {
        var task = ExplainTask();
        using var client = await HwSimAsync("llama-3.1-70b");
        var judge = new JudgeGrader(new JudgeSetup { Client = client, Spec = "hwsim", Name = "judge", Kind = "hwsim", Simulated = true }, TimeProvider.System);

        var results = new List<(bool RubricPass, JudgeResult Result)>();
        foreach (var answer in new[] { task.ReferenceSolution }.Concat(task.Mutants))
        {
            for (var seed = 0; seed < 20; seed++)
            {
                results.Add((RubricGrader.Grade(task, answer).Passed, await judge.JudgeAsync(task, answer, seed, TestContext.Current.CancellationToken)));
            }
        }

        Assert.All(results, r => Assert.True(r.Result.Ok, r.Result.Error));
        Assert.All(results, r => Assert.True(r.Result.Verdict!.Simulated));
        Assert.All(results, r => Assert.Equal(1, r.Result.Tries));
        Assert.All(results, r => Assert.True(r.Result.OutputTokens > 0));
        Assert.All(results, r => Assert.StartsWith("SIMULATED judge", r.Result.Verdict!.Reason, StringComparison.Ordinal));
        // Capability 0.805: it disagrees with the rubric with probability 0.0975, so mostly agrees, and not always.
        var agree = results.Count(r => r.Result.Verdict!.Pass == r.RubricPass);
        Assert.InRange(agree, results.Count * 3 / 4, results.Count - 1);
        Assert.Contains(results, r => r.RubricPass && r.Result.Verdict!.Pass);
        Assert.Contains(results, r => !r.RubricPass && !r.Result.Verdict!.Pass);
    }

    [Fact]
    public async Task JudgeAsync_BackendThatAnswersProse_UnparsableAfterOneRetry()
    {
        // The constant-rate sim echoes the prompt: a judge reply with no JSON verdict.
        using var echo = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 0, 1_000_000, "echo");
        var judge = new JudgeGrader(new JudgeSetup { Client = echo, Spec = "sim", Name = "echo", Kind = "sim", Simulated = true, MaxOutputTokens = 30 }, TimeProvider.System);

        var result = await judge.JudgeAsync(ExplainTask(), "It returns the top five customers.", 1, TestContext.Current.CancellationToken);

        Assert.False(result.Ok);
        Assert.Equal(JudgeVerdictParser.Unparsable, result.ErrorClass);
        Assert.Equal(JudgeGrader.MaxTries, result.Tries);
        Assert.StartsWith("Simulated answer", result.RawReply, StringComparison.Ordinal);
        var rubric = RubricGrader.Grade(ExplainTask(), "x");
        var grade = judge.Annotate(JudgeGrader.Combine(rubric, result).ToAttemptGrade(), rubric, result);
        Assert.Equal("failed", grade.Judge!.Status);
        Assert.Equal(JudgeVerdictParser.Unparsable, grade.Judge.ErrorClass);
    }

    [Theory]
    [InlineData(1.0, 0)]
    [InlineData(0.0, 0.5)]
    [InlineData(0.6, 0.2)]
    public void SimulatedJudge_DisagreementRate_FollowsCapability(double capability, double expected)
    {
        var task = ExplainTask();
        var prompt = JudgePrompt.Build(task, task.ReferenceSolution);
        var disagreements = 0;
        const int Draws = 400;
        for (var seed = 0; seed < Draws; seed++)
        {
            Assert.True(SimulatedJudge.TryAnswer(prompt, capability, seed, "m", out var reply));
            var verdict = JudgeVerdictParser.Parse(reply);
            Assert.True(verdict.Ok);
            disagreements += verdict.Verdict!.Pass ? 0 : 1;
        }

        Assert.Equal(expected, SimulatedJudge.DisagreementProbability(capability), 6);
        // 400 seeded draws: within ±0.075 of the expected rate (over 3 standard deviations at p = 0.5).
        Assert.InRange((double)disagreements / Draws, expected - 0.075, expected + 0.075);
    }

    [Fact]
    public void SimulatedJudge_OrdinaryPrompt_NotAJudgeRequest()
    {
        var task = ExplainTask();
        Assert.False(SimulatedJudge.TryAnswer(PromptBuilder.Build(task), 0.9, 1, "m", out _));
    }

    [Fact]
    public void JudgePrompt_Input_CarriesTaskCodeRubricReferenceAndAnswer()
    {
        var task = ExplainTask();
        var messages = JudgePrompt.Build(task, "An answer with \"quotes\" and ``` fences");
        Assert.Equal(JudgePrompt.Instructions, messages[0].Text);
        var text = messages[1].Text;
        var json = JsonNode.Parse(text[(text.IndexOf("```json\n", StringComparison.Ordinal) + 8)..text.LastIndexOf("\n```", StringComparison.Ordinal)])!.AsObject();
        Assert.Equal(JudgePrompt.Version, json["judgePrompt"]!.GetValue<string>());
        Assert.Equal(task.Prompt, json["task"]!.GetValue<string>());
        Assert.Equal(task.ContextFiles[0].Content, json["code"]![0]!["content"]!.GetValue<string>());
        Assert.Equal(task.Rubric!.MaxWords, json["rubric"]!["maxWords"]!.GetValue<int>());
        Assert.Equal(task.Rubric.RequiredConcepts.Count, json["rubric"]!["requiredConcepts"]!.AsArray().Count);
        Assert.Equal(task.ReferenceSolution, json["reference"]!.GetValue<string>());
        Assert.Equal("An answer with \"quotes\" and ``` fences", json["answer"]!.GetValue<string>());
    }

    internal static BenchTask ExplainTask() => new()
    {
        Id = "cs-explain-top",
        Kind = TaskKind.Explain,
        Language = "csharp",
        Prompt = "In two sentences, explain what `TopCustomers` returns.",
        ContextFiles = [new ContextFile("Reports.cs", "orders.Where(o => o.PlacedAt >= since).GroupBy(o => o.CustomerId).Select(g => (g.Key, g.Sum(o => o.Amount))).OrderByDescending(x => x.Item2).Take(5);")],
        HiddenChecks = "",
        Rubric = new ExplanationRubric
        {
            MaxWords = 60,
            RequiredConcepts = [new RubricConcept("top five", ["top five", "top 5", "five customers"]), new RubricConcept("total", ["total", "sum"])],
            WrongClaims = ["ascending", "number of orders"],
        },
        ReferenceSolution = "It sums each customer's orders since the date and returns the top five customers by that total, largest first.",
        Mutants = ["It returns the first five orders placed since the given date.", "It returns the top 5 customers by total spent, sorted ascending."],
    };

    private static async Task<IChatClient> HwSimAsync(string model)
    {
        var handle = await Backends.CreateRegistry().CreateAsync($"hwsim?hw=wse-3&model={model}",
            new BackendContext(TimeProvider.System, CliHarness.RepoRoot, _ => { }), TestContext.Current.CancellationToken);
        return handle.Client;
    }
}
