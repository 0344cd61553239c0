namespace Strata.Control.Resources;

/// <summary>One pool on one node (the seed's CStorPool, `kubectl get csp`).</summary>
public sealed class StoragePool : Resource<StoragePoolSpec, StoragePoolStatus>
{
    public override ResourceKind Descriptor => ResourceKind.StoragePool;
}

public sealed class StoragePoolSpec
{
    /// <summary>The StoragePoolClaim this pool was made for.</summary>
    public string Claim { get; set; } = "";

    public string Node { get; set; } = "";

    /// <summary>"sparse" or "disk".</summary>
    public string Type { get; set; } = "sparse";

    /// <summary>"striped" or "mirrored".</summary>
    public string PoolType { get; set; } = "striped";

    /// <summary>For disk pools, the device paths on the node; sparse pools' files are the node's to choose.</summary>
    public List<string> Devices { get; set; } = [];

    /// <summary>For disk pools, the BlockDevice resources these paths came from.</summary>
    public List<string> BlockDevices { get; set; } = [];

    public bool OverProvisioning { get; set; }
}

public sealed class StoragePoolStatus
{
    /// <summary>Pending (not made yet), Healthy, Degraded, Offline (its node is NotReady), Failed.</summary>
    public string? Phase { get; set; }

    public long CapacityBytes { get; set; }

    public long AllocatedBytes { get; set; }

    public long FreeBytes { get; set; }

    /// <summary>The vdev files or devices the node made the pool of.</summary>
    public List<string>? Vdevs { get; set; }

    public DateTimeOffset? LastReported { get; set; }

    public List<Condition>? Conditions { get; set; }
}
