using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>
/// Files of known content on a mounted file system: written in nested directories (d0..d4/sub0..sub2, so 20
/// directories once at least 15 files exist), each remembered by its SHA-256, and checked afterwards.
/// </summary>
public sealed partial class FileSet(int seed)
{
    private readonly Dictionary<string, string> _sums = [];
    private readonly Random _random = new(seed);

    public int Count => _sums.Count;

    /// <summary>Writes <paramref name="count"/> more files of 1 byte to <paramref name="maxBytes"/> (the first three of a set of
    /// 1, 4095 and 4097 bytes: a block's edges) under <paramref name="root"/>.</summary>
    public async Task WriteAsync(string root, int count, int maxBytes)
    {
        for (int n = 0; n < count; n++)
        {
            int i = _sums.Count;
            string rel = Path.Combine($"d{i % 5}", $"sub{i % 3}", $"f{i:D2}.bin");
            string path = Path.Combine(root, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            int len = i switch { 0 => 1, 1 => 4095, 2 => 4097, _ => _random.Next(1, maxBytes) };
            var data = new byte[len];
            _random.NextBytes(data);
            await File.WriteAllBytesAsync(path, data);
            _sums[rel] = Text.Sha256(data);
        }
    }

    /// <summary>Every file is there with its content, and no other *.bin file is.</summary>
    public void AssertIntact(string root, string when, Func<string> describe)
    {
        foreach (var (rel, sum) in _sums)
        {
            string path = Path.Combine(root, rel);
            Assert.True(File.Exists(path), $"{rel} is gone {when}\n{describe()}");
            Assert.True(sum == Text.Sha256File(path), $"{rel} changed {when}\n{describe()}");
        }
        Assert.Equal(_sums.Count, Directory.EnumerateFiles(root, "*.bin", SearchOption.AllDirectories).Count());
    }

    /// <summary>`e2fsck -fn` exited 0 and counts exactly the inodes this set made: 11 reserved, the files and their 20 directories.</summary>
    public void AssertCleanFsck(ToolResult fsck, Func<string> describe, Action<string> log)
    {
        Assert.True(fsck.ExitCode == 0, "e2fsck -fn found problems:\n" + fsck.Describe() + "\n" + describe());
        var m = FsckSummary().Match(fsck.Stdout);
        Assert.True(m.Success, "no e2fsck summary line:\n" + fsck.Describe());
        Assert.True(Count >= 15, "the directory count assumes at least 15 files");
        Assert.Equal(11 + Count + 5 + 15, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        log("e2fsck: " + m.Value);
    }

    [GeneratedRegex(@"(\d+)/\d+ files \([\d.]+% non-contiguous\), \d+/\d+ blocks")]
    private static partial Regex FsckSummary();
}
