namespace Strata.Replication.Volume;

/// <summary>What a <see cref="ReplicatedVolume"/> is and how it behaves; docs/replication.md explains each choice.</summary>
public sealed class ReplicatedVolumeOptions
{
    /// <summary>The volume's id (its PV name): used in messages.</summary>
    public required string VolumeId { get; init; }

    /// <summary>This target instance's epoch, taken from the store before it started.</summary>
    public required long Epoch { get; init; }

    /// <summary>Every replica of the volume, by name.</summary>
    public required IReadOnlyList<string> Replicas { get; init; }

    /// <summary>The in-sync set as the store holds it at <see cref="Epoch"/>.</summary>
    public required IReadOnlyList<string> InSync { get; init; }

    /// <summary>
    /// Below this many in-sync replicas writes are not acknowledged: they wait up to <see cref="MinInSyncWait"/> for
    /// a replica to rejoin, then fail (1 for 2 replicas, 2 for 3, by default).
    /// </summary>
    public int MinInSync { get; init; } = 1;

    /// <summary>
    /// The rebuild checkpoints the store holds, by replica: how many bytes from the volume's start a previous target's
    /// rebuild had made identical and durable on that replica (docs/replication.md, "Resuming a rebuild"). A replica
    /// out of the in-sync set with one resumes its rebuild there instead of starting over.
    /// </summary>
    public IReadOnlyDictionary<string, long> RebuildCheckpoints { get; init; } = new Dictionary<string, long>();

    public TimeSpan MinInSyncWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long I/O waits for a failing replica's removal to be recorded before it fails (store unreachable).</summary>
    public TimeSpan MembershipWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long I/O waits for a first replica to be opened; also the time replicas that are in sync are waited for
    /// at open before they are taken out of the set.
    /// </summary>
    public TimeSpan OpenWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The unit of dirty tracking and copying: one bit per grain. 4 KiB keeps random writes' catch-up small.</summary>
    public int GrainBytes { get; init; } = 4096;

    /// <summary>Copy at most this many bytes per second in a rebuild (0: as fast as the replicas go).</summary>
    public long RebuildBytesPerSecond { get; init; }

    /// <summary>The largest single copy of a rebuild.</summary>
    public int RebuildChunkBytes { get; init; } = 1 << 20;

    /// <summary>Copies of a rebuild in flight at once.</summary>
    public int RebuildDepth { get; init; } = 4;

    /// <summary>
    /// A rebuild flushes the replica it copies to after this many bytes: what it copied before the flush is durable
    /// there and is not copied again if the replica fails; what it copied since is (its node may have lost it).
    /// </summary>
    public long RebuildFlushBytes { get; init; } = 64L << 20;

    /// <summary>
    /// A rebuild also flushes (and records its checkpoint) once this long has passed since its last flush: a slow
    /// rebuild (rate-limited, or of scattered grains) keeps a recent checkpoint too.
    /// </summary>
    public TimeSpan RebuildFlushInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a replica that could not be opened is tried again (doubling up to 8 times this).</summary>
    public TimeSpan ReconnectInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>With writes since the last flush, the target flushes every replica this often, bounding what a replica's crash can take.</summary>
    public TimeSpan BackgroundFlushInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The replica reads go to while it is in sync (the one on the target's own node); otherwise reads are spread.</summary>
    public string? PreferredReplica { get; init; }

    public Action<string> Log { get; init; } = _ => { };
}
