namespace Strata.State.Etcd;

/// <summary>Settings of an <see cref="EtcdStore"/>.</summary>
public sealed class EtcdStoreOptions
{
    /// <summary>How long <see cref="EtcdStore.ConnectAsync"/> tries to reach the cluster before it fails. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The deadline of each call (reads are retried within it while no endpoint is reachable). Default 10 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a broken watch keeps trying to re-establish itself before it throws <see cref="StoreException"/>. Default 60 s.</summary>
    public TimeSpan WatchReconnectTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many records one range request of a list returns (tests make it small).</summary>
    internal int ListPageSize { get; init; } = 1000;

    internal void Validate()
    {
        foreach (var (name, value) in new[] { (nameof(ConnectTimeout), ConnectTimeout), (nameof(RequestTimeout), RequestTimeout), (nameof(WatchReconnectTimeout), WatchReconnectTimeout) })
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(name, value, "must be positive");
            }
        }
    }
}
