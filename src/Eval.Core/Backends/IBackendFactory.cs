using Microsoft.Extensions.AI;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Backends;

/// <summary>A backend ready to serve a run: its chat client (without the timing layer) and how the manifest describes it.</summary>
public sealed record BackendHandle(BackendInfo Info, IChatClient Client) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        if (Client is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync();
        }
        else
        {
            Client.Dispose();
        }
    }
}

/// <summary>Creates backends of one kind from a <see cref="BackendSpec"/>.</summary>
public interface IBackendFactory
{
    /// <summary>The kind this factory serves, as written before the '?' of a spec.</summary>
    string Kind { get; }

    /// <summary>One line for --help: the kind and its settings.</summary>
    string Usage { get; }

    /// <summary>Validates the spec (throwing <see cref="Core.InputException"/>) and builds the backend.</summary>
    Task<BackendHandle> CreateAsync(BackendSpec spec, BackendContext context, CancellationToken cancellationToken);
}

/// <summary>What factories may need from the host: the clock, the working directory and a log for progress lines.</summary>
public sealed record BackendContext(TimeProvider Time, string WorkingDirectory, Action<string> Log)
{
    /// <summary>
    /// Requests the run will hold in flight to each backend at once (a closed loop's <c>--concurrency</c>); 0 when unknown
    /// (open loop, sessions, a judge, serve-sim's hosted backend). A remote backend warms that many connections by default.
    /// </summary>
    public int Concurrency { get; init; }
}

/// <summary>Finds the factory for a spec's kind.</summary>
public sealed class BackendRegistry(IEnumerable<IBackendFactory> factories)
{
    private readonly Dictionary<string, IBackendFactory> _factories = factories.ToDictionary(f => f.Kind, StringComparer.Ordinal);

    public IEnumerable<IBackendFactory> Factories => _factories.Values;

    public async Task<BackendHandle> CreateAsync(string specText, BackendContext context, CancellationToken cancellationToken)
    {
        var spec = BackendSpec.Parse(specText);
        if (!_factories.TryGetValue(spec.Kind, out var factory))
        {
            throw new InputException($"--backend '{spec.Text}': unknown backend kind '{spec.Kind}'. Fix: use one of: {string.Join(", ", _factories.Keys)}");
        }

        return await factory.CreateAsync(spec, context, cancellationToken);
    }
}
