using System.Numerics;

namespace Spark.Eval.Core.Metrics;

/// <summary>
/// Histogram of non-negative integer microseconds: exact below 2,048 µs, and above it 1,024 sub-buckets per
/// power of two, so a reported percentile is within 0.05% of a true sample value (relative). Mean and standard
/// deviation are exact (running sums).
/// </summary>
public sealed class LogHistogram
{
    private const int ExactLimit = 2048;
    private const int SubBuckets = 1024;
    private const int MaxShift = 40;
    private readonly long[] _counts = new long[ExactLimit + (MaxShift * SubBuckets)];
    private double _sum;
    private double _sumSquares;

    public long Count { get; private set; }

    public long Min { get; private set; } = long.MaxValue;

    public long Max { get; private set; } = long.MinValue;

    public void Add(long microseconds)
    {
        var v = Math.Max(0, microseconds);
        _counts[Index(v)]++;
        Count++;
        _sum += v;
        _sumSquares += (double)v * v;
        if (v < Min)
        {
            Min = v;
        }

        if (v > Max)
        {
            Max = v;
        }
    }

    public void Merge(LogHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        _sum += other._sum;
        _sumSquares += other._sumSquares;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
    }

    public double Mean => Count == 0 ? double.NaN : _sum / Count;

    /// <summary>Sample standard deviation (n − 1).</summary>
    public double StandardDeviation =>
        Count < 2 ? double.NaN : Math.Sqrt(Math.Max(0, (_sumSquares - (_sum * _sum / Count)) / (Count - 1)));

    /// <summary>Percentile with linear interpolation between the bucket values at ranks ⌊h⌋ and ⌈h⌉, h = p·(n−1).</summary>
    public double Percentile(double p)
    {
        if (Count == 0)
        {
            return double.NaN;
        }

        var h = p * (Count - 1);
        var lo = (long)Math.Floor(h);
        var hi = (long)Math.Ceiling(h);
        var vlo = ValueAtRank(lo);
        var vhi = hi == lo ? vlo : ValueAtRank(hi);
        return vlo + ((h - lo) * (vhi - vlo));
    }

    private double ValueAtRank(long rank)
    {
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen > rank)
            {
                return Math.Clamp(Representative(i), Min, Max);
            }
        }

        return Max;
    }

    private static int Index(long v)
    {
        if (v < ExactLimit)
        {
            return (int)v;
        }

        var bit = 63 - BitOperations.LeadingZeroCount((ulong)v);
        var shift = Math.Min(bit - 10, MaxShift);
        var sub = (int)Math.Min(v >> shift, (2 * SubBuckets) - 1);
        return ExactLimit + ((shift - 1) * SubBuckets) + (sub - SubBuckets);
    }

    private static double Representative(int index)
    {
        if (index < ExactLimit)
        {
            return index;
        }

        var shift = ((index - ExactLimit) / SubBuckets) + 1;
        var sub = ((index - ExactLimit) % SubBuckets) + SubBuckets;
        return (sub + 0.5) * Math.Pow(2, shift);
    }
}
