using System.Net.Http.Headers;
using System.Net.WebSockets;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// The credentials one backend sends (the key from <c>key_env</c>, header values from <c>headers_env</c>, and values of
/// secret-named <c>headers=</c> entries) and their redaction from everything a server can echo: error messages,
/// stored answers and reasoning. Never written anywhere.
/// </summary>
public sealed class RequestSecrets
{
    private readonly string[] _values;

    /// <param name="apiKey">Sent as <c>Authorization: Bearer</c>; null for none.</param>
    /// <param name="secretHeaders">Headers whose values are secrets (from <c>headers_env</c>); null for none.</param>
    /// <param name="plainHeaders">The spec's <c>headers=</c>: values of secret-named ones are redacted too.</param>
    public RequestSecrets(string? apiKey, IReadOnlyDictionary<string, string>? secretHeaders = null, IReadOnlyDictionary<string, string>? plainHeaders = null)
    {
        ApiKey = string.IsNullOrEmpty(apiKey) ? null : apiKey;
        Headers = secretHeaders ?? new Dictionary<string, string>();
        var values = new List<string>();
        if (ApiKey is not null)
        {
            values.Add(ApiKey);
        }

        values.AddRange(Headers.Values);
        if (plainHeaders is not null)
        {
            values.AddRange(plainHeaders.Where(h => SecretRedaction.IsSecretName(h.Key)).Select(h => h.Value));
        }

        // Longest first, so that a secret containing another is replaced whole.
        _values = [.. values.Where(v => v.Length >= 4).Distinct(StringComparer.Ordinal).OrderByDescending(v => v.Length)];
    }

    public string? ApiKey { get; }

    /// <summary>Headers whose values are secrets, sent with every request and stripped on a cross-origin redirect.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>The values to redact.</summary>
    public IReadOnlyCollection<string> Values => _values;

    /// <summary>Adds the key and the secret headers to a request.</summary>
    public void Apply(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (ApiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        }

        foreach (var (name, value) in Headers)
        {
            request.Headers.Remove(name);
            request.Headers.TryAddWithoutValidation(name, value);
        }
    }

    /// <summary>Adds the key and the secret headers to a WebSocket's upgrade request.</summary>
    public void Apply(ClientWebSocketOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (ApiKey is not null)
        {
            options.SetRequestHeader("Authorization", "Bearer " + ApiKey);
        }

        foreach (var (name, value) in Headers)
        {
            options.SetRequestHeader(name, value);
        }
    }

    /// <summary>Removes every credential from a request (before it follows a redirect to another origin).</summary>
    public void Strip(HttpRequestMessage request, IEnumerable<string> plainHeaderNames)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Headers.Authorization = null;
        foreach (var name in Headers.Keys.Concat(plainHeaderNames.Where(SecretRedaction.IsSecretName)))
        {
            request.Headers.Remove(name);
        }
    }

    /// <summary>The text with every configured secret replaced by <see cref="SecretRedaction.Marker"/>.</summary>
    public string Redact(string text) => SecretRedaction.Redact(text, _values);

    /// <summary>Redacts the answer and reasoning an attempt collected (a key may have been echoed across several chunks).</summary>
    public void RedactRecorded(AttemptRecorder? recorder)
    {
        if (recorder is not null && _values.Length > 0)
        {
            recorder.RedactText(_values);
        }
    }
}
