namespace Strata.Node.Discovery;

/// <summary>The values <see cref="DiscoveredDisk.DeviceType"/> takes.</summary>
public static class DeviceTypes
{
    public const string Disk = "disk";
    public const string Loop = "loop";
    public const string Ram = "ram";
    public const string Md = "md";
    public const string Dm = "dm";

    /// <summary>Not reported by <see cref="DiskDiscovery"/> today: it lists whole devices, a partition shows as <see cref="DiscoveredDisk.Partitions"/>.</summary>
    public const string Partition = "partition";
}

/// <summary>
/// One block device of this node as <see cref="DiskDiscovery"/> found it in sysfs, procfs and udev's database
/// (NDM's BlockDevice). Strings read from the kernel are trimmed; an empty or unreadable one is null.
/// </summary>
public sealed record DiscoveredDisk
{
    /// <summary>The kernel's name: <c>sdb</c>, <c>nvme0n1</c>, <c>loop3</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The device node: <c>/dev/sdb</c> (a <c>!</c> in the kernel name is a <c>/</c>: <c>cciss!c0d0</c> is <c>/dev/cciss/c0d0</c>).</summary>
    public required string Path { get; init; }

    /// <summary>Major and minor number, <c>8:16</c>; null when sysfs did not say.</summary>
    public string? DeviceNumber { get; init; }

    public long SizeBytes { get; init; }

    /// <summary>From <c>queue/logical_block_size</c>; 512 when it cannot be read.</summary>
    public int LogicalSectorSize { get; init; } = 512;

    public string? Model { get; init; }

    public string? Serial { get; init; }

    public string? Vendor { get; init; }

    /// <summary>One of <see cref="DeviceTypes"/>.</summary>
    public required string DeviceType { get; init; }

    /// <summary>Names of its partitions (<c>sdb1</c>, <c>sdb2</c>), in kernel-name order.</summary>
    public IReadOnlyList<string> Partitions { get; init; } = [];

    public bool Partitioned => Partitions.Count > 0;

    /// <summary>Where the device, or the first of its partitions found in <c>/proc/self/mountinfo</c>, is mounted.</summary>
    public string? MountPoint { get; init; }

    /// <summary>The device or one of its partitions is listed in <c>/proc/swaps</c>.</summary>
    public bool Swap { get; init; }

    /// <summary>The file system (or other signature: <c>LVM2_member</c>, <c>linux_raid_member</c>) udev found on the device itself.</summary>
    public string? FileSystem { get; init; }

    /// <summary>Devices stacked on this one (<c>holders/</c>): <c>dm-0</c>, <c>md127</c>.</summary>
    public IReadOnlyList<string> Holders { get; init; } = [];

    public bool Removable { get; init; }

    public bool ReadOnly { get; init; }

    /// <summary>For a loop device, the file it is attached to (<c>loop/backing_file</c>); otherwise null.</summary>
    public string? BackingFile { get; init; }

    /// <summary>True when a pool must not take the device: see <see cref="UnusableReason"/>.</summary>
    public bool InUse => UnusableReason is not null;

    /// <summary>
    /// Why a pool must not take the device, or null when it may: "mounted at /", "used as swap",
    /// "has partitions (sda1, sda2)", "held by dm-0", "has file system ext4", "read-only", "size 0";
    /// several reasons are joined with "; ".
    /// </summary>
    public string? UnusableReason
    {
        get
        {
            var reasons = new List<string>();
            if (MountPoint is not null)
            {
                reasons.Add($"mounted at {MountPoint}");
            }

            if (Swap)
            {
                reasons.Add("used as swap");
            }

            if (Partitioned)
            {
                reasons.Add($"has partitions ({string.Join(", ", Partitions)})");
            }

            if (Holders.Count > 0)
            {
                reasons.Add($"held by {string.Join(", ", Holders)}");
            }

            if (FileSystem is not null)
            {
                reasons.Add($"has file system {FileSystem}");
            }

            if (ReadOnly)
            {
                reasons.Add("read-only");
            }

            if (SizeBytes <= 0)
            {
                reasons.Add("size 0");
            }

            return reasons.Count == 0 ? null : string.Join("; ", reasons);
        }
    }
}
