namespace Strata.State;

/// <summary>
/// The cluster's state: keyed records with revisions, compare-and-swap, gap-free watches and leases. The model is
/// etcd's v3 API (https://etcd.io/docs/v3.5/learning/api/): one store-wide revision counter that every change
/// increments, each record carrying the revision of its last change.
/// <para>
/// Keys are non-empty strings, ordered by their UTF-8 bytes. A prefix is a plain string prefix: "/a/b" matches
/// "/a/b", "/a/b/c" and the sibling "/a/bc"; end it with the separator ("/a/b/") to mean the records under a directory.
/// The empty prefix matches every key.
/// </para>
/// <para>
/// Implementations: <see cref="Sqlite.SqliteStore"/> (one node, one file) and <see cref="Etcd.EtcdStore"/> (a cluster);
/// <see cref="StoreFactory.OpenAsync"/> opens either from a <c>--store</c> spec. All members are thread-safe.
/// </para>
/// </summary>
public interface IStore : IAsyncDisposable
{
    /// <summary>Where the store lives, for status lines: "sqlite:/var/lib/strata/state.db", "etcd://127.0.0.1:2379".</summary>
    string Description { get; }

    /// <summary>The record at <paramref name="key"/>, or null.</summary>
    Task<StoreRecord?> GetAsync(string key, CancellationToken ct = default);

    /// <summary>Every record whose key starts with <paramref name="prefix"/>, in key order, and the store revision they were read at.</summary>
    Task<StoreList> ListAsync(string prefix, CancellationToken ct = default);

    /// <summary>
    /// Writes <paramref name="value"/> at <paramref name="key"/> if the record's current revision is
    /// <paramref name="expectedRevision"/>: <see cref="Revision.Absent"/> to create only, <see cref="Revision.Any"/>
    /// for no condition. Returns the new revision, or null when the condition failed (nothing was written).
    /// A non-zero <paramref name="lease"/> attaches the record to that lease: it is deleted when the lease ends; a put
    /// with lease 0 detaches the record from any lease it had. Throws <see cref="StoreLeaseNotFoundException"/> when
    /// the lease has ended (nothing was written). A record's <see cref="StoreRecord.CreateRevision"/> is kept across
    /// puts until it is deleted.
    /// </summary>
    Task<long?> PutAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, long lease = 0, CancellationToken ct = default);

    /// <summary>
    /// Deletes the record if its current revision is <paramref name="expectedRevision"/> (or <see cref="Revision.Any"/>;
    /// <see cref="Revision.Absent"/> is refused with <see cref="ArgumentOutOfRangeException"/>). False when it did not
    /// exist or the condition failed.
    /// </summary>
    Task<bool> DeleteAsync(string key, long expectedRevision, CancellationToken ct = default);

    /// <summary>
    /// Every change under <paramref name="prefix"/> with a revision ≥ <paramref name="fromRevision"/>, in revision order,
    /// with no gaps, until <paramref name="ct"/> is cancelled. Changes made by lease expiry are included.
    /// Throws <see cref="StoreCompactedException"/> when that revision's history is no longer kept (also later, if the
    /// watcher falls so far behind that the history it has yet to read is dropped).
    /// A <paramref name="fromRevision"/> of 0 or less means "from the next change". Revisions of successive events
    /// never decrease; several events may share one (etcd deletes all of a lease's records at one revision).
    /// Cancelling <paramref name="ct"/> ends the enumeration with <see cref="OperationCanceledException"/>; disposing the
    /// store ends it with <see cref="ObjectDisposedException"/>; a store that stays unreachable ends it with <see cref="StoreException"/>.
    /// </summary>
    IAsyncEnumerable<StoreEvent> WatchAsync(string prefix, long fromRevision, CancellationToken ct = default);

    /// <summary>
    /// Grants a lease that ends <paramref name="ttl"/> after its last keep-alive; returns its id (never 0). etcd counts
    /// TTLs in whole seconds (rounded up) and raises a TTL below its minimum (2 s with default settings) to it.
    /// Granting, renewing or revoking a lease takes no revision; only the deletion of its records does.
    /// </summary>
    Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken ct = default);

    /// <summary>Renews the lease for another TTL. False when it has already ended (its records are gone).</summary>
    Task<bool> KeepAliveAsync(long lease, CancellationToken ct = default);

    /// <summary>Ends the lease now, deleting its records. A lease that has already ended is left alone.</summary>
    Task RevokeLeaseAsync(long lease, CancellationToken ct = default);
}

/// <summary>Special values of an expected revision.</summary>
public static class Revision
{
    /// <summary>The record must not exist.</summary>
    public const long Absent = 0;

    /// <summary>No condition.</summary>
    public const long Any = -1;
}

/// <summary>
/// A record: its key, value, the revision of its last change, the revision it was created at and its lease (0 for none).
/// <see cref="Value"/> compares by reference in the record's equality: compare values by content.
/// </summary>
public sealed record StoreRecord(string Key, ReadOnlyMemory<byte> Value, long Revision, long CreateRevision, long Lease);

/// <summary>The records under a prefix and the store revision they were read at: a watch from <c>Revision + 1</c> misses nothing.</summary>
public sealed record StoreList(IReadOnlyList<StoreRecord> Records, long Revision);

public enum StoreEventType
{
    Put,
    Delete,
}

/// <summary>One change: for a delete, <see cref="Record"/> has an empty value, the deletion's revision, and 0 for its create revision and lease.</summary>
public sealed record StoreEvent(StoreEventType Type, StoreRecord Record);

/// <summary>The store is unreachable or failed; the operation may or may not have been applied.</summary>
public class StoreException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A watch asked for history older than the store keeps; list again and watch from the list's revision.</summary>
public sealed class StoreCompactedException(long requested, long oldest)
    : StoreException($"revision {requested} has been compacted; the oldest kept is {oldest}")
{
    public long Requested { get; } = requested;

    public long Oldest { get; } = oldest;
}
