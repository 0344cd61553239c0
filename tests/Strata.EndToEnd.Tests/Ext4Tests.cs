using System.Text.RegularExpressions;
using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests;

/// <summary>A real ext4 on the LUN through qemu-nbd -> nbdfuse -> losetup, across a kill -9 of the target.</summary>
public sealed partial class Ext4Tests(ITestOutputHelper output) : IDisposable
{
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("ext4");

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData(Targets.Strata)]
    [InlineData(Targets.StrataPool)]
    [InlineData(Targets.Tgt)]
    public async Task Ext4_files_survive_a_kill9_of_the_target_and_fsck_is_clean(string kind)
    {
        await using var target = await TargetExtensions.StartAsync(kind, new TargetOptions { File = _scratch.File("ext4-lun.img") }, _log);
        var files = new Dictionary<string, string>();
        await using (var disk = await NbdLoopDisk.AttachAsync(target.Url(), _scratch.Path, _log))
        {
            await disk.MkfsExt4Async();
            await disk.MountAsync();
            // 40 files, 1 byte to 8 MiB, in nested directories: about 70 MiB of known data.
            var random = new Random(7);
            for (int i = 0; i < 40; i++)
            {
                string rel = Path.Combine($"d{i % 5}", $"sub{i % 3}", $"f{i:D2}.bin");
                string path = Path.Combine(disk.MountPoint, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                int len = i switch { 0 => 1, 1 => 4095, 2 => 4097, _ => random.Next(1, 8 << 20) };
                var data = new byte[len];
                random.NextBytes(data);
                await File.WriteAllBytesAsync(path, data);
                files[rel] = Text.Sha256(data);
            }
            await Tool.RunCheckedAsync("sync", ["-f", disk.MountPoint], TimeSpan.FromMinutes(2), log: _log);
            await disk.UnmountAsync();
            _log($"wrote {files.Count} files; umounted");

            // The synced data has to survive the target process dying without warning.
            await target.KillAndRestartAsync();
            _log($"{kind} restarted on the same file and port");

            await disk.DropCachesAsync();
            await disk.MountAsync();
            foreach (var (rel, sum) in files)
            {
                string path = Path.Combine(disk.MountPoint, rel);
                Assert.True(File.Exists(path), $"{rel} is gone after the restart\n{target.Describe()}");
                Assert.True(sum == Text.Sha256File(path), $"{rel} changed across the restart\n{target.Describe()}");
            }
            int found = Directory.EnumerateFiles(disk.MountPoint, "*.bin", SearchOption.AllDirectories).Count();
            Assert.Equal(files.Count, found);
            await disk.UnmountAsync();

            var fsck = await disk.FsckAsync();
            AssertCleanFsck(fsck, files.Count, target);
        }
        if (target is StrataTarget { } strata && kind == Targets.StrataPool)
        {
            // The pool under the volume, after the kill -9 and the restart: every invariant holds.
            Assert.Equal(0, await strata.StopAsync(TimeSpan.FromSeconds(60)));
            var check = await strata.CheckPoolAsync();
            Assert.True(check.ExitCode == 0, "strata pool check failed:\n" + check.Describe());
            return;
        }

        // With everything detached, the target's backing file itself holds the clean file system.
        var fsckFile = await Tool.RunAsync("e2fsck", ["-fn", target.BackingFile], TimeSpan.FromMinutes(5), log: _log);
        AssertCleanFsck(fsckFile, files.Count, target);
    }

    private void AssertCleanFsck(ToolResult fsck, int files, IIscsiTarget target)
    {
        Assert.True(fsck.ExitCode == 0, "e2fsck -fn found problems:\n" + fsck.Describe() + "\n" + target.Describe());
        var m = FsckSummary().Match(fsck.Stdout);
        Assert.True(m.Success, "no e2fsck summary line:\n" + fsck.Describe());
        // 11 inodes are reserved; then the files and the 5 + 15 directories this test made.
        Assert.Equal(11 + files + 5 + 15, int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        _log("e2fsck: " + m.Value);
    }

    [GeneratedRegex(@"(\d+)/\d+ files \([\d.]+% non-contiguous\), \d+/\d+ blocks")]
    private static partial Regex FsckSummary();
}
