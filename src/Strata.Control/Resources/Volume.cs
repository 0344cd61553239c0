namespace Strata.Control.Resources;

/// <summary>A PersistentVolume (`kubectl get pv`): the volume made for a claim, its replicas and its iSCSI target.</summary>
public sealed class Volume : Resource<VolumeSpec, VolumeStatus>
{
    public override ResourceKind Descriptor => ResourceKind.Volume;

    /// <summary>The in-sync set; all the volume's replicas while none is recorded yet.</summary>
    public List<string> InSyncReplicas() => Status.InSync ?? Spec.Replicas.Select(r => r.Name).ToList();
}

public sealed class VolumeSpec
{
    /// <summary>"storage": the size as a quantity (1Gi).</summary>
    public Dictionary<string, string> Capacity { get; set; } = [];

    public long SizeBytes { get; set; }

    public List<string> AccessModes { get; set; } = [];

    /// <summary>Delete or Retain.</summary>
    public string PersistentVolumeReclaimPolicy { get; set; } = "Delete";

    public string? StorageClassName { get; set; }

    public string VolumeMode { get; set; } = "Filesystem";

    public ClaimReference? ClaimRef { get; set; }

    public int ReplicaCount { get; set; } = 1;

    /// <summary>
    /// Below this many in-sync replicas the target stops acknowledging writes (they fail after a bounded wait) rather
    /// than risk divergence: 1 for 1 or 2 replicas, 2 for 3 (a majority), unless the StorageClass says otherwise.
    /// </summary>
    public int MinInSync { get; set; } = 1;

    /// <summary>1 for one or two replicas (two: writes go on while one is away), a majority from three.</summary>
    public static int DefaultMinInSync(int replicas) => replicas <= 2 ? 1 : replicas / 2 + 1;

    /// <summary>The replicas (VolumeReplica names); the target writes to every one in <see cref="VolumeStatus.InSync"/>.</summary>
    public List<ReplicaPlacement> Replicas { get; set; } = [];

    /// <summary>The node whose portal serves the volume's target.</summary>
    public string? TargetNode { get; set; }

    public IscsiSource Iscsi { get; set; } = new();
}

public sealed class ClaimReference
{
    public string Namespace { get; set; } = "default";

    public string Name { get; set; } = "";

    public string? Uid { get; set; }
}

public sealed class ReplicaPlacement
{
    public string Name { get; set; } = "";

    public string Pool { get; set; } = "";

    public string Node { get; set; } = "";
}

/// <summary>The iSCSI source the seed's `kubectl describe pv` shows.</summary>
public sealed class IscsiSource
{
    public string? TargetPortal { get; set; }

    public string Iqn { get; set; } = "";

    public int Lun { get; set; }

    public string FsType { get; set; } = "ext4";

    public bool ReadOnly { get; set; }
}

public sealed class VolumeStatus
{
    /// <summary>Pending, Bound, Released, Failed.</summary>
    public string? Phase { get; set; }

    /// <summary>Healthy, Degraded, Offline, Pending: how the volume's data and target are.</summary>
    public string? State { get; set; }

    public string? Message { get; set; }

    /// <summary>The portal the target listens on now.</summary>
    public string? TargetPortal { get; set; }

    /// <summary>
    /// The target instance's epoch: each instance takes a new one (one more) before it opens the replicas, and the
    /// replicas refuse every older one (docs/replication.md).
    /// </summary>
    public long Epoch { get; set; }

    /// <summary>
    /// The replicas holding every acknowledged write. Changed only by compare-and-swap: by the target of the current
    /// epoch when one fails or one rebuilt rejoins. Null until the volume's replicas are first placed (all of them).
    /// </summary>
    public List<string>? InSync { get; set; }

    /// <summary>
    /// By replica out of the in-sync set: how many bytes from the volume's start its rebuild had made identical and
    /// durable when the target last recorded it; a new target resumes the rebuild there (docs/replication.md).
    /// </summary>
    public Dictionary<string, long>? RebuildCheckpoints { get; set; }

    public List<Condition>? Conditions { get; set; }
}
