using System.Security.Cryptography;
using System.Text;

namespace Spark.Eval.Pilot;

/// <summary>Replaces developer identities with salted HMAC-SHA256 pseudonyms; the salt never leaves the process.</summary>
public sealed class Pseudonymizer
{
    private readonly byte[] _key;
    private readonly Dictionary<string, string> _cache = new(StringComparer.OrdinalIgnoreCase);

    public Pseudonymizer(string salt)
    {
        ArgumentException.ThrowIfNullOrEmpty(salt);
        _key = Encoding.UTF8.GetBytes(salt);
    }

    /// <summary>A fresh random salt: pseudonyms then differ from run to run.</summary>
    public static string RandomSalt() => Convert.ToHexString(RandomNumberGenerator.GetBytes(32));

    public string For(string identity)
    {
        if (!_cache.TryGetValue(identity, out var pseudonym))
        {
            var hash = HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(identity.ToLowerInvariant()));
            pseudonym = "dev-" + Convert.ToHexStringLower(hash.AsSpan(0, 6));
            _cache[identity] = pseudonym;
        }

        return pseudonym;
    }
}
