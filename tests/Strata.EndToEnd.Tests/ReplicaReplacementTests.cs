using System.Text.Json.Nodes;
using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;
using static Strata.EndToEnd.Tests.Harness.ReplicatedVolumeRig;
using static Strata.EndToEnd.Tests.Harness.StrataCluster;

namespace Strata.EndToEnd.Tests;

/// <summary>
/// Issue 5, scenario 4: the control plane replaces a replica whose node stays away past the replacement timeout
/// with a new one on another node's pool, which gets a full copy while writes go on. Real processes: etcd, `strata
/// control --replica-replace-seconds 3`, one `strata node` per replica plus a spare; the verifier writes through
/// qemu-nbd (libiscsi) to the target and reads every block back.
/// </summary>
public sealed class ReplicaReplacementTests(ITestOutputHelper output) : ReplicationTestBase(output, "replacement")
{
    /// <summary>
    /// A node gone past the timeout gets its replica replaced on a fourth (or third) node; full rebuild; the volume is
    /// back to N healthy replicas, no I/O error reached the initiator, and the whole volume reads back clean. The old
    /// replica's record stays, marked deleting, until the node finally returns: then it deletes the replaced replica's
    /// data and the record goes.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_node_gone_past_the_timeout_gets_its_replica_replaced_on_the_spare_node_with_a_full_copy(int replicas)
    {
        await using var cluster = await StrataCluster.EtcdAsync(replicas + 1, Log, controlArguments: ["--replica-replace-seconds", "3"]);
        var rig = new ReplicatedVolumeRig(cluster, Scratch, Log);
        var (volume, portal, iqn) = await rig.MakeVolumeAsync(replicas, pools: replicas + 1);
        string targetNode = Field(volume, "spec.targetNode")!;
        var before = Replicas(volume);
        var victim = before.First(r => r.Node != targetNode);
        string spare = Enumerable.Range(0, cluster.NodeCount).Select(NodeName).Single(n => before.All(r => r.Node != n));
        Log($"replicas on {string.Join(", ", before.Select(r => r.Node))}; target on {targetNode}; {victim.Node} goes, {spare} is the spare");

        await using var nbd = await rig.AttachAsync(portal, iqn);
        await using var client = await nbd.ConnectAsync();
        var verifier = new BlockVerifier(client.Size, seed: 40 + replicas);

        // Writes go on while the node is killed, stays away, and its replica is replaced and rebuilt elsewhere.
        using var stop = new CancellationTokenSource();
        var run = await WritesGoingOnAsync(verifier, client, stop.Token);
        await cluster.KillNodeAsync(Index(victim.Node));

        await cluster.WaitForAsync("pv", items => Replicas(items[0]) is var now && now.Count == replicas
            && now.All(r => r.Node != victim.Node) && now.Any(r => r.Node == spare), StepTimeout, $"{victim.Name} replaced on {spare}");
        string added = Replicas((await cluster.ListAsync("pv"))[0]).Single(r => r.Node == spare).Name;
        // The live records are the volume's replicas (the new one made, the replaced one marked deleting), all Healthy:
        // right after the replacement the old record is still live, with the phase its node last reported.
        await cluster.WaitForAsync("cvr", items => Live(items) is var live && live.Count == replicas
            && live.Any(r => Field(r, "metadata.name") == added) && live.All(r => Field(r, "metadata.name") != victim.Name)
            && live.All(r => Field(r, "status.phase") == "Healthy"),
            StepTimeout, $"{replicas} replicas, all Healthy ({added} rebuilt)");
        long acknowledgedAfter = verifier.Acknowledged;
        await Wait.UntilAsync(() => verifier.Acknowledged > acknowledgedAfter + 200, StepTimeout, "writes to go on after the rebuild");
        await stop.CancelAsync();
        var during = await run;
        Log($"during the replacement: {during}");
        Assert.True(during.Failed == 0 && during.FlushesFailed == 0, "an I/O error reached the initiator:\n" + string.Join("\n", verifier.ErrorLog));

        var cvrs = await cluster.ListAsync("cvr");
        Assert.Equal(Replicas((await cluster.ListAsync("pv"))[0]).Select(r => r.Name).Order(), Live(cvrs).Select(r => Field(r, "metadata.name")!).Order());
        var old = Assert.Single(cvrs, r => Field(r, "metadata.name") == victim.Name);
        Assert.NotNull(Field(old, "metadata.deletionTimestamp"));
        Assert.EndsWith($"; deleted when node {victim.Node} returns", Condition(old, "Deleting", out string? deleting), StringComparison.Ordinal);
        Assert.Equal("True", deleting);
        var rebuilt = await cluster.GetAsync("cvr", added);
        Log($"{added}: last rebuild {Field(rebuilt, "status.sync.lastRebuild")}");
        Assert.Equal("True", Field(rebuilt, "status.sync.lastRebuild.full"), ignoreCase: true);
        await cluster.WaitForAsync("pv", items => InSync(items[0]).Count == replicas && Field(items[0], "status.state") == "Healthy", StepTimeout,
            $"the volume Healthy with {replicas} replicas in sync");
        var described = await cluster.CliCheckedAsync("describe", "pv", Field(volume, "metadata.name")!);
        Assert.Contains("ReplicaReplaced", described.Stdout, StringComparison.Ordinal);

        await rig.VerifyCleanAsync(verifier, client, $"after {victim.Name} was replaced by {added}");

        // The node comes back: it is told its replica is being deleted, deletes the old copy and finalizes the record.
        cluster.StartNode(Index(victim.Node));
        await Wait.UntilAsync(() => cluster.NodeOutput(Index(victim.Node)).Contains($"replica {victim.Name}: volume deleted from pool {victim.Pool}", StringComparison.Ordinal),
            StepTimeout, $"{victim.Node} to delete the replaced replica's volume from {victim.Pool}");
        await cluster.WaitForAsync("cvr", items => items.All(r => Field(r, "metadata.name") != victim.Name), StepTimeout, $"{victim.Name}'s record to go");
        await cluster.WaitForNodesReadyAsync();
        Assert.Equal(replicas, (await cluster.ListAsync("cvr")).Count);
        Assert.Equal(replicas, Replicas((await cluster.ListAsync("pv"))[0]).Count);
    }

    /// <summary>The replica records not being deleted.</summary>
    private static List<JsonNode> Live(IEnumerable<JsonNode> cvrs) => cvrs.Where(r => Field(r, "metadata.deletionTimestamp") is null).ToList();
}
