namespace Spark.Eval.Core.Sessions;

/// <summary>The built-in policy of <c>run --sessions</c> without <c>--policy</c>: every turn on one backend, no escalation, no first-token timeout.</summary>
public sealed class SingleBackendPolicy(string backend) : IRoutingPolicy
{
    public string Name => backend;

    public IReadOnlyList<string> Backends { get; } = [backend];

    public (string Backend, string Reason) Choose(RouteRequest request) => (backend, RouteReasons.Start);

    public string? Escalate(RouteRequest request, string current, EscalationCause cause) => null;

    public TimeSpan? FirstTokenTimeout(string backend) => null;
}
