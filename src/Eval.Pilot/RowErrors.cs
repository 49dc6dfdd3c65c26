using Spark.Eval.Core;

namespace Spark.Eval.Pilot;

/// <summary>What reading one input file found: its format, rows read and rows skipped under --lenient.</summary>
public sealed record PilotInputSummary(string File, string Format, long Rows, long Skipped, string? FirstSkipped);

/// <summary>Bad rows: strict mode throws the first as an <see cref="InputException"/> (exit 2); lenient mode counts them.</summary>
internal sealed class RowErrors(string file, bool lenient)
{
    public string File { get; } = file;

    public long Skipped { get; private set; }

    public string? FirstSkipped { get; private set; }

    public void Bad(int? line, string field, string problem, string fix)
    {
        var error = InputException.At(File, line, field, problem, fix);
        if (!lenient)
        {
            throw error;
        }

        Skipped++;
        FirstSkipped ??= error.Message;
    }
}
