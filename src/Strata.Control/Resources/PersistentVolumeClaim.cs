namespace Strata.Control.Resources;

/// <summary>A Kubernetes v1 PersistentVolumeClaim: a request for a volume of a StorageClass.</summary>
public sealed class PersistentVolumeClaim : Resource<PersistentVolumeClaimSpec, PersistentVolumeClaimStatus>
{
    public override ResourceKind Descriptor => ResourceKind.PersistentVolumeClaim;
}

public sealed class PersistentVolumeClaimSpec
{
    /// <summary>ReadWriteOnce (RWO) and the others; an iSCSI LUN with a filesystem is ReadWriteOnce.</summary>
    public List<string> AccessModes { get; set; } = [];

    public string? StorageClassName { get; set; }

    public VolumeResourceRequirements Resources { get; set; } = new();

    /// <summary>Filesystem (the default) or Block.</summary>
    public string? VolumeMode { get; set; }

    /// <summary>Set by the control plane when bound.</summary>
    public string? VolumeName { get; set; }
}

public sealed class VolumeResourceRequirements
{
    /// <summary>"storage": a Kubernetes quantity such as 1Gi.</summary>
    public Dictionary<string, string> Requests { get; set; } = [];

    public Dictionary<string, string>? Limits { get; set; }
}

public sealed class PersistentVolumeClaimStatus
{
    /// <summary>Pending, Bound, Lost.</summary>
    public string? Phase { get; set; }

    public List<string>? AccessModes { get; set; }

    public Dictionary<string, string>? Capacity { get; set; }

    public List<Condition>? Conditions { get; set; }
}
