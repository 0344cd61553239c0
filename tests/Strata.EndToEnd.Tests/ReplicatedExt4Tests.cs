using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;
using static Strata.EndToEnd.Tests.Harness.ReplicatedVolumeRig;
using static Strata.EndToEnd.Tests.Harness.StrataCluster;

namespace Strata.EndToEnd.Tests;

/// <summary>
/// Issue 5, scenario 6: the seed's promise end to end. ext4 on a 2-replica volume through qemu-nbd (libiscsi),
/// nbdfuse and a loop device; each node's death costs one copy and no file.
/// </summary>
public sealed class ReplicatedExt4Tests(ITestOutputHelper output) : ReplicationTestBase(output, "replicated-ext4")
{
    /// <summary>
    /// Files written and synced; the node holding the other copy is killed and more files are written and synced on
    /// the one copy left; the file system is unmounted; the node comes back and its replica catches up; then the
    /// target's node is killed, the target moves to the caught-up replica's node, and the file system mounted there
    /// holds every file, and `e2fsck -fn` finds it clean.
    /// </summary>
    [Fact]
    public async Task Ext4_on_two_replicas_keeps_every_file_across_a_replica_loss_and_a_target_move()
    {
        await using var cluster = await StrataCluster.EtcdAsync(2, Log);
        var rig = new ReplicatedVolumeRig(cluster, Scratch, Log);
        var (volume, portal, iqn) = await rig.MakeVolumeAsync(2, size: "512Mi");
        string targetNode = Field(volume, "spec.targetNode")!;
        string other = Replicas(volume).Single(r => r.Node != targetNode).Node;
        var files = new FileSet(seed: 6);

        await using (var disk = await NbdLoopDisk.AttachAsync($"iscsi://{portal}/{iqn}/0", Directory.CreateDirectory(Scratch.File("first")).FullName, Log))
        {
            await disk.MkfsExt4Async();
            await disk.MountAsync();
            await files.WriteAsync(disk.MountPoint, 30, 4 << 20);
            await Tool.RunCheckedAsync("sync", ["-f", disk.MountPoint], TimeSpan.FromMinutes(2), log: Log);
            Log($"wrote and synced {files.Count} files on both copies");

            await cluster.KillNodeAsync(Index(other));
            await files.WriteAsync(disk.MountPoint, 10, 4 << 20);
            await Tool.RunCheckedAsync("sync", ["-f", disk.MountPoint], TimeSpan.FromMinutes(2), log: Log);
            await cluster.WaitForAsync("pv", items => InSync(items[0]).Count == 1, StepTimeout, $"{other}'s replica out of the in-sync set");
            Log($"{files.Count} files now, the last 10 on one copy");
            await disk.UnmountAsync();
        }

        cluster.StartNode(Index(other));
        await cluster.WaitForAsync("pv", items => InSync(items[0]).Count == 2 && Field(items[0], "status.state") == "Healthy", StepTimeout, $"{other}'s replica caught up");

        await cluster.KillNodeAsync(Index(targetNode));
        await cluster.WaitForAsync("pv", items => Field(items[0], "spec.targetNode") == other && Field(items[0], "spec.iscsi.targetPortal") != portal,
            StepTimeout, $"the target to move to {other}");
        var moved = (await cluster.ListAsync("pv"))[0];
        Log($"target moved to {other} at epoch {Field(moved, "status.epoch")}");

        await using (var disk = await NbdLoopDisk.AttachAsync($"iscsi://{Field(moved, "spec.iscsi.targetPortal")}/{iqn}/0", Directory.CreateDirectory(Scratch.File("second")).FullName, Log))
        {
            await disk.MountAsync();
            files.AssertIntact(disk.MountPoint, "after the target moved", cluster.Describe);
            await disk.UnmountAsync();
            files.AssertCleanFsck(await disk.FsckAsync(), cluster.Describe, Log);
        }
    }
}
