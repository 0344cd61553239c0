using System.Globalization;
using System.Text.RegularExpressions;
using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests;

/// <summary>qemu's own iSCSI client (libiscsi inside qemu-img and qemu-io) writing and reading real data.</summary>
public sealed partial class QemuTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(5);
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("qemu");

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData(Targets.Strata, false)]
    [InlineData(Targets.Strata, true)]
    [InlineData(Targets.StrataPool, false)]
    [InlineData(Targets.Tgt, false)]
    public async Task A_256MiB_random_image_converts_onto_the_lun_and_compares_byte_for_byte(string kind, bool direct)
    {
        const int size = 256 << 20;
        string image = _scratch.File("random.bin");
        var data = new byte[size];
        new Random(20261126).NextBytes(data);
        await File.WriteAllBytesAsync(image, data);
        string expected = Text.Sha256(data);

        // direct: the target opens its file with O_DIRECT (strata --direct), bypassing the page cache.
        await using var target = await TargetExtensions.StartAsync(kind, new TargetOptions { File = _scratch.File("qemu-lun.img"), Direct = direct }, _log);
        var convert = await Tool.RunCheckedAsync("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", "-t", "none", image, target.Url()], s_timeout, log: _log);
        _log($"qemu-img convert of 256 MiB took {convert.Elapsed.TotalSeconds:F1} s");

        // compare reads the whole LUN back: the 256 MiB must match and the unwritten 768 MiB after them must read as zeros.
        var compare = await Tool.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", "-T", "none", image, target.Url()], s_timeout, log: _log);
        _log($"qemu-img compare took {compare.Elapsed.TotalSeconds:F1} s");
        Assert.True(compare.ExitCode == 0 && compare.Stdout.Contains("Images are identical.", StringComparison.Ordinal),
            "qemu-img compare found a difference:\n" + compare.Describe() + "\n" + target.Describe());

        if (kind == Targets.StrataPool)
        {
            // A pool volume's data is spread over chunks; what matters is that the pool under it checks clean.
            var strata = (StrataTarget)target;
            Assert.Equal(0, await strata.StopAsync(TimeSpan.FromSeconds(60)));
            var check = await strata.CheckPoolAsync();
            Assert.True(check.ExitCode == 0 && check.Stdout.Contains("ALLOCATED 4096 ", StringComparison.Ordinal),
                "strata pool check failed, or does not count 256 MiB in 64 KiB chunks:\n" + check.Describe());
            return;
        }

        // And the data is where the target keeps it: the first 256 MiB of its backing file.
        await using (var f = File.OpenRead(target.BackingFile))
        {
            var head = new byte[size];
            await f.ReadExactlyAsync(head);
            Assert.Equal(expected, Text.Sha256(head));
        }
    }

    [Theory]
    [MemberData(nameof(Targets.Both), MemberType = typeof(Targets))]
    public async Task Qemu_io_patterns_land_at_their_offsets_and_nowhere_else(string kind)
    {
        await using var target = await TargetExtensions.StartAsync(kind, new TargetOptions { File = _scratch.File("qemu-io-lun.img") }, _log);
        const long lastSector = (1L << 30) - 512;
        // (offset, length, pattern): small, unaligned to 4 KiB, large (many Data-Out PDUs and R2Ts), and the LUN's last sector.
        (long Offset, long Length, int Pattern)[] writes =
        [
            (0, 4096, 0x11), (4096 + 512, 3 * 512, 0x22), (1 << 20, 64 << 10, 0x33), (100L << 20, 8 << 20, 0x44),
            ((512L << 20) + 512, 512, 0x55), (lastSector - 4096, 4096, 0x66), (lastSector, 512, 0x77),
        ];
        var commands = new List<string>();
        foreach (var w in writes) commands.Add($"write -P 0x{w.Pattern:x2} {w.Offset} {w.Length}");
        // Overwrite the middle of one region: its neighbours must keep their pattern.
        commands.Add($"write -P 0x99 {(100L << 20) + (4 << 20)} 4096");
        foreach (var w in writes.Where(w => w.Offset != 100L << 20)) commands.Add($"read -P 0x{w.Pattern:x2} {w.Offset} {w.Length}");
        commands.Add($"read -P 0x44 {100L << 20} {4 << 20}");
        commands.Add($"read -P 0x99 {(100L << 20) + (4 << 20)} 4096");
        commands.Add($"read -P 0x44 {(100L << 20) + (4 << 20) + 4096} {(4 << 20) - 4096}");
        // Never-written space between the regions reads as zeros.
        commands.Add($"read -P 0 {4096} 512");
        commands.Add($"read -P 0 {(1 << 20) + (64 << 10)} {1 << 20}");
        commands.Add($"read -P 0 {(200L << 20)} {1 << 20}");
        // Discard (UNMAP) of a whole written MiB: it reads as zeros afterwards (LBPRZ).
        commands.Add($"write -P 0xaa {300L << 20} {1 << 20}");
        commands.Add($"discard {300L << 20} {1 << 20}");
        commands.Add($"read -P 0 {300L << 20} {1 << 20}");
        commands.Add("flush");

        var args = new List<string> { "-f", "raw", "-t", "none" };
        foreach (string c in commands) args.AddRange(["-c", c]);
        args.Add(target.Url());
        var run = await Tool.RunAsync("qemu-io", args, s_timeout, log: _log);
        string all = run.Stdout + run.Stderr;
        string context = run.Describe() + "\n" + target.Describe();
        var mismatches = MismatchLine().Matches(all).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        if (mismatches.Contains(300L << 20))
            Assert.Fail("after a discard (UNMAP) of 1 MiB the range does not read as zeros. qemu sends no UNMAP at all when the target " +
                "does not advertise it (LBPME in READ CAPACITY 16, LBPU in the Logical Block Provisioning VPD), and reports the discard as done; " +
                "or the target unmapped without zeroing (LBPRZ).\n" + context);
        Assert.True(mismatches.Count == 0, $"pattern mismatches at offsets {string.Join(", ", mismatches)}:\n{context}");
        Assert.True(run.Succeeded, context);
        Assert.DoesNotContain("failed", all, StringComparison.OrdinalIgnoreCase);
        int wrote = WroteLine().Matches(run.Stdout).Count;
        int read = ReadLine().Matches(run.Stdout).Count;
        int discarded = DiscardLine().Matches(run.Stdout).Count;
        Assert.True(wrote == commands.Count(c => c.StartsWith("write", StringComparison.Ordinal)), $"{wrote} writes completed:\n{context}");
        Assert.True(read == commands.Count(c => c.StartsWith("read", StringComparison.Ordinal)), $"{read} reads completed:\n{context}");
        Assert.True(discarded == 1, $"{discarded} discards completed:\n{context}");

        // The backing file agrees byte for byte with what qemu-io wrote.
        await using var f = File.OpenRead(target.BackingFile);
        foreach (var w in writes.Where(w => w.Offset != 100L << 20))
        {
            var buf = new byte[w.Length];
            f.Position = w.Offset;
            await f.ReadExactlyAsync(buf);
            Assert.True(buf.All(b => b == w.Pattern), $"the backing file does not hold 0x{w.Pattern:x2} at {w.Offset}+{w.Length}");
        }
    }

    /// <summary>Many commands in flight at once (what a benchmark or a busy file system does): 200000 4 KiB writes at
    /// queue depth 32 with a known pattern, every byte read back, then the same at queue depth 32 as reads.</summary>
    [Theory]
    [MemberData(nameof(Targets.Both), MemberType = typeof(Targets))]
    public async Task Queue_depth_32_writes_and_reads_complete_and_land(string kind)
    {
        await using var target = await TargetExtensions.StartAsync(kind, new TargetOptions { File = _scratch.File("qd32-lun.img") }, _log);
        const int count = 200_000; // 800 MB of 4 KiB requests: a race that hits one command in 10^5 shows up
        var step = TimeSpan.FromMinutes(2); // tgt needs ~15 s per step here; a target that dies must not cost 5 minutes
        string[] common = ["bench", "-f", "raw", "-c", $"{count}", "-d", "32", "-s", "4k", "-S", "4k", "-t", "none", "-i", "native"];
        var write = await Tool.RunAsync("qemu-img", [.. common, "-w", "--pattern=0x5c", target.Url()], step, log: _log);
        Assert.True(write.Succeeded, "4 KiB writes at QD32 failed:\n" + write.Describe() + "\n" + Text.Tail(target.Describe(), 8000));
        _log(write.Stdout.Trim());
        var verify = await Tool.RunAsync("qemu-io", ["-f", "raw", "-t", "none", "-c", $"read -P 0x5c 0 {count * 4096L}", "-c", $"read -P 0 {count * 4096L} 1M", target.Url()], step, log: _log);
        Assert.True(verify.Succeeded && !verify.Stdout.Contains("Pattern verification failed", StringComparison.Ordinal),
            "the QD32 writes did not all land:\n" + verify.Describe() + "\n" + Text.Tail(target.Describe(), 8000));
        var read = await Tool.RunAsync("qemu-img", [.. common, target.Url()], step, log: _log);
        Assert.True(read.Succeeded, "4 KiB reads at QD32 failed:\n" + read.Describe() + "\n" + Text.Tail(target.Describe(), 8000));
        _log(read.Stdout.Trim());
        // And the target is still there and says nothing went wrong.
        Assert.True(await Ports.CanConnectAsync(target.Host, target.Port), "the target stopped listening:\n" + target.Describe());
        if (target is StrataTarget strata)
            Assert.False(strata.Process.Output.Contains(" failed: ", StringComparison.Ordinal), "strata logged failed tasks:\n" + Text.Tail(strata.Describe(), 8000));
    }

    [GeneratedRegex(@"Pattern verification failed at offset (\d+)")]
    private static partial Regex MismatchLine();

    [GeneratedRegex(@"^wrote (\d+)/\1 bytes at offset", RegexOptions.Multiline)]
    private static partial Regex WroteLine();

    [GeneratedRegex(@"^read (\d+)/\1 bytes at offset", RegexOptions.Multiline)]
    private static partial Regex ReadLine();

    [GeneratedRegex(@"^discard (\d+)/\1 bytes at offset", RegexOptions.Multiline)]
    private static partial Regex DiscardLine();
}
