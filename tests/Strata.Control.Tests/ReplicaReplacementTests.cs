using Strata.Control.Apply;
using Strata.Control.Nodes;
using Strata.Control.Reconcile;
using Strata.Control.Resources;
using Strata.Control.Store;
using Xunit;
using static Strata.Control.Tests.MemoryCluster;

namespace Strata.Control.Tests;

/// <summary>
/// Replacing a replica whose node stays away (docs/replication.md): when, where, what is written, what never is,
/// and that every step can be run again after a control plane restart.
/// </summary>
public sealed class ReplicaReplacementTests : IAsyncLifetime
{
    private static readonly TimeSpan s_after = TimeSpan.FromMinutes(5);
    private MemoryCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await OpenAsync();

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static VolumeReconciler Reconciler() => new(s_after);

    /// <summary>
    /// Nodes node-1…node-N+1, one pool each, and a Bound volume of N replicas on the first N; node-2 NotReady since
    /// <paramref name="away"/> ago. node-N+1 is the spare.
    /// </summary>
    private async Task<Volume> SetUpAsync(int replicas, TimeSpan away, string[]? inSync = null)
    {
        var pools = new List<StoragePool>();
        for (int i = 1; i <= replicas + 1; i++)
        {
            await _cluster.AddNodeAsync($"node-{i}", ready: i != 2);
            pools.Add(await _cluster.AddPoolAsync($"pool-{i}", $"node-{i}", 10 * Gi));
        }

        var node2 = (await _cluster.GetAsync<Node>(ResourceKind.Node, "node-2"))!;
        node2.Status.Conditions = [new Condition { Type = "Ready", Status = "False", Reason = "NodeLeaseExpired", LastTransitionTime = DateTimeOffset.UtcNow - away }];
        Assert.True(await _cluster.Resources.UpdateAsync(node2));

        var claim = await _cluster.AddClaimAsync("data", "replicated");
        var volume = await _cluster.AddVolumeAsync("pvc-1", 1 * Gi, [.. pools.Take(replicas)]);
        volume.Spec.ClaimRef = new ClaimReference { Namespace = "default", Name = "data", Uid = claim.Metadata.Uid };
        volume.Spec.MinInSync = VolumeSpec.DefaultMinInSync(replicas);
        volume.Status.InSync = inSync is null ? volume.Spec.Replicas.Select(r => r.Name).ToList() : [.. inSync];
        volume.Status.Conditions = [new Condition { Type = "TargetReady", Status = "True", Reason = "Serving", LastTransitionTime = DateTimeOffset.UtcNow }];
        Assert.True(await _cluster.Resources.UpdateAsync(volume));
        return volume;
    }

    private async Task<Volume> VolumeAsync() => (await _cluster.GetAsync<Volume>(ResourceKind.Volume, "pvc-1"))!;

    private async Task<VolumeReplica> ReplicaAsync(string name) => (await _cluster.GetAsync<VolumeReplica>(ResourceKind.VolumeReplica, name))!;

    /// <summary>What a node's agent does once it deleted a replica's data: the finalize call the API makes.</summary>
    private Task<bool> FinalizeAsync(string node, string replica) =>
        new NodeRegistry(_cluster.Store, new ChangeNotifier(_cluster.Store, _ => { }), _ => { })
            .FinalizeAsync(node, new NodeFinalization(ResourceKind.VolumeReplica.Kind, replica), CancellationToken.None);

