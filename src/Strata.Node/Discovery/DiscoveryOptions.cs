namespace Strata.Node.Discovery;

/// <summary>
/// Where <see cref="DiskDiscovery"/> looks and which devices it reports (OpenEBS NDM's path filter and its
/// loop/ram exclusions). Devices of size 0, CD-ROMs (<c>sr*</c>) and floppies (<c>fd*</c>) are never reported;
/// neither are unattached loop devices nor hidden ones (<c>/sys/block/X/hidden</c>, e.g. NVMe multipath paths).
/// </summary>
/// <remarks>
/// A filter pattern that starts with <c>/</c> is matched against the device's path (<c>/dev/sdb</c>), any other
/// against its name (<c>sdb</c>). <c>*</c> matches any run of characters (none included), <c>?</c> exactly one;
/// every other character matches itself (ordinal). A pattern without wildcards matches exactly, so a prefix is
/// written with a trailing star: <c>/dev/sd*</c>, <c>/dev/loop*</c>, <c>nvme*n1</c>.
/// </remarks>
public sealed record DiscoveryOptions
{
    /// <summary>Where sysfs is mounted; devices are read from <c>{SysRoot}/block/*</c>.</summary>
    public string SysRoot { get; init; } = "/sys";

    /// <summary>Where procfs is mounted: <c>{ProcRoot}/self/mountinfo</c> and <c>{ProcRoot}/swaps</c>.</summary>
    public string ProcRoot { get; init; } = "/proc";

    /// <summary>udev's run directory: <c>{UdevRoot}/data/b{major}:{minor}</c>. Missing (containers): no file system type.</summary>
    public string UdevRoot { get; init; } = "/run/udev";

    /// <summary>When not empty, only devices matching one of these patterns are reported.</summary>
    public IReadOnlyList<string> Include { get; init; } = [];

    /// <summary>Devices matching one of these patterns are not reported, even when included.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>Report attached loop devices (<c>loop*</c>); they are skipped even when <see cref="Include"/> names them.</summary>
    public bool IncludeLoop { get; init; }

    /// <summary>Report RAM disks (<c>ram*</c>, <c>zram*</c>); they are skipped even when <see cref="Include"/> names them.</summary>
    public bool IncludeRam { get; init; }
}
