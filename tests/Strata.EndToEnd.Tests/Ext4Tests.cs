using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests;

/// <summary>A real ext4 on the LUN through qemu-nbd -> nbdfuse -> losetup, across a kill -9 of the target.</summary>
public sealed class Ext4Tests(ITestOutputHelper output) : IDisposable
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
        var files = new FileSet(seed: 7);
        await using (var disk = await NbdLoopDisk.AttachAsync(target.Url(), _scratch.Path, _log))
        {
            await disk.MkfsExt4Async();
            await disk.MountAsync();
            // 40 files, 1 byte to 8 MiB, in nested directories: about 70 MiB of known data.
            await files.WriteAsync(disk.MountPoint, 40, 8 << 20);
            await Tool.RunCheckedAsync("sync", ["-f", disk.MountPoint], TimeSpan.FromMinutes(2), log: _log);
            await disk.UnmountAsync();
            _log($"wrote {files.Count} files; umounted");

            // The synced data has to survive the target process dying without warning.
            await target.KillAndRestartAsync();
            _log($"{kind} restarted on the same file and port");

            await disk.DropCachesAsync();
            await disk.MountAsync();
            files.AssertIntact(disk.MountPoint, "across the restart", target.Describe);
            await disk.UnmountAsync();

            var fsck = await disk.FsckAsync();
            files.AssertCleanFsck(fsck, target.Describe, _log);
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
        files.AssertCleanFsck(fsckFile, target.Describe, _log);
    }
}
