namespace Strata.Control.Nodes;

/// <summary>
/// A volume's I/O rates over a window: the difference of two cumulative samples of one target instance over the time
/// between them. The control plane computes them rather than the node sending rates: cumulative counters survive a
/// lost or late report, give the totals too, and leave the window to whoever reads them.
/// </summary>
/// <param name="Seconds">The window: how far apart the two samples were, on the node's monotonic clock.</param>
public sealed record IoRates(double Seconds, IoOpRate Reads, IoOpRate Writes, IoOpRate Flushes, IoOpRate Unmaps)
{
    /// <summary>
    /// The rates from <paramref name="older"/> to <paramref name="newer"/>; null when they make no window: no time
    /// between them, or a counter that went back (not one instance's samples).
    /// </summary>
    public static IoRates? Between(IoCounters older, IoCounters newer)
    {
        double seconds = newer.Seconds - older.Seconds;
        if (seconds <= 0 || Behind(older.Reads, newer.Reads) || Behind(older.Writes, newer.Writes)
            || Behind(older.Flushes, newer.Flushes) || Behind(older.Unmaps, newer.Unmaps))
        {
            return null;
        }

        return new IoRates(seconds, IoOpRate.Between(older.Reads, newer.Reads, seconds), IoOpRate.Between(older.Writes, newer.Writes, seconds),
            IoOpRate.Between(older.Flushes, newer.Flushes, seconds), IoOpRate.Between(older.Unmaps, newer.Unmaps, seconds));
    }

    private static bool Behind(IoOpCounts older, IoOpCounts newer) =>
        newer.Count < older.Count || newer.Bytes < older.Bytes || newer.Seconds < older.Seconds;
}

/// <param name="PerSecond">Operations per second (IOPS).</param>
/// <param name="BytesPerSecond">Throughput.</param>
/// <param name="AverageMilliseconds">The window's operations' mean latency; 0 when there were none.</param>
public sealed record IoOpRate(double PerSecond, double BytesPerSecond, double AverageMilliseconds)
{
    internal static IoOpRate Between(IoOpCounts older, IoOpCounts newer, double seconds)
    {
        long ops = newer.Count - older.Count;
        return new IoOpRate(ops / seconds, (newer.Bytes - older.Bytes) / seconds, ops == 0 ? 0 : (newer.Seconds - older.Seconds) * 1000 / ops);
    }
}
