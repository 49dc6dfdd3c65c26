namespace Spark.Eval.Diagnostics;

/// <summary>
/// Maps managed-heap pages before a measured window, so that the window's allocations land on pages the process has
/// already touched. A long-running process reuses its gen0 memory after every collection; a benchmark that keeps the GC
/// out of its window (a no-GC region, a 512 MB gen0 budget) instead allocates into fresh pages, and every first touch of a
/// page is a trip through the kernel. On this project's VM that cost selftest's client 0.39 and serve-sim 0.26 page faults
/// per chunk, and about 4 µs of CPU per chunk on each side (docs/benchmarks.md, "Pre-faulted heaps").
/// </summary>
public static class HeapPrefault
{
    /// <summary>Below the large-object threshold (85,000 bytes), so the arrays come from the same regions gen0 allocates from.</summary>
    private const int Block = 64 * 1024;

    /// <summary>
    /// Allocates <paramref name="bytes"/> of short-lived arrays (the allocator zeroes, and so touches, the memory it hands
    /// out), then collects them: the regions go back to the GC's free list still mapped, where the next allocations find them.
    /// </summary>
    public static void Touch(long bytes)
    {
        // A small ring keeps the latest blocks reachable, so no allocation can be proven dead and skipped.
        var ring = new byte[16][];
        for (long i = 0, n = bytes / Block; i < n; i++)
        {
            ring[i % ring.Length] = new byte[Block];
        }

        GC.KeepAlive(ring);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
    }
}
