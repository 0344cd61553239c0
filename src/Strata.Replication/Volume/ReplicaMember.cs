namespace Strata.Replication.Volume;

/// <summary>Where a replica stands for its volume's target.</summary>
public enum ReplicaRole
{
    /// <summary>In the in-sync set: has every acknowledged write; reads may go to it.</summary>
    InSync,

    /// <summary>Connected and given every new write, while a rebuild copies what it missed; joins the set when done.</summary>
    Rebuilding,

    /// <summary>Not reachable, failed, or not yet opened: out of the set, its missed grains tracked.</summary>
    Offline,
}

/// <summary>A rebuild's progress, as `strata describe pv` shows it.</summary>
public sealed record RebuildProgress(bool Full, long BytesDone, long BytesTotal, long BytesCopied, double BytesPerSecond, TimeSpan? Eta)
{
    public double Percent => BytesTotal == 0 ? 100 : 100.0 * BytesDone / BytesTotal;
}

/// <summary>One replica as its target sees it: role, why, and the rebuild in progress.</summary>
/// <param name="Reason">Why it is in its role now (for Offline: the failure or why it cannot be reached).</param>
/// <param name="LastError">The last failure that took it out of the set, kept after it returns.</param>
/// <param name="LastRebuild">The last rebuild that ended with the replica rejoining the set.</param>
public sealed record ReplicaState(string Name, ReplicaRole Role, string? Reason, string? LastError, RebuildProgress? Rebuild, RebuildSummary? LastRebuild, long Failures);

/// <summary>A finished rebuild: full or incremental, what it copied, how long it took.</summary>
public sealed record RebuildSummary(bool Full, long BytesCopied, long GrainsGoneOver, TimeSpan Took);

/// <summary>One replica of a <see cref="ReplicatedVolume"/>: its device when open, its role, and the grains it lacks.</summary>
internal sealed class ReplicaMember(string name, long grains)
{
    public string Name { get; } = name;

    /// <summary>The open device (a <see cref="ReplicaClient"/>, or a <see cref="LocalReplica"/> on the target's node); null while Offline.</summary>
    public IBlockDevice? Device { get; set; }

    public ReplicaRole Role { get; set; } = ReplicaRole.Offline;

    /// <summary>Whether the target wants it in the recorded in-sync set (false from the moment it fails).</summary>
    public bool WantInSync { get; set; }

    /// <summary>Grains this replica may not hold as the in-sync ones do; a rebuild copies exactly these.</summary>
    public SparseBitmap Missing { get; } = new(grains);

    /// <summary>
    /// Grains a rebuild copied to it since its last flush (and those of a flush under way): they count as copied only
    /// once flushed, and go back to <see cref="Missing"/> when the next rebuild starts. Swapped and read under <see cref="CopyLock"/>.
    /// </summary>
    public SparseBitmap CopiedUnflushed { get; set; } = new(grains);

    public SparseBitmap? CopiesFlushing { get; set; }

    /// <summary>The first grains of the copies the rebuild has claimed and not finished: not durable there yet. Under <see cref="CopyLock"/>.</summary>
    public SortedSet<long> Copying { get; } = [];

    public Lock CopyLock { get; } = new();

    /// <summary>
    /// The rebuild checkpoint (bytes) the store may hold for it: found there at open, or being written or written by
    /// this target; null once the store is known to hold none. While it is set and the replica misses writes
    /// (offline), no write may be acknowledged: a later target would trust it. Under the volume's gate.
    /// </summary>
    public long? CheckpointStored { get; set; }

    /// <summary>The checkpoint this target wants the store to hold: null from the moment the replica fails. Under the volume's gate.</summary>
    public long? CheckpointWanted { get; set; }

    /// <summary>At open, from the store's checkpoint: the grain its interrupted rebuild resumes from.</summary>
    public long? ResumeFromGrain { get; set; }

    /// <summary>Bytes copied since the rebuild last flushed this replica (or started a flush).</summary>
    public long CopiedSinceFlush;

    /// <summary>When the rebuild last started a flush of this replica (or started), as a Stopwatch timestamp.</summary>
    public long CopiesFlushedAt;

    /// <summary>Set when nothing is known of what it lacks (a new replica, or one whose history was lost): every grain.</summary>
    public bool NeedsFullCopy { get; set; }

    /// <summary>
    /// In sync when this target opened the volume but out of reach: once reached, its own write-intent regions are
    /// added to what it misses (under the volume's gate until the restore reads them).
    /// </summary>
    public bool IntentUnread { get; set; }

    public string? Reason { get; set; }

    public string? LastError { get; set; }

    /// <summary>Failures since it was last in sync: how long to wait before opening it again.</summary>
    public int ConsecutiveFailures { get; set; }

    public long Failures;

    public RebuildSummary? LastRebuild { get; set; }

    /// <summary>Taken out of the volume for good (<see cref="ReplicatedVolume.RemoveReplica"/>); set under the volume's gate.</summary>
    public bool Removed { get; set; }

    /// <summary>Cancels the restore (reconnect and rebuild) running for it, if any; set under the volume's gate.</summary>
    public CancellationTokenSource? Restoring { get; set; }

    // Rebuild progress, written by the rebuild, read by Status.
    public long RebuildGrainsTotal;
    public long RebuildGrainsDone;
    public long RebuildBytesCopied;
    public long RebuildStartTicks;
    public bool RebuildFull;
}
