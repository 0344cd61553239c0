namespace Strata.Control.Resources;

/// <summary>
/// The seed's StoragePoolClaim (openebs.io/v1alpha1): "make pools of this type on up to maxPools nodes".
/// https://github.com/openebs/openebs/blob/v0.9.0/k8s/openebs-operator.yaml (the CRD) is the shape accepted.
/// </summary>
public sealed class StoragePoolClaim : Resource<StoragePoolClaimSpec, StoragePoolClaimStatus>
{
    public override ResourceKind Descriptor => ResourceKind.StoragePoolClaim;
}

public sealed class StoragePoolClaimSpec
{
    /// <summary>The seed repeats the claim's name here; optional.</summary>
    public string? Name { get; set; }

    /// <summary>"sparse" (files of the node's default size in its data directory) or "disk" (block devices).</summary>
    public string Type { get; set; } = "";

    /// <summary>Pools to make, each on its own node; required for sparse claims. Disk claims default to one per node with listed devices.</summary>
    public int? MaxPools { get; set; }

    /// <summary>Accepted for compatibility: the fewest pools that make the claim Online.</summary>
    public int? MinPools { get; set; }

    public PoolSpec PoolSpec { get; set; } = new();

    /// <summary>OpenEBS 1.x: the block devices (BlockDevice names) to build pools of.</summary>
    public BlockDeviceSelection? BlockDevices { get; set; }

    /// <summary>OpenEBS 0.9: the disks (BlockDevice names) to build pools of.</summary>
    public DiskSelection? Disks { get; set; }
}

public sealed class PoolSpec
{
    /// <summary>"striped" or "mirrored".</summary>
    public string PoolType { get; set; } = "striped";

    /// <summary>Accepted for compatibility; pools are always thin.</summary>
    public bool? ThickProvisioning { get; set; }

    /// <summary>Accepted for compatibility; placement never promises more than a pool's capacity unless true.</summary>
    public bool? OverProvisioning { get; set; }

    /// <summary>Accepted for compatibility (cStor's compression); Strata does not compress.</summary>
    public string? Compression { get; set; }
}

public sealed class BlockDeviceSelection
{
    public List<string> BlockDeviceList { get; set; } = [];
}

public sealed class DiskSelection
{
    public List<string> DiskList { get; set; } = [];
}

public sealed class StoragePoolClaimStatus
{
    /// <summary>Pending, Online (all pools made), Deleting.</summary>
    public string? Phase { get; set; }

    public List<Condition>? Conditions { get; set; }
}
