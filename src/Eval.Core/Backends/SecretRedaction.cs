using System.Text;

namespace Spark.Eval.Core.Backends;

/// <summary>
/// The one redaction function for secrets: backend specs before they are written (manifest, messages), and configured
/// key values in any text a server sent (answers, error bodies). Secret-looking names: docs/remote.md, "Secrets".
/// </summary>
public static class SecretRedaction
{
    /// <summary>What a secret is replaced with.</summary>
    public const string Marker = "[redacted]";

    // A header or query parameter whose name contains one of these carries a credential (api-key, x-api-key,
    // Ocp-Apim-Subscription-Key, X-Auth-Token, Cookie, Proxy-Authorization, x-goog-api-key, …).
    private static readonly string[] SecretNameParts =
        ["key", "token", "secret", "auth", "password", "passwd", "cookie", "session", "signature", "credential", "bearer"];

    // Spec keys that would hold a secret by their name alone (typos of key_env included), never a setting of ours.
    private static readonly HashSet<string> SecretSpecKeys = new(StringComparer.OrdinalIgnoreCase)
        { "key", "api_key", "apikey", "api-key", "token", "access_token", "secret", "password", "bearer", "authorization" };

    /// <summary>True for a header or query-parameter name that carries a credential by convention.</summary>
    public static bool IsSecretName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var part in SecretNameParts)
        {
            if (name.Contains(part, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A backend spec with its secrets replaced by <see cref="Marker"/>: values of secret-named <c>headers=</c> entries,
    /// secret-named query parameters and user info of <c>url=</c>, and keys such as <c>key=</c> or <c>token=</c>.
    /// Names, <c>key_env</c> and <c>headers_env</c> (variable names, not values) and every other setting stay as written.
    /// </summary>
    public static string RedactSpec(string specText)
    {
        ArgumentNullException.ThrowIfNull(specText);
        var q = specText.IndexOf('?', StringComparison.Ordinal);
        if (q < 0)
        {
            return specText;
        }

        var pairs = specText[(q + 1)..].Split('&');
        var changed = false;
        for (var i = 0; i < pairs.Length; i++)
        {
            var eq = pairs[i].IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                continue;
            }

            var key = pairs[i][..eq];
            string value;
            try
            {
                value = Uri.UnescapeDataString(pairs[i][(eq + 1)..]);
            }
            catch (UriFormatException)
            {
                value = pairs[i][(eq + 1)..];
            }

            var redacted = key switch
            {
                "headers" => RedactHeaders(value),
                "url" => RedactUrl(value),
                _ when SecretSpecKeys.Contains(key) => Marker,
                _ => value,
            };
            if (!string.Equals(redacted, value, StringComparison.Ordinal))
            {
                pairs[i] = key + "=" + Uri.EscapeDataString(redacted);
                changed = true;
            }
        }

        return changed ? specText[..(q + 1)] + string.Join('&', pairs) : specText;
    }

    /// <summary>Replaces every occurrence of each secret (values shorter than 4 characters are not treated as secrets) in <paramref name="text"/>.</summary>
    public static string Redact(string text, IReadOnlyCollection<string> secrets)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        if (string.IsNullOrEmpty(text) || secrets.Count == 0)
        {
            return text;
        }

        foreach (var secret in secrets)
        {
            if (secret.Length >= 4 && text.Contains(secret, StringComparison.Ordinal))
            {
                text = text.Replace(secret, Marker, StringComparison.Ordinal);
            }
        }

        return text;
    }

    /// <summary>The same, in place, for text collected in a builder (an attempt's answer).</summary>
    public static void Redact(StringBuilder text, IReadOnlyCollection<string> secrets)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(secrets);
        if (text.Length == 0 || secrets.Count == 0)
        {
            return;
        }

        var whole = text.ToString();
        var redacted = Redact(whole, secrets);
        if (!ReferenceEquals(whole, redacted))
        {
            text.Clear().Append(redacted);
        }
    }

    private static string RedactHeaders(string value)
    {
        var entries = value.Split('|');
        for (var i = 0; i < entries.Length; i++)
        {
            var colon = entries[i].IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && IsSecretName(entries[i][..colon]))
            {
                entries[i] = entries[i][..(colon + 1)] + Marker;
            }
        }

        return string.Join('|', entries);
    }

    private static string RedactUrl(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url))
        {
            return value;
        }

        var builder = new UriBuilder(url);
        var changed = false;
        if (!string.IsNullOrEmpty(url.UserInfo))
        {
            builder.UserName = Marker;
            builder.Password = string.Empty;
            changed = true;
        }

        if (url.Query.Length > 1)
        {
            var parameters = url.Query[1..].Split('&');
            for (var i = 0; i < parameters.Length; i++)
            {
                var eq = parameters[i].IndexOf('=', StringComparison.Ordinal);
                if (eq > 0 && IsSecretName(parameters[i][..eq]))
                {
                    parameters[i] = parameters[i][..(eq + 1)] + Marker;
                    changed = true;
                }
            }

            builder.Query = string.Join('&', parameters);
        }

        return changed ? builder.Uri.ToString() : value;
    }
}
