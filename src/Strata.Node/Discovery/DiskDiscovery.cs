using System.Globalization;
using System.Text;

namespace Strata.Node.Discovery;

/// <summary>
/// Finds this node's block devices, like OpenEBS NDM: every whole device in <c>/sys/block</c>, with what sysfs
/// says about it, whether it is in use (mounted, swap, partitioned, held by dm/md, a file system on it) from
/// procfs and udev's database, filtered by <see cref="DiscoveryOptions"/> and sorted by name (ordinal).
/// </summary>
/// <remarks>
/// One device that cannot be read never fails discovery: a device whose <c>size</c> cannot be read is skipped,
/// any other unreadable attribute is left at its default. Discovery fails only when the device list itself
/// (<c>/sys/block</c>) or the mount table cannot be read, since without them nothing can be said safely.
/// </remarks>
public sealed class DiskDiscovery
{
    private const int SectorBytes = 512;

    private readonly DiscoveryOptions _options;

    public DiskDiscovery(DiscoveryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    public DiskDiscovery()
        : this(new DiscoveryOptions())
    {
    }

    public IReadOnlyList<DiscoveredDisk> Discover()
    {
        var blockRoot = Path.Combine(_options.SysRoot, "block");
        if (!Directory.Exists(blockRoot))
        {
            throw new DirectoryNotFoundException($"No block devices to discover: {blockRoot} does not exist (is sysfs mounted?).");
        }

        var mounts = MountTable.ParseMountInfo(File.ReadLines(Path.Combine(_options.ProcRoot, "self", "mountinfo")));
        var swaps = ReadSwaps();

        var disks = new List<DiscoveredDisk>();
        foreach (var directory in Directory.EnumerateFileSystemEntries(blockRoot))
        {
            var name = Path.GetFileName(directory);
            if (!IsCandidate(name))
            {
                continue;
            }

            DiscoveredDisk? disk;
            try
            {
                disk = Read(directory, name, mounts, swaps);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The device went away while we read it, or sysfs refused: it is not one to offer.
                disk = null;
            }

            if (disk is not null)
            {
                disks.Add(disk);
            }
        }

        disks.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return disks;
    }

    /// <summary>The filters that need only the name: type exclusions and the include/exclude patterns.</summary>
    private bool IsCandidate(string name)
    {
        if (name.StartsWith("sr", StringComparison.Ordinal) || name.StartsWith("fd", StringComparison.Ordinal))
        {
            return false;
        }

        var type = TypeFromName(name);
        if ((type == DeviceTypes.Loop && !_options.IncludeLoop) || (type == DeviceTypes.Ram && !_options.IncludeRam))
        {
            return false;
        }

        var path = DevicePath(name);
        if (_options.Include.Count > 0 && !DevicePattern.MatchesAny(_options.Include, name, path))
        {
            return false;
        }

        return !DevicePattern.MatchesAny(_options.Exclude, name, path);
    }

    private DiscoveredDisk? Read(string directory, string name, IReadOnlyList<MountEntry> mounts, IReadOnlyList<string> swaps)
    {
        var sectors = ReadLong(Path.Combine(directory, "size"));
        if (sectors is not > 0 || sectors > long.MaxValue / SectorBytes || ReadLong(Path.Combine(directory, "hidden")) == 1)
        {
            return null;
        }

        var type = TypeOf(directory, name);
        string? backingFile = null;
        if (type == DeviceTypes.Loop)
        {
            backingFile = ReadText(Path.Combine(directory, "loop", "backing_file"));
            if (backingFile is null)
            {
                return null;
            }
        }

        var path = DevicePath(name);
        var deviceNumber = ReadText(Path.Combine(directory, "dev"));
        var partitions = ReadPartitions(directory);

        // The device itself first, then its partitions: the mount table's order within each.
        var names = new List<(string Path, string? DeviceNumber)> { (path, deviceNumber) };
        names.AddRange(partitions.Select(p => (DevicePath(p.Name), p.DeviceNumber)));
        string? mountPoint = null;
        foreach (var (devicePath, number) in names)
        {
            var mount = mounts.FirstOrDefault(m => (number is not null && m.DeviceNumber == number) || m.Source == devicePath);
            if (mount is not null)
            {
                mountPoint = mount.MountPoint;
                break;
            }
        }

        var udev = deviceNumber is null ? null : ReadUdev(deviceNumber);
        return new DiscoveredDisk
        {
            Name = name,
            Path = path,
            DeviceNumber = deviceNumber,
            SizeBytes = sectors.Value * SectorBytes,
            LogicalSectorSize = (int?)ReadLong(Path.Combine(directory, "queue", "logical_block_size")) ?? SectorBytes,
            Model = ReadText(Path.Combine(directory, "device", "model")) ?? Udev(udev, "ID_MODEL"),
            Serial = ReadText(Path.Combine(directory, "device", "serial"))
                ?? ReadText(Path.Combine(directory, "serial"))
                ?? ReadVpdSerial(Path.Combine(directory, "device", "vpd_pg80"))
                ?? Udev(udev, "ID_SERIAL_SHORT"),
            Vendor = ReadText(Path.Combine(directory, "device", "vendor")) ?? Udev(udev, "ID_VENDOR"),
            DeviceType = type,
            Partitions = partitions.Select(p => p.Name).ToArray(),
            MountPoint = mountPoint,
            Swap = names.Any(n => swaps.Contains(n.Path, StringComparer.Ordinal)),
            FileSystem = Udev(udev, "ID_FS_TYPE"),
            Holders = ReadNames(Path.Combine(directory, "holders")),
            Removable = ReadLong(Path.Combine(directory, "removable")) == 1,
            ReadOnly = ReadLong(Path.Combine(directory, "ro")) == 1,
            BackingFile = backingFile,
        };
    }

    private IReadOnlyList<string> ReadSwaps()
    {
        try
        {
            return MountTable.ParseSwaps(File.ReadLines(Path.Combine(_options.ProcRoot, "swaps")));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No /proc/swaps: a kernel without swap support, so nothing is swap.
            return [];
        }
    }

    private Dictionary<string, string>? ReadUdev(string deviceNumber)
    {
        // udev's database: one file per device, "E:KEY=value" lines for its properties.
        var file = Path.Combine(_options.UdevRoot, "data", "b" + deviceNumber);
        try
        {
            var properties = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var line in File.ReadLines(file))
            {
                var equals = line.IndexOf('=', StringComparison.Ordinal);
                if (line.StartsWith("E:", StringComparison.Ordinal) && equals > 2)
                {
                    properties[line[2..equals]] = line[(equals + 1)..];
                }
            }

            return properties;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? Udev(Dictionary<string, string>? properties, string key) =>
        properties is not null && properties.TryGetValue(key, out var value) ? Clean(value) : null;

    /// <summary>Partitions are the subdirectories with a <c>partition</c> file (<c>sdb/sdb1/partition</c>).</summary>
    private static List<(string Name, string? DeviceNumber)> ReadPartitions(string directory)
    {
        var partitions = new List<(string Name, string? DeviceNumber)>();
        foreach (var sub in Directory.EnumerateDirectories(directory))
        {
            if (File.Exists(Path.Combine(sub, "partition")))
            {
                partitions.Add((Path.GetFileName(sub), ReadText(Path.Combine(sub, "dev"))));
            }
        }

        partitions.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return partitions;
    }

    private static string TypeOf(string directory, string name)
    {
        // dm and md devices have a subdirectory named for their driver whatever they are called.
        if (Directory.Exists(Path.Combine(directory, "dm")))
        {
            return DeviceTypes.Dm;
        }

        if (Directory.Exists(Path.Combine(directory, "md")))
        {
            return DeviceTypes.Md;
        }

        return TypeFromName(name);
    }

    private static string TypeFromName(string name)
    {
        if (name.StartsWith("loop", StringComparison.Ordinal))
        {
            return DeviceTypes.Loop;
        }

        if (name.StartsWith("ram", StringComparison.Ordinal) || name.StartsWith("zram", StringComparison.Ordinal))
        {
            return DeviceTypes.Ram;
        }

        if (name.StartsWith("dm-", StringComparison.Ordinal))
        {
            return DeviceTypes.Dm;
        }

        if (name.StartsWith("md", StringComparison.Ordinal))
        {
            return DeviceTypes.Md;
        }

        return DeviceTypes.Disk;
    }

    /// <summary>sysfs writes a <c>/</c> in a device name as <c>!</c>: <c>cciss!c0d0</c> is <c>/dev/cciss/c0d0</c>.</summary>
    private static string DevicePath(string name) => "/dev/" + name.Replace('!', '/');

    private static IReadOnlyList<string> ReadNames(string directory)
    {
        try
        {
            var names = Directory.EnumerateFileSystemEntries(directory).Select(Path.GetFileName).OfType<string>().ToList();
            names.Sort(StringComparer.Ordinal);
            return names;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static long? ReadLong(string file) =>
        long.TryParse(ReadText(file), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    /// <summary>A sysfs attribute, trimmed; null when missing, unreadable or blank.</summary>
    private static string? ReadText(string file)
    {
        try
        {
            return Clean(File.ReadAllText(file));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>SCSI VPD page 0x80 (Unit Serial Number): a 4-byte header whose bytes 2-3 are the length, then ASCII.</summary>
    private static string? ReadVpdSerial(string file)
    {
        try
        {
            var page = File.ReadAllBytes(file);
            if (page.Length < 4 || page[1] != 0x80)
            {
                return null;
            }

            var length = Math.Min((page[2] << 8) | page[3], page.Length - 4);
            return Clean(Encoding.ASCII.GetString(page, 4, length));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Trims white space and NULs (SCSI pads with both); blank is null.</summary>
    private static string? Clean(string? text)
    {
        var trimmed = text?.Trim().Trim('\0').Trim();
        return string.IsNullOrEmpty(trimmed) ? null : trimmed;
    }
}
