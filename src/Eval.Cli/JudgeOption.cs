using System.CommandLine;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Sandbox.Grading;

namespace Spark.Eval.Cli;

/// <summary>The <c>--judge</c> and <c>--grading</c> options shared by <c>run</c> and <c>grade</c>, and how a judge spec becomes a judge.</summary>
public static class JudgeOption
{
    public static Option<string?> Create() => new("--judge")
    {
        HelpName = "backend-spec",
        Description = "Backend spec (any kind --backend accepts) that judges explain answers beside the rubric; pass = rubric AND judge (docs/grading.md).",
    };

    public static Option<string?> CreateGradingMode() => new("--grading")
    {
        HelpName = "after|concurrent|auto",
        Description = "When to grade: after (when generation has finished), concurrent (bounded queue while generating), auto (default: concurrent only when every backend is remote; docs/grading.md).",
    };

    /// <summary>Builds the judge backend from its spec; bad specs fail at start-up, naming --judge.</summary>
    public static async Task<(BackendHandle Handle, JudgeGrader Grader)> CreateJudgeAsync(string spec, TimeProvider time, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        BackendHandle handle;
        try
        {
            handle = await Backends.CreateRegistry().CreateAsync(spec, new BackendContext(time, Directory.GetCurrentDirectory(), l => stderr.WriteLine(l)), cancellationToken);
        }
        catch (InputException ex)
        {
            throw new InputException("--judge: " + ex.Message, ex);
        }

        var setup = new JudgeSetup
        {
            Client = handle.Client,
            Spec = spec,
            Name = handle.Info.Name,
            Kind = handle.Info.Kind,
            Simulated = handle.Info.Simulated,
            Model = handle.Info.ModelReported,
        };
        return (handle, new JudgeGrader(setup, time));
    }
}
