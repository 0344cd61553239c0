namespace Strata.Control.Resources;

/// <summary>One replica of a volume: a volume in one pool on one node (the seed's CStorVolumeReplica, `kubectl get cvr`).</summary>
public sealed class VolumeReplica : Resource<VolumeReplicaSpec, VolumeReplicaStatus>
{
    public override ResourceKind Descriptor => ResourceKind.VolumeReplica;
}

public sealed class VolumeReplicaSpec
{
    public string Volume { get; set; } = "";

    public string Pool { get; set; } = "";

    public string Node { get; set; } = "";

    public long SizeBytes { get; set; }
}

public sealed class VolumeReplicaStatus
{
    /// <summary>
    /// Pending (not made yet), Healthy (in sync), Rebuilding (catching up), Degraded (out of sync, waiting to
    /// rebuild), Offline (its node is NotReady), Failed.
    /// </summary>
    public string? Phase { get; set; }

    /// <summary>Bytes the volume's data takes in the pool (its referenced chunks).</summary>
    public long UsedBytes { get; set; }

    /// <summary>Bytes of chunks only this replica holds.</summary>
    public long AllocatedBytes { get; set; }

    public DateTimeOffset? LastReported { get; set; }

    /// <summary>How the volume's target sees the replica (reported by the target's node); null while no target has opened it.</summary>
    public ReplicaSync? Sync { get; set; }

    public List<Condition>? Conditions { get; set; }
}

/// <summary>A replica as the volume's target sees it: in sync or not, why, and the rebuild in progress.</summary>
public sealed class ReplicaSync
{
    /// <summary>InSync, Rebuilding or Offline (out of the in-sync set).</summary>
    public string Role { get; set; } = "";

    public string? Reason { get; set; }

    /// <summary>The failure that last took it out of the set.</summary>
    public string? LastError { get; set; }

    /// <summary>The epoch of the target that reported this.</summary>
    public long Epoch { get; set; }

    public RebuildStatus? Rebuild { get; set; }

    /// <summary>The last rebuild that ended with the replica back in the set.</summary>
    public RebuildStatus? LastRebuild { get; set; }
}

/// <summary>A rebuild's progress: what part of the volume is gone over, bytes copied, rate and time left.</summary>
public sealed class RebuildStatus
{
    /// <summary>A full copy (a new replica, or one nothing is known of) or an incremental catch-up.</summary>
    public bool Full { get; set; }

    public long BytesDone { get; set; }

    public long BytesTotal { get; set; }

    public long BytesCopied { get; set; }

    public double BytesPerSecond { get; set; }

    public double? EtaSeconds { get; set; }

    /// <summary>How long a finished rebuild took.</summary>
    public double? Seconds { get; set; }
}
