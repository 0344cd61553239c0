namespace Strata.Control.Resources;

/// <summary>A PersistentVolume (`kubectl get pv`): the volume made for a claim, its replicas and its iSCSI target.</summary>
public sealed class Volume : Resource<VolumeSpec, VolumeStatus>
{
    public override ResourceKind Descriptor => ResourceKind.Volume;
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

    /// <summary>The replicas (VolumeReplica names), first one first: until replication is live, the target serves it alone.</summary>
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

    public List<Condition>? Conditions { get; set; }
}
