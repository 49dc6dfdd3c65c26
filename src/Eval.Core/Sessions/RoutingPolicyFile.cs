namespace Spark.Eval.Core.Sessions;

/// <summary>Reads a routing policy file (YAML; docs/formats.md, "Routing policy") into an <see cref="IRoutingPolicy"/>.</summary>
public static class RoutingPolicyFile
{
    /// <summary>
    /// Loads <paramref name="path"/>; every backend it names must be in <paramref name="runBackends"/>. Bad input throws an
    /// <see cref="InputException"/> naming the file, line and field.
    /// </summary>
    public static IRoutingPolicy Load(string path, IReadOnlyCollection<string> runBackends) =>
        throw new InputException($"{path}: routing policies are not supported by this build yet");
}
