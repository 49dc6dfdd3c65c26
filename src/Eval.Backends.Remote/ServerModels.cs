using System.Text.Json;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// What a server says it serves, beside what was asked for: many servers (llama.cpp's llama-server among them) echo the
/// requested model name in every response whatever they load, so the response's <c>model</c> field alone does not tell.
/// </summary>
public static class ServerModels
{
    /// <summary>The ids in an OpenAI-style model list (<c>{"data": [{"id": …}, …]}</c>); null when the body is not one or lists none.</summary>
    public static IReadOnlyList<string>? Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            {
                return null;
            }

            var ids = new List<string>();
            foreach (var model in data.EnumerateArray())
            {
                if (model.ValueKind == JsonValueKind.Object && model.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String && id.GetString() is { Length: > 0 } text)
                {
                    ids.Add(text);
                }
            }

            return ids.Count > 0 ? ids : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The model to record as reported: the requested id when the server lists it (or lists nothing), else what it lists,
    /// with a warning to show the user.
    /// </summary>
    public static (string Reported, string? Warning) Reconcile(string requested, IReadOnlyList<string>? listed)
    {
        ArgumentNullException.ThrowIfNull(requested);
        if (listed is null || listed.Contains(requested, StringComparer.Ordinal))
        {
            return (requested, null);
        }

        var served = string.Join(", ", listed.Take(5)) + (listed.Count > 5 ? $" (+{listed.Count - 5} more)" : string.Empty);
        return (served, $"WARNING: model '{requested}' is not among the models the server lists at /models ({served}); the server may answer with another model while echoing the requested name. Fix: set model= to a listed id");
    }
}
