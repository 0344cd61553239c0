namespace Strata.Control.Resources;

/// <summary>A disk a node agent found (OpenEBS NDM's BlockDevice, `kubectl get bd`).</summary>
public sealed class BlockDevice : Resource<BlockDeviceSpec, BlockDeviceStatus>
{
    public override ResourceKind Descriptor => ResourceKind.BlockDevice;
}

public sealed class BlockDeviceSpec
{
    public string Node { get; set; } = "";

    /// <summary>/dev/sdb, /dev/loop3, ...</summary>
    public string Path { get; set; } = "";

    public long CapacityBytes { get; set; }

    public int LogicalSectorSize { get; set; } = 512;

    public string? Model { get; set; }

    public string? Serial { get; set; }

    public string? Vendor { get; set; }

    /// <summary>disk, loop, ram, partition...</summary>
    public string DeviceType { get; set; } = "disk";

    public bool Partitioned { get; set; }

    public string? MountPoint { get; set; }

    public string? FileSystem { get; set; }

    /// <summary>Why the node will not build a pool on it (mounted, partitioned, held, a filesystem on it), or null.</summary>
    public string? Unusable { get; set; }
}

public sealed class BlockDeviceStatus
{
    /// <summary>Active (present on its node) or Unknown (its node is not reporting).</summary>
    public string? State { get; set; }

    /// <summary>Unclaimed, Claimed (a pool is built on it), or Unusable (mounted, partitioned or otherwise in use).</summary>
    public string? ClaimState { get; set; }

    /// <summary>Why it is unusable, in words.</summary>
    public string? Reason { get; set; }

    public string? ClaimedBy { get; set; }
}
