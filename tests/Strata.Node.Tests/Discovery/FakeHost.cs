using Strata.Node.Discovery;

namespace Strata.Node.Tests.Discovery;

/// <summary>A fake sysfs, procfs and udev database in a temp directory, for <see cref="DiskDiscovery"/> to read.</summary>
internal sealed class FakeHost : IDisposable
{
    private readonly List<string> _mountInfo =
    [
        "22 27 0:21 / /proc rw,relatime - proc proc rw",
        "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw",
    ];

    private readonly List<string> _swaps = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"];

    public FakeHost()
    {
        Root = Directory.CreateTempSubdirectory("strata-node-").FullName;
        Directory.CreateDirectory(System.IO.Path.Combine(Root, "sys", "block"));
        Directory.CreateDirectory(System.IO.Path.Combine(Root, "proc", "self"));
        Directory.CreateDirectory(System.IO.Path.Combine(Root, "run", "udev", "data"));
    }

    public string Root { get; }

    public string Block(string name) => System.IO.Path.Combine(Root, "sys", "block", name);

    /// <summary>A whole device: <c>size</c> in 512-byte sectors, <c>dev</c>, <c>ro</c>, <c>removable</c>, an empty <c>holders/</c>, a queue.</summary>
    public string Device(string name, long sectors, string dev, int logicalBlockSize = 512, bool readOnly = false, bool removable = false)
    {
        var dir = Block(name);
        Write(dir, "size", $"{sectors}\n");
        Write(dir, "dev", $"{dev}\n");
        Write(dir, "ro", readOnly ? "1\n" : "0\n");
        Write(dir, "removable", removable ? "1\n" : "0\n");
        Write(dir, "queue/logical_block_size", $"{logicalBlockSize}\n");
        Directory.CreateDirectory(System.IO.Path.Combine(dir, "holders"));
        return dir;
    }

    public void Partition(string disk, string name, long sectors, string dev)
    {
        var dir = System.IO.Path.Combine(Block(disk), name);
        Write(dir, "partition", "1\n");
        Write(dir, "size", $"{sectors}\n");
        Write(dir, "dev", $"{dev}\n");
        Directory.CreateDirectory(System.IO.Path.Combine(dir, "holders"));
    }

    public void Holder(string disk, string holder) => Write(Block(disk), $"holders/{holder}", "");

    public void Mount(string dev, string mountPoint, string fsType, string source) =>
        _mountInfo.Add($"{_mountInfo.Count + 30} 1 {dev} / {mountPoint} rw,relatime shared:1 - {fsType} {source} rw");

    public void Swap(string path) => _swaps.Add($"{path}                               partition\t8388604\t\t0\t\t-2");

    public void Udev(string dev, params string[] lines) =>
        File.WriteAllLines(System.IO.Path.Combine(Root, "run", "udev", "data", "b" + dev), lines);

    public static void Write(string dir, string relative, string content)
    {
        var file = System.IO.Path.Combine(dir, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.WriteAllText(file, content);
    }

    public DiscoveryOptions Options(bool includeLoop = false, bool includeRam = false) => new()
    {
        SysRoot = System.IO.Path.Combine(Root, "sys"),
        ProcRoot = System.IO.Path.Combine(Root, "proc"),
        UdevRoot = System.IO.Path.Combine(Root, "run", "udev"),
        IncludeLoop = includeLoop,
        IncludeRam = includeRam,
    };

    /// <summary>Writes mountinfo and swaps, then discovers.</summary>
    public IReadOnlyList<DiscoveredDisk> Discover(DiscoveryOptions options)
    {
        File.WriteAllLines(System.IO.Path.Combine(Root, "proc", "self", "mountinfo"), _mountInfo);
        File.WriteAllLines(System.IO.Path.Combine(Root, "proc", "swaps"), _swaps);
        return new DiskDiscovery(options).Discover();
    }

    public IReadOnlyList<DiscoveredDisk> Discover() => Discover(Options());

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
