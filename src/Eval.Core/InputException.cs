namespace Spark.Eval.Core;

/// <summary>Bad input found at start-up: names the file, line or field and the fix; the CLI maps it to exit code 2.</summary>
public sealed class InputException : Exception
{
    public InputException(string message) : base(message) { }

    public InputException(string message, Exception inner) : base(message, inner) { }

    public InputException() { }

    /// <summary>Builds the standard "file:line: field: problem. Fix: ..." message.</summary>
    public static InputException At(string file, int? line, string? field, string problem, string fix)
    {
        var where = line is { } l ? $"{file}:{l}" : file;
        var what = field is null ? problem : $"field '{field}': {problem}";
        return new InputException($"{where}: {what}. Fix: {fix}");
    }
}
