using System.Diagnostics;
using System.Text.Json.Nodes;
using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;
using static Strata.EndToEnd.Tests.Harness.StrataCluster;

namespace Strata.EndToEnd.Tests;

/// <summary>
/// The seed's walkthrough (OpenEBS cStor: StoragePoolClaim → pools on three nodes, StorageClass with ReplicaCount 2,
/// a claim bound to an iSCSI volume) done with Strata: all in one (`strata up`), and as a cluster of processes on a
/// real etcd with nodes and the control plane killed and restarted.
/// </summary>
public sealed class ClusterWalkthroughTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("walkthrough");

    public void Dispose() => _scratch.Dispose();

    private static string Example(string name) => Path.Combine(Repo.Root, "deploy", "examples", name);

    [Fact]
    public async Task The_seed_walkthrough_runs_on_strata_up_and_deleting_the_claim_gives_the_space_back()
    {
        await using var cluster = await StrataCluster.UpAsync(3, _log, sparseSize: "10Gi");
        var pools = await ApplyPoolClaimAsync(cluster);
        var baseline = pools.ToDictionary(p => Field(p, "metadata.name")!, p => Long(p, "status.allocatedBytes"));

        var table = await cluster.CliCheckedAsync("get", "cstorpools");
        var lines = table.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["NAME", "ALLOCATED", "FREE", "CAPACITY", "STATUS", "TYPE", "AGE"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(3, lines.Skip(1).Count(l => l.Contains("Healthy", StringComparison.Ordinal) && l.Contains("striped", StringComparison.Ordinal)));

        // `strata get pvc -w` started before the claim prints it as it changes, until it is Bound.
        await using var watch = Tool.Start("strata get pvc -w", Repo.StrataExe, ["get", "pvc", "-w", "--server", cluster.Server], log: _log);
        await Wait.UntilAsync(() => watch.Output.Contains("No resources", StringComparison.Ordinal) || watch.StdoutLines.Count > 0, s_timeout, "the watch to list");
        var (volume, portal, iqn) = await ClaimVolumeAsync(cluster, "mongo-pvc");
        await Wait.UntilAsync(() => watch.StdoutLines.Any(l => l.StartsWith("mongo-pvc", StringComparison.Ordinal) && l.Contains("Bound", StringComparison.Ordinal)),
            s_timeout, "strata get pvc -w to print mongo-pvc Bound", watch.Describe);
        string data = await WriteAndCompareAsync(portal, iqn);

        // `strata volume stats` counts the 64 MiB written through the target (and the compare's reads), from its node's reports.
        string pv = Field(volume, "metadata.name")!;
        await Wait.UntilAsync(async () => await cluster.CliAsync("volume", "stats", pv, "-o", "json") is { Succeeded: true } json
            && Long(JsonNode.Parse(json.Stdout)!, "totals.writes.bytes") >= 64 << 20 && Long(JsonNode.Parse(json.Stdout)!, "totals.reads.count") > 0,
            s_timeout, "strata volume stats to count the 64 MiB written and the compare's reads");
        var stats = await cluster.CliCheckedAsync("volume", "stats", pv);
        Assert.Matches(@"write\s+\S+\s+\S+\s+\S+\s+[1-9]\d*\s+\d", stats.Stdout);
        Assert.Matches($@"Target Node\s+:\s+{Field(volume, "spec.targetNode")}\n", stats.Stdout);

        // The served replica holds the 64 MiB; its pool's ALLOCATED grew by them.
        await cluster.WaitForAsync("cvr", items => items.Any(r => Long(r, "status.usedBytes") >= 64 << 20), s_timeout, "the served replica to report 64 MiB used");
        string servedPool = (string)volume["spec"]!["replicas"]![0]!["pool"]!;
        await cluster.WaitForAsync("csp", items => items.Any(p => Field(p, "metadata.name") == servedPool && Long(p, "status.allocatedBytes") >= baseline[servedPool] + (64 << 20)),
            s_timeout, "the served pool's ALLOCATED to grow by 64 MiB");

        await cluster.CliCheckedAsync("delete", "pvc", "mongo-pvc");
        await cluster.WaitForAsync("pv", items => items.Count == 0, s_timeout, "the volume to be deleted (reclaim policy Delete)");
        await cluster.WaitForAsync("cvr", items => items.Count == 0, s_timeout, "the replicas to be deleted");
        await cluster.WaitForAsync("csp", items => items.All(p => Long(p, "status.allocatedBytes") == baseline[Field(p, "metadata.name")!]),
            s_timeout, "every pool's ALLOCATED to return to what it was before the claim");
        _log($"64 MiB written and read back ({data}); every pool's ALLOCATED returned to its baseline");
    }

    [Fact]
    public async Task A_cluster_on_etcd_survives_kill_9_of_a_node_and_of_the_control_plane()
    {
        await using var cluster = await StrataCluster.EtcdAsync(3, _log);
        await ApplyPoolClaimAsync(cluster);
        var (volume, portal, iqn) = await ClaimVolumeAsync(cluster, "mongo-pvc");
        string data = await WriteAndCompareAsync(portal, iqn);

        // kill -9 the node serving the volume: NotReady within 10 s, and what it hosts shows Offline naming it.
        string targetNode = Field(volume, "spec.targetNode")!;
        int index = int.Parse(targetNode["node-".Length..], System.Globalization.CultureInfo.InvariantCulture) - 1;
        var clock = Stopwatch.StartNew();
        await cluster.KillNodeAsync(index);
        await cluster.WaitForAsync("nodes", items => items.Any(n => Field(n, "metadata.name") == targetNode && Field(n, "status.phase") == "NotReady"),
            TimeSpan.FromSeconds(10), $"{targetNode} to be NotReady within 10 s of kill -9");
        _log($"{targetNode} NotReady {clock.Elapsed.TotalSeconds:F1} s after kill -9");
        await cluster.WaitForAsync("csp", items => items.Where(p => Field(p, "spec.node") == targetNode).All(p =>
            Field(p, "status.phase") == "Offline" && (Condition(p, "NodeReady", out _) ?? "").Contains(targetNode, StringComparison.Ordinal)), s_timeout, $"{targetNode}'s pool to be Offline naming the node");
        await cluster.WaitForAsync("cvr", items => items.Where(r => Field(r, "spec.node") == targetNode).All(r =>
            Field(r, "status.phase") == "Offline" && (Condition(r, "NodeReady", out _) ?? "").Contains(targetNode, StringComparison.Ordinal)), s_timeout, $"{targetNode}'s replica to be Offline naming the node");
        // The target moves to the node holding the other (in-sync) replica, with a new epoch: the volume serves
        // there, Degraded, with every byte written before the kill.
        await cluster.WaitForAsync("pv", items => items.All(v => Field(v, "spec.targetNode") != targetNode && Field(v, "status.state") == "Degraded"
            && Field(v, "spec.iscsi.targetPortal") != portal), s_timeout, "the target to move to another node, the volume Degraded");
        _log($"target moved {clock.Elapsed.TotalSeconds:F1} s after kill -9");
        var moved = await cluster.GetAsync("pv", Field(volume, "metadata.name")!);
        string newPortal = Field(moved, "spec.iscsi.targetPortal")!;
        Assert.True(Long(moved, "status.epoch") >= 2, "the new target took a new epoch");
        await CompareAsync(newPortal, iqn);
        var describe = await cluster.CliCheckedAsync("describe", "pv", Field(volume, "metadata.name")!);
        Assert.Contains($"target node {targetNode} is NotReady: the target moves to node", describe.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"In Sync:\s+1 of 2", describe.Stdout);

        // Restarted, its replica is rebuilt and rejoins: everything is Healthy again, with its data.
        cluster.StartNode(index);
        await cluster.WaitForNodesReadyAsync();
        await cluster.WaitForAsync("csp", items => items.All(p => Field(p, "status.phase") == "Healthy"), s_timeout, "every pool Healthy again");
        await cluster.WaitForAsync("cvr", items => items.All(r => Field(r, "status.phase") == "Healthy"), s_timeout, "both replicas Healthy (in sync) again");
        await cluster.WaitForAsync("pv", items => items.All(v => Field(v, "status.state") == "Healthy"), s_timeout, "the volume Healthy again");
        portal = newPortal;
        await CompareAsync(portal, iqn);

        // kill -9 the control plane: restarted on the same etcd, it has every resource and goes on reconciling.
        var before = await SnapshotAsync(cluster);
        await cluster.KillControlAsync();
        await cluster.StartControlAsync();
        await cluster.WaitForNodesReadyAsync();
        Assert.Equal(before, await SnapshotAsync(cluster));
        var (second, _, _) = await ClaimVolumeAsync(cluster, "second-pvc");
        Assert.NotEqual(Field(volume, "metadata.name"), Field(second, "metadata.name"));
        await CompareAsync(portal, iqn);
        _log($"data intact after node and control-plane kills ({data})");

        // A node stopped cleanly (SIGTERM) gives its lease back: NotReady at once, well before the 6 s TTL, saying it was stopped.
        int other = Enumerable.Range(0, 3).First(i => i != index);
        clock.Restart();
        await cluster.StopNodeAsync(other);
        await cluster.WaitForAsync("nodes", items => items.Any(n => Field(n, "metadata.name") == NodeName(other) && Field(n, "status.phase") == "NotReady"),
            TimeSpan.FromSeconds(4), $"{NodeName(other)} to be NotReady within 4 s of SIGTERM");
        var stopped = await cluster.GetAsync("nodes", NodeName(other));
        Assert.Contains("stopped", Condition(stopped, "Ready", out string? ready), StringComparison.Ordinal);
        Assert.Equal("False", ready);
        _log($"{NodeName(other)} NotReady {clock.Elapsed.TotalSeconds:F1} s after SIGTERM");
    }

    /// <summary>The seed's StoragePoolClaim and StorageClass, as written there: three Healthy pools on distinct nodes, exact accounting.</summary>
    private async Task<IReadOnlyList<JsonNode>> ApplyPoolClaimAsync(StrataCluster cluster)
    {
        var applied = await cluster.CliCheckedAsync("apply", "-f", Example("cstor-pool-config.yaml"));
        Assert.Contains("storagepoolclaim.openebs.io/cstor-pool created", applied.Stdout, StringComparison.Ordinal);
        await cluster.WaitForAsync("csp", items => items.Count == 3 && items.All(p => Field(p, "status.phase") == "Healthy"), s_timeout, "three Healthy pools");
        applied = await cluster.CliCheckedAsync("apply", "-f", Example("storageclass.yaml"));
        Assert.Contains("storageclass.storage.k8s.io/openebs-sparse-sc created", applied.Stdout, StringComparison.Ordinal);

        var pools = await cluster.ListAsync("csp");
        Assert.Equal(3, pools.Select(p => Field(p, "spec.node")).Distinct().Count());
        foreach (var p in pools)
        {
            Assert.Equal(Long(p, "status.capacityBytes"), Long(p, "status.allocatedBytes") + Long(p, "status.freeBytes"));
            Assert.True(Long(p, "status.capacityBytes") > 0);
        }

        // Applying the same files again changes nothing.
        var again = await cluster.CliCheckedAsync("apply", "-f", Example("cstor-pool-config.yaml"), "-f", Example("storageclass.yaml"));
        Assert.Equal(2, again.Stdout.Split('\n').Count(l => l.EndsWith(" unchanged", StringComparison.Ordinal)));
        return pools;
    }

    /// <summary>A PersistentVolumeClaim of the walkthrough's storage class: Bound, and `describe pv` shows the iSCSI source.</summary>
    private async Task<(JsonNode Volume, string Portal, string Iqn)> ClaimVolumeAsync(StrataCluster cluster, string name)
    {
        string manifest = File.ReadAllText(Example("pvc.yaml")).Replace("name: mongo-pvc", $"name: {name}", StringComparison.Ordinal);
        string file = _scratch.File($"{name}.yaml");
        File.WriteAllText(file, manifest);
        await cluster.CliCheckedAsync("apply", "-f", file);
        await cluster.WaitForAsync("pvc", items => items.Any(c => Field(c, "metadata.name") == name && Field(c, "status.phase") == "Bound"), s_timeout, $"{name} to be Bound");
        var claim = await cluster.GetAsync("pvc", name);
        var volume = await cluster.GetAsync("pv", Field(claim, "spec.volumeName")!);
        Assert.Equal(2, volume["spec"]!["replicas"]!.AsArray().Select(r => (string?)r!["node"]).Distinct().Count());

        var describe = await cluster.CliCheckedAsync("describe", "pv", Field(volume, "metadata.name")!);
        string portal = Field(volume, "spec.iscsi.targetPortal")!;
        string iqn = Field(volume, "spec.iscsi.iqn")!;
        Assert.Matches($@"TargetPortal:\s+{System.Text.RegularExpressions.Regex.Escape(portal)}", describe.Stdout);
        Assert.Matches($@"IQN:\s+{System.Text.RegularExpressions.Regex.Escape(iqn)}", describe.Stdout);
        Assert.Matches(@"Lun:\s+0", describe.Stdout);
        Assert.Matches(@"FSType:\s+ext4", describe.Stdout);
        Assert.Matches(@"Status:\s+Bound", describe.Stdout);
        Assert.StartsWith("iqn.2026-11.io.strata:pvc-", iqn, StringComparison.Ordinal);
        return (volume, portal, iqn);
    }

    /// <summary>qemu-img writes 64 MiB of random data through the portal (flushed at the end: its default cache mode
    /// for the destination, "unsafe", would never send SYNCHRONIZE CACHE) and compares them back.</summary>
    private async Task<string> WriteAndCompareAsync(string portal, string iqn)
    {
        var data = new byte[64 << 20];
        new Random(20261126).NextBytes(data);
        await File.WriteAllBytesAsync(_scratch.File("data.bin"), data);
        await Tool.RunCheckedAsync("qemu-img", ["convert", "-n", "-t", "writeback", "-f", "raw", "-O", "raw", _scratch.File("data.bin"), $"iscsi://{portal}/{iqn}/0"], TimeSpan.FromMinutes(5), log: _log);
        await CompareAsync(portal, iqn);
        return Text.Sha256(data);
    }

    /// <summary>qemu-img compare: the 64 MiB match and the rest of the LUN reads as zeros.</summary>
    private async Task CompareAsync(string portal, string iqn)
    {
        var compare = await Tool.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", _scratch.File("data.bin"), $"iscsi://{portal}/{iqn}/0"], TimeSpan.FromMinutes(5), log: _log);
        Assert.True(compare.ExitCode == 0 && compare.Stdout.Contains("Images are identical.", StringComparison.Ordinal), compare.Describe());
    }

    /// <summary>Every resource's kind, name and uid: what a restart of the control plane must keep.</summary>
    private static async Task<string> SnapshotAsync(StrataCluster cluster)
    {
        var lines = new List<string>();
        foreach (string kind in new[] { "spc", "csp", "sc", "pvc", "pv", "cvr", "nodes" })
            foreach (var item in await cluster.ListAsync(kind))
                lines.Add($"{kind} {Field(item, "metadata.name")} {Field(item, "metadata.uid")}");
        return string.Join("\n", lines.Order(StringComparer.Ordinal));
    }
}
