using System.Security.Cryptography;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>
/// Per-grade completion evidence (docs/sandbox.md, "Pass evidence"): the harness draws a fresh 128-bit nonce for every program,
/// hands it to the trusted check driver only (never through the program's environment, argv or files), and counts a pass only
/// when the driver reports <c>&lt;nonce&gt;:ok</c> after the whole program, hidden checks included, ran to its end.
/// </summary>
public static class PassEvidence
{
    /// <summary>A fresh nonce: 32 lowercase hex characters.</summary>
    public static string NewNonce() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>What a driver's evidence text says for this nonce: revoked or tampered outrank ok; anything else is missing.</summary>
    public static EvidenceState Parse(string? text, string nonce)
    {
        ArgumentException.ThrowIfNullOrEmpty(nonce);
        if (string.IsNullOrEmpty(text))
        {
            return EvidenceState.Missing;
        }

        var lines = text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return lines.Contains(nonce + ":revoked", StringComparer.Ordinal) ? EvidenceState.Revoked
            : lines.Contains(nonce + ":tampered", StringComparer.Ordinal) ? EvidenceState.Tampered
            : lines.Contains(nonce + ":ok", StringComparer.Ordinal) ? EvidenceState.Ok
            : EvidenceState.Missing;
    }
}
