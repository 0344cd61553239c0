namespace Strata.State.Sqlite;

/// <summary>Settings of a <see cref="SqliteStore"/>.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>
    /// How many of the latest revisions keep their history: a watch may start at any of them; older starts throw
    /// <see cref="StoreCompactedException"/>. As in etcd, a watch that falls further behind than this (it has not read
    /// while this many revisions were committed, whether or not they were under its prefix) ends with that exception
    /// too, and its owner lists again. Default 10,000.
    /// </summary>
    public long HistoryRevisions { get; init; } = 10_000;

    /// <summary>How often the store looks for expired leases. Default 200 ms: a lease ends at most this long after its deadline.</summary>
    public TimeSpan LeaseCheckInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How many connections serve reads and watches beside the one writer. Default 4.</summary>
    public int ReadConnections { get; init; } = 4;

    internal void Validate()
    {
        if (HistoryRevisions < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(HistoryRevisions), HistoryRevisions, "at least one revision of history is kept");
        }
        if (LeaseCheckInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(LeaseCheckInterval), LeaseCheckInterval, "must be positive");
        }
        if (ReadConnections < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ReadConnections), ReadConnections, "at least one read connection");
        }
    }
}