    private async Task<List<string>> ReplicaRecordsAsync() =>
        (await _cluster.ListAsync<VolumeReplica>(ResourceKind.VolumeReplica)).Select(r => r.Metadata.Name).Order(StringComparer.Ordinal).ToList();

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_replica_whose_node_is_NotReady_past_the_timeout_is_replaced_on_the_spare_node(int replicas)
    {
        await SetUpAsync(replicas, away: s_after + TimeSpan.FromSeconds(1), inSync: ["pvc-1-pool-1", .. Enumerable.Range(3, replicas - 2).Select(i => $"pvc-1-pool-{i}")]);
        await _cluster.PassAsync(Reconciler());

        var volume = await VolumeAsync();
        string spare = $"node-{replicas + 1}";
        Assert.Equal(replicas, volume.Spec.Replicas.Count);
        Assert.DoesNotContain(volume.Spec.Replicas, r => r.Node == "node-2");
        var added = volume.Spec.Replicas.Single(r => r.Node == spare);
        Assert.Equal(($"pvc-1-pool-{replicas + 1}", $"pool-{replicas + 1}"), (added.Name, added.Pool));
        Assert.Equal("pvc-1-pool-2", Assert.Single(new[] { "pvc-1-pool-2" }.Except(volume.Spec.Replicas.Select(r => r.Name))));
        Assert.DoesNotContain(added.Name, volume.Status.InSync!);
        Assert.Equal(replicas - 1, volume.Status.InSync!.Count);

        // The new replica's record is made and the old one's marked deleting (kept for its node) in the same pass.
        var records = await ReplicaRecordsAsync();
        Assert.Contains(added.Name, records);
        Assert.NotNull((await ReplicaAsync("pvc-1-pool-2")).Metadata.DeletionTimestamp);
        Assert.Equal("Pending", (await ReplicaAsync(added.Name)).Status.Phase);
        Assert.Null((await ReplicaAsync(added.Name)).Metadata.DeletionTimestamp);

        var replaced = (await _cluster.Context.Events.ListAsync(volume)).Single(e => e.Reason == "ReplicaReplaced");
        Assert.Equal("Warning", replaced.Type);
        Assert.Contains($"replica pvc-1-pool-2 on node node-2", replaced.Message, StringComparison.Ordinal);
        Assert.Contains($"by {added.Name} on node {spare}", replaced.Message, StringComparison.Ordinal);

        // Later passes change nothing more.
        var spec = string.Join(",", volume.Spec.Replicas.Select(r => r.Name));
        await _cluster.PassAsync(Reconciler());
        await _cluster.PassAsync(Reconciler());
        Assert.Equal(spec, string.Join(",", (await VolumeAsync()).Spec.Replicas.Select(r => r.Name)));
        Assert.Single((await _cluster.Context.Events.ListAsync(volume)), e => e.Reason == "ReplicaReplaced");
    }

    [Fact]
    public async Task Not_before_the_timeout_and_never_with_replacement_off()
    {
        await SetUpAsync(2, away: s_after - TimeSpan.FromSeconds(30));
        await _cluster.PassAsync(Reconciler());
        Assert.Contains((await VolumeAsync()).Spec.Replicas, r => r.Node == "node-2");

        await _cluster.PassAsync(new VolumeReconciler(TimeSpan.Zero));
        Assert.Contains((await VolumeAsync()).Spec.Replicas, r => r.Node == "node-2");
    }

    [Fact]
    public async Task The_only_in_sync_replica_is_never_replaced()
    {
        await SetUpAsync(2, away: TimeSpan.FromHours(1), inSync: ["pvc-1-pool-2"]);
        await _cluster.PassAsync(Reconciler());
        var volume = await VolumeAsync();
        Assert.Contains(volume.Spec.Replicas, r => r.Node == "node-2");
        Assert.Equal(["pvc-1-pool-2"], volume.Status.InSync);
        Assert.Contains("pvc-1-pool-2", await ReplicaRecordsAsync());
    }

