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
    /// <summary>Pending (not made yet), Healthy, Degraded, Rebuilding, Offline, Failed.</summary>
    public string? Phase { get; set; }

    /// <summary>Bytes the volume's data takes in the pool (its referenced chunks).</summary>
    public long UsedBytes { get; set; }

    /// <summary>Bytes of chunks only this replica holds.</summary>
    public long AllocatedBytes { get; set; }

    public DateTimeOffset? LastReported { get; set; }

    public List<Condition>? Conditions { get; set; }
}
