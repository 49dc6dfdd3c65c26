using System.Collections.Concurrent;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>
/// The idle half of a pool of sandboxed helper processes (C# workers, Python fork-servers, TypeScript compile servers,
/// node runners), keyed by what makes two of them interchangeable. A worker is handed out only while it is still usable,
/// goes back only when its last request left it reusable, and is released (killed) in every other case.
/// </summary>
internal sealed class IdlePool<TKey, TWorker>(Action<TWorker> release) : IDisposable
    where TKey : notnull
    where TWorker : class
{
    private readonly ConcurrentDictionary<TKey, ConcurrentBag<TWorker>> _idle = new();
    private volatile bool _disposed;

    public bool IsDisposed => _disposed;

    /// <summary>An idle worker of this key that passes <paramref name="usable"/>; the unusable ones met on the way are released.</summary>
    public TWorker? TryTake(TKey key, Func<TWorker, bool> usable)
    {
        var bag = _idle.GetOrAdd(key, _ => []);
        while (bag.TryTake(out var idle))
        {
            if (usable(idle))
            {
                return idle;
            }

            release(idle);
        }

        return null;
    }

    /// <summary>Keeps the worker for the next request when <paramref name="reusable"/> and the pool is open; otherwise releases it.</summary>
    public void Return(TKey key, TWorker worker, bool reusable)
    {
        if (reusable && !_disposed)
        {
            _idle.GetOrAdd(key, _ => []).Add(worker);
        }
        else
        {
            release(worker);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        foreach (var bag in _idle.Values)
        {
            while (bag.TryTake(out var worker))
            {
                release(worker);
            }
        }
    }
}
