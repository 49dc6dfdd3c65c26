using System.Globalization;

namespace Spark.Eval.Core.Backends;

/// <summary>
/// A parsed backend spec: <c>kind[?key=value[&amp;key=value…]]</c>, for example
/// <c>sim?name=fast&amp;ttft_ms=120&amp;tokens_per_s=1000</c>. Grammar in docs/formats.md.
/// </summary>
public sealed class BackendSpec
{
    private readonly Dictionary<string, string> _values;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    private BackendSpec(string text, string kind, Dictionary<string, string> values)
    {
        Text = text;
        Kind = kind;
        _values = values;
    }

    /// <summary>The spec as written, with its secrets redacted (<see cref="SecretRedaction.RedactSpec"/>): safe for messages and the manifest.</summary>
    public string Text { get; }

    public string Kind { get; }

    /// <summary>The display name: the <c>name</c> key, else the kind.</summary>
    public string Name => _values.TryGetValue("name", out var n) ? n : Kind;

    public static BackendSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var q = text.IndexOf('?', StringComparison.Ordinal);
        var kind = (q < 0 ? text : text[..q]).Trim();
        var safeText = SecretRedaction.RedactSpec(text);
        if (kind.Length == 0)
        {
            throw new InputException($"--backend '{safeText}': missing backend kind. Fix: write kind?key=value, for example sim?ttft_ms=120");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (q >= 0)
        {
            foreach (var pair in text[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new InputException($"--backend '{safeText}': '{(SecretRedaction.IsSecretName(pair) ? SecretRedaction.Marker : pair)}' is not key=value. Fix: separate settings with & as in sim?ttft_ms=120&tokens_per_s=900");
                }

                values[pair[..eq]] = Uri.UnescapeDataString(pair[(eq + 1)..]);
            }
        }

        var spec = new BackendSpec(safeText, kind, values);
        spec._read.Add("name");
        return spec;
    }

    public string? GetString(string key)
    {
        _read.Add(key);
        return _values.GetValueOrDefault(key);
    }

    public string GetString(string key, string fallback) => GetString(key) ?? fallback;

    public double GetDouble(string key, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        var raw = GetString(key);
        if (raw is null)
        {
            return fallback;
        }

        // NaN compares false with both bounds and infinities parse too: only a finite number in range passes.
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < min || value > max)
        {
            throw new InputException($"--backend '{Text}': {key}={raw} is not a number in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}] (NaN and infinities are refused). Fix: give {key} a finite number in range");
        }

        return value;
    }

    public int GetInt(string key, int fallback, int min = int.MinValue, int max = int.MaxValue) =>
        (int)GetDouble(key, fallback, min, max);

    /// <summary>Throws if the spec holds a key no one read: a typo must not be silently ignored.</summary>
    public void EnsureAllRead(IEnumerable<string> known)
    {
        foreach (var key in _values.Keys)
        {
            if (!_read.Contains(key))
            {
                throw new InputException($"--backend '{Text}': unknown setting '{key}' for backend kind '{Kind}'. Fix: use one of: {string.Join(", ", known)}");
            }
        }
    }
}