    [Fact]
    public async Task An_in_sync_replica_is_kept_while_the_others_in_sync_are_fewer_than_the_volume_needs()
    {
        // Three replicas, two needed in sync; node-2's replica is one of the two in sync: its copy is one of too few.
        await SetUpAsync(3, away: TimeSpan.FromHours(1), inSync: ["pvc-1-pool-1", "pvc-1-pool-2"]);
        await _cluster.PassAsync(Reconciler());
        Assert.Contains((await VolumeAsync()).Spec.Replicas, r => r.Node == "node-2");

        // Once the third is in sync again, the one away may go.
        var volume = await VolumeAsync();
        volume.Status.InSync = ["pvc-1-pool-1", "pvc-1-pool-2", "pvc-1-pool-3"];
        Assert.True(await _cluster.Resources.UpdateAsync(volume));
        await _cluster.PassAsync(Reconciler());
        volume = await VolumeAsync();
        Assert.DoesNotContain(volume.Spec.Replicas, r => r.Node == "node-2");
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-3"], volume.Status.InSync!.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Without_a_Ready_node_free_of_the_volume_nothing_changes()
    {
        await SetUpAsync(2, away: TimeSpan.FromHours(1));
        var spare = (await _cluster.GetAsync<StoragePool>(ResourceKind.StoragePool, "pool-3"))!;
        spare.Status.Phase = "Offline";
        Assert.True(await _cluster.Resources.UpdateAsync(spare));
        await _cluster.PassAsync(Reconciler());
        Assert.Contains((await VolumeAsync()).Spec.Replicas, r => r.Node == "node-2");
        Assert.Equal(2, (await ReplicaRecordsAsync()).Count);
    }

    [Fact]
    public async Task A_control_plane_that_died_after_writing_the_volume_finishes_the_replacement_on_its_next_pass()
    {
        await SetUpAsync(2, away: TimeSpan.FromHours(1));

        // The first pass wrote only the volume (what ReplicaReplacement alone does), then the process died.
        var view = await _cluster.ViewAsync();
        Assert.NotNull(await new ReplicaReplacement(s_after).ReplaceAsync(view, view.Volumes.Single(), _cluster.Context, CancellationToken.None));
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-2"], await ReplicaRecordsAsync());

        await _cluster.PassAsync(Reconciler());
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-2", "pvc-1-pool-3"], await ReplicaRecordsAsync());
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-3"], (await VolumeAsync()).Spec.Replicas.Select(r => r.Name));
        var old = await ReplicaAsync("pvc-1-pool-2");
        Assert.NotNull(old.Metadata.DeletionTimestamp);
        Assert.Equal("no longer one of volume pvc-1's replicas (replaced); deleted when node node-2 returns", Conditions.Find(old.Status.Conditions, "Deleting")?.Message);
    }

    [Fact]
    public async Task The_replaced_replicas_record_stays_deleting_until_its_node_finalizes_it()
    {
        await SetUpAsync(2, away: TimeSpan.FromHours(1));
        await _cluster.PassAsync(Reconciler());

        // The old record stays, marked deleting and saying why: only its node, once back, deletes its data and the record.
        var old = await ReplicaAsync("pvc-1-pool-2");
        Assert.NotNull(old.Metadata.DeletionTimestamp);
        var deleting = Conditions.Find(old.Status.Conditions, "Deleting");
        Assert.Equal(("True", "Replaced", "replaced by pvc-1-pool-3 on node node-3; deleted when node node-2 returns"), (deleting?.Status, deleting?.Reason, deleting?.Message));
        Assert.Single(await _cluster.Context.Events.ListAsync(old), e => e.Reason == "Deleting");
        Assert.Null((await ReplicaAsync("pvc-1-pool-3")).Metadata.DeletionTimestamp);

        // Its pool's space stays promised until its data is gone; the new pool's is promised too, each once.
        var view = await _cluster.ViewAsync();
        Assert.Equal([1 * Gi, 1 * Gi, 1 * Gi], new[] { "pool-1", "pool-2", "pool-3" }.Select(p => Placement.Promised(view, p)));

        // The volume's state is that of the replicas it names: the one being deleted is not one of them. Later
        // passes leave the record as it is.
        await _cluster.PassAsync(Reconciler());
        var volume = await VolumeAsync();
        Assert.Equal(("Degraded", "1 of 2 replicas in sync: pvc-1-pool-3 is Pending (node node-3)"), (volume.Status.State, volume.Status.Message));
        Assert.Equal(old.Metadata.DeletionTimestamp, (await ReplicaAsync("pvc-1-pool-2")).Metadata.DeletionTimestamp);

        // Only its own node finalizes it; then it is gone for good, and its pool's promise with it.
        Assert.False(await FinalizeAsync("node-1", "pvc-1-pool-2"));
        Assert.True(await FinalizeAsync("node-2", "pvc-1-pool-2"));
        await _cluster.PassAsync(Reconciler());
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-3"], await ReplicaRecordsAsync());
        Assert.Equal(0, Placement.Promised(await _cluster.ViewAsync(), "pool-2"));
    }

    [Fact]
    public async Task A_node_gone_for_good_is_deleted_with_its_pools_and_replaced_replicas_once_no_volume_names_it()
    {
        await SetUpAsync(2, away: TimeSpan.FromHours(1));
        var apply = new ApplyService(_cluster.Store, () => { });
        Task<string> DeleteNodeAsync(string node) => apply.DeleteAsync(ResourceKind.Node, null, node, CancellationToken.None);

        // A Ready node's agent is running; node-2 still holds a replica the volume names (and node-1 its target).
        var ready = await Assert.ThrowsAsync<ControlException>(() => DeleteNodeAsync("node-3"));
        Assert.Equal((409, "node node-3 cannot be deleted: its agent is running (stop it first)"), (ready.Status, ready.Message));
        var named = await Assert.ThrowsAsync<ControlException>(() => DeleteNodeAsync("node-2"));
        Assert.StartsWith("node node-2 cannot be deleted: it still holds replica pvc-1-pool-2 of volume pvc-1. A replica whose node stays NotReady is replaced", named.Message, StringComparison.Ordinal);
        Assert.NotNull(await _cluster.GetAsync<Node>(ResourceKind.Node, "node-2"));

        // Replaced: its record is only marked deleting, waiting for node-2, which will never come back. Deleting the
        // node forgets it, its pool and that record; the volume's replicas and the other pools are untouched.
        await _cluster.PassAsync(Reconciler());
        Assert.Equal("node/node-2 deleted with its pools (pool-2) and replica records (pvc-1-pool-2); their data stays on its disks", await DeleteNodeAsync("node-2"));
        Assert.Null(await _cluster.GetAsync<Node>(ResourceKind.Node, "node-2"));
        Assert.Null(await _cluster.GetAsync<StoragePool>(ResourceKind.StoragePool, "pool-2"));
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-3"], await ReplicaRecordsAsync());
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-3"], (await VolumeAsync()).Spec.Replicas.Select(r => r.Name));
        Assert.Equal(["pool-1", "pool-3"], (await _cluster.ListAsync<StoragePool>(ResourceKind.StoragePool)).Select(p => p.Metadata.Name).Order(StringComparer.Ordinal));
        await _cluster.PassAsync(Reconciler());
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-3"], await ReplicaRecordsAsync());
    }

    [Fact]
    public async Task A_replacement_its_node_made_is_not_Healthy_before_the_target_has_rebuilt_it()
    {
        await SetUpAsync(2, away: TimeSpan.FromHours(1));
        await _cluster.PassAsync(Reconciler());
        var registry = new NodeRegistry(_cluster.Store, new ChangeNotifier(_cluster.Store, _ => { }), _ => { });
        Task<bool> ReportAsync(string node, string replica, params ReplicaSyncReport[] sync) => registry.ReportAsync(node, new NodeReport(
            [], [new ReplicaReport(replica, "Healthy", 0, 0, null)],
            sync.Length == 0 ? [] : [new TargetReport("pvc-1", true, "127.0.0.1:3260", null, 1, [.. sync])], null), CancellationToken.None);
        async Task<(string?, string?, string?)> PhaseAsync(string name)
        {
            var r = await ReplicaAsync(name);
            return (r.Status.Phase, Conditions.Find(r.Status.Conditions, "Healthy")?.Status, Conditions.Find(r.Status.Conditions, "Healthy")?.Message);
        }

        // Its node made it (empty) and says so before the target has said anything of it: out of the in-sync set.
        await _cluster.MakeReadyAsync("node-3");
        Assert.True(await ReportAsync("node-3", "pvc-1-pool-3"));
        Assert.Equal(("Degraded", "False", "out of the in-sync set: waiting for the volume's target to rebuild it"), await PhaseAsync("pvc-1-pool-3"));

        // An in-sync replica its node reports is Healthy, the target silent or not.
        Assert.True(await ReportAsync("node-1", "pvc-1-pool-1"));
        Assert.Equal(("Healthy", "True", "the replica is Healthy"), await PhaseAsync("pvc-1-pool-1"));

        // The target rebuilds it, then takes it in: Rebuilding, then Healthy; its node's next report keeps that.
        Assert.True(await ReportAsync("node-1", "pvc-1-pool-1", new ReplicaSyncReport("pvc-1-pool-3", new ReplicaSync { Role = "Rebuilding", Epoch = 1 })));
        Assert.Equal(("Rebuilding", "False", "rebuilding"), await PhaseAsync("pvc-1-pool-3"));
        Assert.True(await ReportAsync("node-1", "pvc-1-pool-1", new ReplicaSyncReport("pvc-1-pool-3", new ReplicaSync { Role = "InSync", Epoch = 1 })));
        Assert.Equal(("Healthy", "True", "in the volume's in-sync set"), await PhaseAsync("pvc-1-pool-3"));
        Assert.True(await ReportAsync("node-3", "pvc-1-pool-3"));
        Assert.Equal("Healthy", (await PhaseAsync("pvc-1-pool-3")).Item1);
    }

    [Fact]
    public async Task A_replica_named_again_while_its_old_record_is_being_deleted_gets_a_new_record_once_the_old_one_is_gone()
    {
        await SetUpAsync(2, away: TimeSpan.Zero);
        var old = await ReplicaAsync("pvc-1-pool-2");
        old.Metadata.DeletionTimestamp = DateTimeOffset.UtcNow;
        Assert.True(await _cluster.Resources.UpdateAsync(old));

        // The volume still names it: the record being deleted is neither taken back nor taken for a new one, and
        // the volume counts the replica as missing.
        await _cluster.PassAsync(new VolumeReconciler(TimeSpan.Zero));
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-2"], await ReplicaRecordsAsync());
        Assert.NotNull((await ReplicaAsync("pvc-1-pool-2")).Metadata.DeletionTimestamp);
        Assert.Equal("Degraded", (await VolumeAsync()).Status.State);

        Assert.True(await FinalizeAsync("node-2", "pvc-1-pool-2"));
        await _cluster.PassAsync(new VolumeReconciler(TimeSpan.Zero));
        var made = await ReplicaAsync("pvc-1-pool-2");
        Assert.Null(made.Metadata.DeletionTimestamp);
        Assert.Equal("Pending", made.Status.Phase);
    }

    [Fact]
    public async Task A_node_still_holding_a_replaced_replica_of_the_volume_gets_no_new_one()
    {
        // node-3's replica is away past the timeout; the only other Ready node, node-2, has a second pool, but still
        // holds a replica of the volume replaced earlier (its record being deleted): it is not a place for a new one.
        await _cluster.AddNodeAsync("node-1");
        await _cluster.AddNodeAsync("node-2");
        await _cluster.AddNodeAsync("node-3", ready: false);
        var node3 = (await _cluster.GetAsync<Node>(ResourceKind.Node, "node-3"))!;
        node3.Status.Conditions = [new Condition { Type = "Ready", Status = "False", Reason = "NodeLeaseExpired", LastTransitionTime = DateTimeOffset.UtcNow - TimeSpan.FromHours(1) }];
        Assert.True(await _cluster.Resources.UpdateAsync(node3));
        var pool1 = await _cluster.AddPoolAsync("pool-1", "node-1", 10 * Gi);
        var pool2 = await _cluster.AddPoolAsync("pool-2", "node-2", 10 * Gi);
        await _cluster.AddPoolAsync("pool-2b", "node-2", 10 * Gi);
        var pool3 = await _cluster.AddPoolAsync("pool-3", "node-3", 10 * Gi);
        var claim = await _cluster.AddClaimAsync("data", "replicated");
        var volume = await _cluster.AddVolumeAsync("pvc-1", 1 * Gi, pool1, pool2);
        var replaced = await ReplicaAsync("pvc-1-pool-2");
        replaced.Metadata.DeletionTimestamp = DateTimeOffset.UtcNow;
        Assert.True(await _cluster.Resources.UpdateAsync(replaced));
        volume = await VolumeAsync();
        volume.Spec.ClaimRef = new ClaimReference { Namespace = "default", Name = "data", Uid = claim.Metadata.Uid };
        volume.Spec.Replicas[1] = new ReplicaPlacement { Name = "pvc-1-pool-3", Pool = "pool-3", Node = "node-3" };
        volume.Status.InSync = ["pvc-1-pool-1"];
        Assert.True(await _cluster.Resources.UpdateAsync(volume));
        Assert.True(await _cluster.Resources.CreateAsync(new VolumeReplica
        {
            Metadata = { Name = "pvc-1-pool-3" },
            Spec = { Volume = "pvc-1", Pool = pool3.Metadata.Name, Node = "node-3", SizeBytes = 1 * Gi },
            Status = { Phase = "Offline" },
        }));

        await _cluster.PassAsync(Reconciler());
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-3"], (await VolumeAsync()).Spec.Replicas.Select(r => r.Name));

        // Once node-2 has deleted it, node-2 is a place for the new replica.
        Assert.True(await FinalizeAsync("node-2", "pvc-1-pool-2"));
        await _cluster.PassAsync(Reconciler());
        Assert.Contains((await VolumeAsync()).Spec.Replicas, r => r.Node == "node-2");
    }

    [Fact]
    public async Task A_target_that_still_asks_for_a_replaced_replica_in_sync_is_not_fenced_and_gets_the_rest()
    {
        await SetUpAsync(2, away: TimeSpan.FromHours(1));
        var volume = await VolumeAsync();
        volume.Status.Epoch = 4;
        volume.Spec.Replicas.Add(new ReplicaPlacement { Name = "pvc-1-pool-3", Pool = "pool-3", Node = "node-3" });
        volume.Spec.Replicas.RemoveAll(r => r.Name == "pvc-1-pool-2");
        volume.Status.InSync = ["pvc-1-pool-1"];
        Assert.True(await _cluster.Resources.UpdateAsync(volume));

        var membership = new VolumeMembership(_cluster.Store, _ => { });
        var result = await membership.ChangeInSyncAsync("node-1", "pvc-1", new InSyncChange(4, ["pvc-1-pool-1"], ["pvc-1-pool-1", "pvc-1-pool-2", "pvc-1-pool-3"]), CancellationToken.None);
        Assert.Equal(["pvc-1-pool-1", "pvc-1-pool-3"], result.InSync.Order(StringComparer.Ordinal));

        // Asking for nothing but replicas the volume no longer has is refused: the set is never empty.
        await Assert.ThrowsAsync<ControlException>(() => membership.ChangeInSyncAsync("node-1", "pvc-1",
            new InSyncChange(4, ["pvc-1-pool-1", "pvc-1-pool-3"], ["pvc-1-pool-2"]), CancellationToken.None));
    }
}
