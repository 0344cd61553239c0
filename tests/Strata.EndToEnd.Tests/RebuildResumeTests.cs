using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;
using static Strata.EndToEnd.Tests.Harness.ReplicatedVolumeRig;
using static Strata.EndToEnd.Tests.Harness.StrataCluster;

namespace Strata.EndToEnd.Tests;

/// <summary>
/// A rebuild survives the restart of its target (issue 5: "rebuilds survive restarts of either side and resume where
/// they stopped"): the target records checkpoints in the volume's status as the rebuild's copies are flushed; a
/// target that takes over resumes there (docs/replication.md, "Resuming a rebuild").
/// </summary>
public sealed class RebuildResumeTests(ITestOutputHelper output) : ReplicationTestBase(output, "resume")
{
    /// <summary>
    /// Three replicas; one's node is killed while 96 MiB are written, then comes back and rebuilds at 8 MiB/s. Once the
    /// rebuild has recorded a third of the volume, the target's node is killed: the target moves to the third node,
    /// which resumes the rebuild at the checkpoint (it copies at most what lies above it), and nothing is lost.
    /// </summary>
    [Fact]
    public async Task A_rebuild_interrupted_by_the_targets_node_dying_resumes_at_its_checkpoint_on_the_new_target()
    {
        await using var cluster = await StrataCluster.EtcdAsync(3, Log, nodeArguments: _ => ["--rebuild-rate", "8Mi"]);
        var rig = new ReplicatedVolumeRig(cluster, Scratch, Log);
        const long size = 128L << 20;
        var (volume, portal, iqn) = await rig.MakeVolumeAsync(3, size: "128Mi");
        string pv = Field(volume, "metadata.name")!;
        string targetNode = Field(volume, "spec.targetNode")!;
        var (away, awayNode, _) = Replicas(volume).First(r => r.Node != targetNode);

        var nbd = await rig.AttachAsync(portal, iqn);
        var client = await nbd.ConnectAsync();
        var verifier = new BlockVerifier(client.Size, seed: 71);
        await cluster.KillNodeAsync(Index(awayNode));
        var written = await verifier.RunWritesAsync(client, new WriteLoad { Writes = 24_000, Depth = 16 });
        Assert.True(written.Failed == 0, string.Join("\n", verifier.ErrorLog));
        await cluster.WaitForAsync("pv", items => !InSync(items[0]).Contains(away), StepTimeout, $"{away} out of the in-sync set");
        await client.DisposeAsync();
        await nbd.DisposeAsync();

        cluster.StartNode(Index(awayNode));
        long checkpoint = 0;
        await cluster.WaitForAsync("pv", items => (checkpoint = Long(items[0], $"status.rebuildCheckpoints.{away}")) >= size / 3, StepTimeout,
            $"{away}'s rebuild recorded past a third of the volume");
        await cluster.KillNodeAsync(Index(targetNode));
        Log($"the target's node killed with {away}'s rebuild recorded at {checkpoint >> 20} MiB");

        await cluster.WaitForAsync("pv", items => Field(items[0], "spec.targetNode") is { } t && t != targetNode && Field(items[0], "spec.iscsi.targetPortal") != portal,
            StepTimeout, "the target to move");
        var moved = (await cluster.ListAsync("pv"))[0];
        string newTarget = Field(moved, "spec.targetNode")!;
        await Wait.UntilAsync(() => cluster.NodeOutput(Index(newTarget)).Contains($"replica {away} resumes its rebuild at", StringComparison.Ordinal), StepTimeout,
            $"the new target on {newTarget} to resume {away}'s rebuild", () => cluster.NodeOutput(Index(newTarget)));
        await cluster.WaitForAsync("pv", items => InSync(items[0]).Contains(away), StepTimeout, $"{away} back in the in-sync set");
        var rebuilt = await cluster.GetAsync("cvr", away);
        long copied = Long(rebuilt, "status.sync.lastRebuild.bytesCopied");
        Log($"{away}: {copied >> 10} KiB copied by the new target, above the checkpoint at {checkpoint >> 20} MiB");
        Assert.True(copied <= size - checkpoint + (4 << 20), $"the new target copied {copied} bytes; the checkpoint said {checkpoint} of {size} were done");

        await using var nbd2 = await rig.AttachAsync(Field(moved, "spec.iscsi.targetPortal")!, iqn);
        await using var client2 = await nbd2.ConnectAsync();
        await rig.VerifyCleanAsync(verifier, client2, "after the rebuild resumed on the new target");
    }
}
