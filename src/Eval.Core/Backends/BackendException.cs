namespace Spark.Eval.Core.Backends;

/// <summary>A backend failure with a known error class (for example http_429, stream_stalled, malformed_chunk).</summary>
public sealed class BackendException : Exception
{
    public BackendException(string errorClass, string message, Exception? inner = null) : base(message, inner)
    {
        ErrorClass = errorClass;
    }

    public BackendException() : this("error", "backend error") { }

    public BackendException(string message) : this("error", message) { }

    public BackendException(string message, Exception inner) : this("error", message, inner) { }

    public string ErrorClass { get; }
}

/// <summary>Maps an exception from a backend to the error class recorded on the attempt.</summary>
public static class ErrorClassifier
{
    public static string Classify(Exception exception) => exception switch
    {
        BackendException b => b.ErrorClass,
        HttpRequestException { StatusCode: { } status } => $"http_{(int)status}",
        HttpRequestException => "connection",
        IOException => "connection",
        System.Text.Json.JsonException => "malformed_response",
        TimeoutException => "timeout",
        _ => "exception:" + exception.GetType().Name,
    };
}
