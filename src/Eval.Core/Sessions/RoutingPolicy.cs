using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Core.Sessions;

/// <summary>One routing rule: when every condition it sets holds for a task, its first turn goes to <see cref="Backend"/>.</summary>
public sealed record RoutingRule
{
    public required string Name { get; init; }
    public required string Backend { get; init; }
    /// <summary>Task kinds the rule applies to; empty: any kind.</summary>
    public IReadOnlyList<TaskKind> Kinds { get; init; } = [];
    /// <summary>Languages the rule applies to; empty: any language.</summary>
    public IReadOnlyList<string> Languages { get; init; } = [];
    /// <summary>The rule applies only to prompts of at least this many tokens; null: any size.</summary>
    public int? PromptTokensAtLeast { get; init; }
    /// <summary>The rule applies only to prompts of fewer than this many tokens; null: any size.</summary>
    public int? PromptTokensBelow { get; init; }

    /// <summary>True when every condition the rule sets holds.</summary>
    public bool Matches(RouteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return (Kinds.Count == 0 || Kinds.Contains(request.Task.Kind))
            && (Languages.Count == 0 || Languages.Contains(request.Task.Language, StringComparer.Ordinal))
            && (PromptTokensAtLeast is not { } min || request.PromptTokens >= min)
            && (PromptTokensBelow is not { } max || request.PromptTokens < max);
    }
}

/// <summary>One escalation edge: from <see cref="From"/>, on any of <see cref="On"/>, the next turn goes to <see cref="To"/>.</summary>
public sealed record RoutingEscalation(string From, string To, IReadOnlyList<EscalationCause> On);

/// <summary>
/// The routing policy read from a policy file (docs/formats.md, "Routing policy"): the first matching rule, else the start
/// backend, serves a task's first turn; escalation edges move a later turn on a failed grade or a first-token timeout.
/// Pure and deterministic: no clock, no randomness.
/// </summary>
public sealed class RoutingPolicy : IRoutingPolicy
{
    private readonly IReadOnlyDictionary<string, TimeSpan> _firstTokenTimeouts;

    public RoutingPolicy(string name, string start, IReadOnlyList<RoutingRule> rules, IReadOnlyList<RoutingEscalation> escalations,
        TimeSpan? defaultFirstTokenTimeout = null, IReadOnlyDictionary<string, TimeSpan>? firstTokenTimeouts = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(start);
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(escalations);
        Name = name;
        Start = start;
        Rules = rules;
        Escalations = escalations;
        DefaultFirstTokenTimeout = defaultFirstTokenTimeout;
        _firstTokenTimeouts = firstTokenTimeouts ?? new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        Backends = new[] { start }.Concat(rules.Select(r => r.Backend)).Concat(escalations.SelectMany(e => new[] { e.From, e.To }))
            .Distinct(StringComparer.Ordinal).ToList();
    }

    public string Name { get; }

    /// <summary>The backend of a first turn that no rule matches.</summary>
    public string Start { get; }

    public IReadOnlyList<RoutingRule> Rules { get; }

    public IReadOnlyList<RoutingEscalation> Escalations { get; }

    /// <summary>The first-token timeout of backends without one of their own; null for none.</summary>
    public TimeSpan? DefaultFirstTokenTimeout { get; }

    public IReadOnlyList<string> Backends { get; }

    public (string Backend, string Reason) Choose(RouteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        foreach (var rule in Rules)
        {
            if (rule.Matches(request))
            {
                return (rule.Backend, RouteReasons.Rule(rule.Name));
            }
        }

        return (Start, RouteReasons.Start);
    }

    public string? Escalate(RouteRequest request, string current, EscalationCause cause)
    {
        ArgumentNullException.ThrowIfNull(request);
        foreach (var edge in Escalations)
        {
            if (string.Equals(edge.From, current, StringComparison.Ordinal) && edge.On.Contains(cause))
            {
                return edge.To;
            }
        }

        return null;
    }

    public TimeSpan? FirstTokenTimeout(string backend) =>
        _firstTokenTimeouts.TryGetValue(backend, out var own) ? own : DefaultFirstTokenTimeout;
}

/// <summary>The route reasons recorded on <see cref="SessionTurn.RouteReason"/>.</summary>
public static class RouteReasons
{
    public const string Start = "start";
    public const string FailedGrade = "escalate:failed_grade";
    public const string FirstTokenTimeout = "escalate:ttft_timeout";

    public static string Rule(string name) => "rule:" + name;

    public static string Escalated(EscalationCause cause) => cause switch
    {
        EscalationCause.FailedGrade => FailedGrade,
        EscalationCause.FirstTokenTimeout => FirstTokenTimeout,
        _ => throw new ArgumentOutOfRangeException(nameof(cause), cause, null),
    };
}
